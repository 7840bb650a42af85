package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/drsctl/drsctl/internal/artifact"
)

var update = flag.Bool("update", false, "rewrite testdata/golden_v4.json")

func ptime(t time.Time) *time.Time { return &t }

// fullState has every field of every type set, LSNs beyond 2^63 and times in
// a zone other than UTC with fractional seconds.
func fullState() *State {
	s := fullStateV3()
	full := s.Database("sales", "Sales").Artifacts[0]
	full.Stripes = 3
	full.More = []Stripe{
		{Key: "sales/Sales/Sales_full_20261125T045500Z.s02of03.bak", Size: 123456789000, SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"},
		{Key: "sales/Sales/Sales_full_20261125T045500Z.s03of03.bak", Size: 123456788999, SHA256: "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"},
	}
	return s
}

// fullStateV3 has every field version 3 of the file knows set: it is
// testdata/golden_v3.json, and fullState without the stripes version 4 added.
func fullStateV3() *State {
	s := fullStateV2()
	cet := time.FixedZone("CET", 3600)
	t0 := time.Date(2026, 11, 25, 4, 55, 0, 0, time.UTC)
	td := s.TargetDatabase("dr_east", "Sales")
	td.PromotedHow = PromotePlanned
	td.PromotedLSN = "98765432109876543211000"
	td.ReprotectAt = ptime(t0.Add(72 * time.Hour).In(cet))
	td.LastDrill = &Drill{At: t0.Add(30 * time.Hour).In(cet), Duration: 93*time.Second + 250*time.Millisecond,
		Artifact: "Sales_log_20261125T050000Z.trn", Through: t0.Add(5*time.Minute + 1500*time.Millisecond),
		StopAt: t0.Add(5 * time.Minute), OK: false, Check: "DBCC CHECKDB: 2 errors", Error: "consistency errors"}
	td.DrillOKAt = ptime(t0.Add(6 * time.Hour))
	return s
}

// fullStateV2 has every field version 2 of the file knows set: it is
// testdata/golden_v2.json, and fullState without the fields version 3 added.
func fullStateV2() *State {
	s := fullStateV1()
	cet := time.FixedZone("CET", 3600)
	db := s.Database("sales", "Sales")
	db.Identity = "0b6f3c1e-4d2a-4e8f-9a1b-7c6d5e4f3a2b"
	db.Restart = "the server has no log chain for the database"
	full := db.Artifacts[0]
	full.NewFork = true
	full.Completed = full.Finish.Add(1250 * time.Millisecond).In(cet)
	full.DamagedAt = ptime(full.Finish.Add(time.Hour).In(cet))
	s.TargetDatabase("dr_east", "Sales").Seeding = "Sales_full_20261125T045500Z.bak"
	return s
}

// fullStateV1 has every field version 1 of the file knows set: it is
// testdata/golden_v1.json, and fullState without the fields version 2 added.
func fullStateV1() *State {
	cet := time.FixedZone("CET", 3600)
	t0 := time.Date(2026, 11, 25, 4, 55, 0, 0, time.UTC)
	s := New("3f0c1a52-7a4e-4a8e-9d43-2b8f0f1c6d7e")
	s.Serial = 42
	db := s.Database("sales", "Sales")
	db.RecoveryModel = "FULL"
	db.CreatedAt = time.Date(2024, 1, 2, 3, 4, 5, 123456789, cet)
	db.Add(&Artifact{
		ID: "Sales_full_20261125T045500Z.bak",
		Header: artifact.Header{
			Kind:              artifact.Full,
			Database:          "Sales",
			FirstLSN:          "98765432109876543210000",
			LastLSN:           "98765432109876543210987",
			CheckpointLSN:     "98765432109876543210500",
			DatabaseBackupLSN: "98765432109876543200000",
			Start:             t0,
			Finish:            t0.Add(90 * time.Second),
			CopyOnly:          false,
			FamilyGUID:        "8c0e5f7e-1b2a-4c3d-9e8f-0a1b2c3d4e5f",
		},
		Key:    "sales/Sales/Sales_full_20261125T045500Z.bak",
		Size:   123456789012,
		SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	})
	db.Add(&Artifact{
		ID: "Sales_log_20261125T050000Z.trn",
		Header: artifact.Header{
			Kind:              artifact.Log,
			Database:          "Sales",
			FirstLSN:          "98765432109876543210987",
			LastLSN:           "98765432109876543211000",
			CheckpointLSN:     "98765432109876543210500",
			DatabaseBackupLSN: "98765432109876543210500",
			Start:             t0.Add(5 * time.Minute),
			Finish:            t0.Add(5*time.Minute + 1500*time.Millisecond),
			CopyOnly:          true,
			FamilyGUID:        "8c0e5f7e-1b2a-4c3d-9e8f-0a1b2c3d4e5f",
		},
		Key:       "sales/Sales/Sales_log_20261125T050000Z.trn",
		Size:      4096,
		SHA256:    "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9",
		OutOfBand: true,
		PrunedAt:  ptime(t0.Add(24 * time.Hour).In(cet)),
	})
	td := s.TargetDatabase("dr_east", "Sales")
	td.SeededFrom = "Sales_full_20261125T045500Z.bak"
	td.Copies["Sales_full_20261125T045500Z.bak"] = &Copy{
		Key:        "dr_east/Sales/Sales_full_20261125T045500Z.bak",
		Size:       123456789012,
		SHA256:     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		ShippedAt:  t0.Add(10 * time.Minute),
		VerifiedAt: ptime(t0.Add(11 * time.Minute)),
		ModTime:    t0.Add(10*time.Minute + 123456789),
	}
	td.Restored = &Restore{
		Artifact: "Sales_full_20261125T045500Z.bak",
		Kind:     artifact.Full,
		LastLSN:  "98765432109876543210987",
		Mode:     "standby",
		At:       t0.Add(20 * time.Minute),
	}
	td.PromotedAt = ptime(t0.Add(48 * time.Hour))
	return s
}

func TestWrite_golden(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(fullState(), &buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden_v4.json")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("Write differs from %s (-want +got); run go test -update if the change is intended:\n%s", golden, diff)
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("}\n")) {
		t.Errorf("Write output does not end in a newline")
	}

	got, err := Read(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullState(), got, ignoreTrack); diff != "" {
		t.Errorf("Read(golden) differs from the state written (-want +got):\n%s", diff)
	}
}

func TestWrite_stable(t *testing.T) {
	var a, b bytes.Buffer
	if err := Write(fullState(), &a); err != nil {
		t.Fatal(err)
	}
	s, err := Read(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(s, &b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("Write(Read(Write(s))) differs from Write(s)")
	}
}

func TestRead_empty(t *testing.T) {
	s := New("l")
	var buf bytes.Buffer
	if err := Write(s, &buf); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Primaries == nil || got.Targets == nil {
		t.Errorf("Read of an empty state left nil maps: %+v", got)
	}
	if diff := cmp.Diff(s, got, ignoreTrack); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// badFixtures are files Read must refuse, and what the error must say.
var badFixtures = []struct {
	file string
	want []string
}{
	{"truncated.json", []string{"truncated", "byte offset"}},
	{"wrong_version.json", []string{"state file version 7 is newer than this drsctl understands (4); upgrade drsctl"}},
	{"bad_lsn.json", []string{`primary.sales.database["Sales"].artifact["Sales_log_20261125T050000Z.trn"]`, "last_lsn", `"98765x"`, "not a decimal number"}},
	{"no_lineage.json", []string{"state file has no lineage"}},
	{"not_json.json", []string{"not valid JSON", "line 1, column 1 (byte offset 0)"}},
	{"unknown_kind.json", []string{`unknown artifact kind "diff"`}},
	{"unknown_field.json", []string{`unknown field "password"`}},
	{"no_version.json", []string{"state file has no version"}},
	{"wrong_type.json", []string{"serial", "JSON string", "a whole number", "byte offset"}},
	{"duplicate_artifact.json", []string{`artifact "Sales_full_20261125T045500Z.bak" appears twice`}},
	{"bad_time.json", []string{`target.dr_east.database["Sales"]`, "shipped_at", "not RFC 3339"}},
	{"year_before_0000_in_utc.json", []string{`primary.sales.database["Sales"]`, "created_at", `"0000-01-01T00:00:00+01:00"`, "year -1 in UTC", "0000-9999"}},
	{"year_after_9999_in_utc.json", []string{`target.dr_east.database["Sales"]`, "restored: at", `"9999-12-31T23:30:00-01:00"`, "year 10000 in UTC"}},
	{"empty.json", []string{"state file is empty"}},
}

// The fixtures are version 1 files, so they are refused by the upgrade or
// after it; each is also tried relabelled as version 3, which the current
// decoder refuses on its own.
func TestRead_badFixtures(t *testing.T) {
	for _, tc := range badFixtures {
		raw, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []struct {
			name string
			raw  []byte
		}{
			{"", raw},
			{"/as_v3", bytes.Replace(raw, []byte(`"version": 1,`), []byte(`"version": 3,`), 1)},
		} {
			t.Run(strings.TrimSuffix(tc.file, ".json")+v.name, func(t *testing.T) {
				s, err := Read(bytes.NewReader(v.raw))
				if err == nil {
					t.Fatalf("Read succeeded: %+v", s)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
			})
		}
	}
}

// A version 1 file is upgraded: it reads as the state it was written from,
// with none of the later versions' fields set, and is written back as the
// current version without them (they are optional).
func TestRead_upgradesV1(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "golden_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullStateV1(), got, ignoreTrack); diff != "" {
		t.Errorf("Read(golden_v1) (-want +got):\n%s", diff)
	}
	var buf bytes.Buffer
	if err := Write(got, &buf); err != nil {
		t.Fatal(err)
	}
	want := bytes.Replace(raw, []byte("{\n  \"version\": 1,"), []byte("{\n  \"version\": 4,"), 1)
	if bytes.Equal(want, raw) {
		t.Fatal("golden_v1.json does not begin with version 1")
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("Write(Read(golden_v1)) is not golden_v1 relabelled as version 4 (-want +got):\n%s", diff)
	}
}

// A version 2 file is upgraded the same way: it reads as fullStateV2 and is
// written back as version 3 without version 3's fields.
func TestRead_upgradesV2(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "golden_v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullStateV2(), got, ignoreTrack); diff != "" {
		t.Errorf("Read(golden_v2) (-want +got):\n%s", diff)
	}
	var buf bytes.Buffer
	if err := Write(got, &buf); err != nil {
		t.Fatal(err)
	}
	want := bytes.Replace(raw, []byte("{\n  \"version\": 2,"), []byte("{\n  \"version\": 4,"), 1)
	if bytes.Equal(want, raw) {
		t.Fatal("golden_v2.json does not begin with version 2")
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("Write(Read(golden_v2)) is not golden_v2 relabelled as version 4 (-want +got):\n%s", diff)
	}
}

// A version 3 file (drsctl before striping) is upgraded: every artifact
// reads as one file, and it is written back as version 4 without stripes.
func TestRead_upgradesV3(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "golden_v3.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullStateV3(), got, ignoreTrack); diff != "" {
		t.Errorf("Read(golden_v3) (-want +got):\n%s", diff)
	}
	for _, a := range got.Database("sales", "Sales").Artifacts {
		if fs := a.Files(); len(fs) != 1 || fs[0].Key != a.Key || a.TotalSize() != a.Size {
			t.Errorf("%s after the upgrade: files %+v, total %d; want one file, its key", a.ID, fs, a.TotalSize())
		}
	}
	var buf bytes.Buffer
	if err := Write(got, &buf); err != nil {
		t.Fatal(err)
	}
	want := bytes.Replace(raw, []byte("{\n  \"version\": 3,"), []byte("{\n  \"version\": 4,"), 1)
	if bytes.Equal(want, raw) {
		t.Fatal("golden_v3.json does not begin with version 3")
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("Write(Read(golden_v3)) is not golden_v3 relabelled as version 4 (-want +got):\n%s", diff)
	}
	// A version-3 file carrying stripes is refused: version 3 had none.
	var full bytes.Buffer
	if err := Write(fullState(), &full); err != nil {
		t.Fatal(err)
	}
	v3 := bytes.Replace(full.Bytes(), []byte(`"version": 4,`), []byte(`"version": 3,`), 1)
	if _, err := Read(bytes.NewReader(v3)); err == nil || !strings.Contains(err.Error(), `unknown field "stripes"`) {
		t.Errorf("a version-3 file with stripes: %v, want it refused", err)
	}
}

// A file that says it is version 2 but carries a field only version 3 has
// is refused by the upgrade.
func TestRead_v2WithV3FieldIsRefused(t *testing.T) {
	for field, mutate := range map[string]func(td *TargetDatabase){
		"promoted_how": func(td *TargetDatabase) { td.PromotedHow = PromoteRecorded },
		"promoted_lsn": func(td *TargetDatabase) { td.PromotedLSN = "5" },
		"reprotect_at": func(td *TargetDatabase) { td.ReprotectAt = ptime(time.Unix(0, 1)) },
		"drill_ok_at":  func(td *TargetDatabase) { td.DrillOKAt = ptime(time.Unix(0, 1)) },
		"last_drill":   func(td *TargetDatabase) { td.LastDrill = &Drill{At: time.Unix(0, 1), Through: time.Unix(0, 1)} },
	} {
		t.Run(field, func(t *testing.T) {
			s := fullStateV2()
			mutate(s.TargetDatabase("dr_east", "Sales"))
			var buf bytes.Buffer
			if err := Write(s, &buf); err != nil {
				t.Fatal(err)
			}
			raw := bytes.Replace(buf.Bytes(), []byte(`"version": 4,`), []byte(`"version": 2,`), 1)
			got, err := Read(bytes.NewReader(raw))
			if err == nil {
				t.Fatalf("Read succeeded: %+v", got)
			}
			for _, w := range []string{"upgrade state file from version 2 to 3", `unknown field "` + field + `"`} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// A promotion kind or drill this drsctl does not know is refused on read and
// never written.
func TestRead_badV3Fields(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(fullState(), &buf); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to, want string }{
		{`"promoted_how": "planned"`, `"promoted_how": "sideways"`, `unknown value "sideways"`},
		{`"duration_ms": 93250`, `"duration_ms": -1`, "duration_ms -1 is out of range"},
		{`"promoted_lsn": "98765432109876543211000"`, `"promoted_lsn": "12x"`, "promoted_lsn"},
	} {
		raw := bytes.Replace(buf.Bytes(), []byte(tc.from), []byte(tc.to), 1)
		if bytes.Equal(raw, buf.Bytes()) {
			t.Fatalf("%s not in the written state", tc.from)
		}
		if _, err := Read(bytes.NewReader(raw)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.to, err, tc.want)
		}
	}
	s := fullState()
	s.TargetDatabase("dr_east", "Sales").PromotedHow = "sideways"
	if err := Write(s, &bytes.Buffer{}); err == nil {
		t.Error("Write wrote an unknown promotion kind")
	}
}

// A file that says it is version 1 but carries a field only version 2 has
// was not written by a version-1 drsctl: the upgrade refuses it instead of
// relabelling it.
func TestRead_v1WithV2FieldIsRefused(t *testing.T) {
	for field, mutate := range map[string]func(s *State){
		"identity":  func(s *State) { s.Database("sales", "Sales").Identity = "x" },
		"new_fork":  func(s *State) { s.Database("sales", "Sales").Artifacts[0].NewFork = true },
		"completed": func(s *State) { s.Database("sales", "Sales").Artifacts[0].Completed = time.Unix(0, 1) },
		"seeding":   func(s *State) { s.TargetDatabase("dr_east", "Sales").Seeding = "x" },
		"restart":   func(s *State) { s.Database("sales", "Sales").Restart = "x" },
		"damaged_at": func(s *State) {
			d := time.Unix(0, 1)
			s.Database("sales", "Sales").Artifacts[0].DamagedAt = &d
		},
	} {
		t.Run(field, func(t *testing.T) {
			s := fullStateV1()
			mutate(s)
			var buf bytes.Buffer
			if err := Write(s, &buf); err != nil {
				t.Fatal(err)
			}
			raw := bytes.Replace(buf.Bytes(), []byte(`"version": 4,`), []byte(`"version": 1,`), 1)
			got, err := Read(bytes.NewReader(raw))
			if err == nil {
				t.Fatalf("Read succeeded: %+v", got)
			}
			for _, w := range []string{"upgrade state file from version 1 to 2", `unknown field "` + field + `"`} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// The next version is refused, so a drsctl that only knows version 3 never
// misreads (or rewrites, dropping fields) a file a newer drsctl wrote.
func TestRead_newerVersionIsRefused(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(fullState(), &buf); err != nil {
		t.Fatal(err)
	}
	raw := bytes.Replace(buf.Bytes(), []byte(`"version": 4,`), []byte(`"version": 5,`), 1)
	s, err := Read(bytes.NewReader(raw))
	if err == nil {
		t.Fatalf("Read succeeded: %+v", s)
	}
	if want := "state file version 5 is newer than this drsctl understands (4); upgrade drsctl"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not mention %q", err, want)
	}
}

// Version 2's and 3's fields are optional: a state without them writes none
// of their keys.
func TestWrite_v2FieldsOmittedWhenUnset(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(fullStateV1(), &buf); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"identity"`, `"new_fork"`, `"completed"`, `"seeding"`, `"promoted_how"`, `"promoted_lsn"`, `"reprotect_at"`, `"last_drill"`, `"drill_ok_at"`} {
		if bytes.Contains(buf.Bytes(), []byte(k)) {
			t.Errorf("Write wrote %s for a state that does not set it:\n%s", k, buf.String())
		}
	}
}

func TestDecode_upgradeChain(t *testing.T) {
	// Pretend the current version is 3, and 1 and 2 are old ones: each
	// upgrade runs once, in order, and the last one's output is decoded.
	var ran []int
	ups := map[int]func([]byte) ([]byte, error){
		1: func(raw []byte) ([]byte, error) {
			ran = append(ran, 1)
			return bytes.Replace(raw, []byte(`"version": 1`), []byte(`"version": 2`), 1), nil
		},
		2: func(raw []byte) ([]byte, error) {
			ran = append(ran, 2)
			return bytes.Replace(raw, []byte(`"version": 2`), []byte(`"version": 3`), 1), nil
		},
	}
	raw := []byte("{\n  \"version\": 1,\n  \"lineage\": \"l\",\n  \"serial\": 5\n}\n")
	f, err := decode(raw, 3, ups)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2}, ran); diff != "" {
		t.Errorf("upgrades ran (-want +got):\n%s", diff)
	}
	if f.Version != 3 || f.Lineage != "l" || f.Serial != 5 {
		t.Errorf("decoded %+v", f)
	}

	delete(ups, 1)
	if _, err := decode(raw, 3, ups); err == nil || !strings.Contains(err.Error(), "version 1 is no longer supported") {
		t.Errorf("decode without an upgrade for version 1: err = %v", err)
	}
	failing := map[int]func([]byte) ([]byte, error){
		1: func([]byte) ([]byte, error) { return nil, errors.New("boom") },
	}
	if _, err := decode(raw, 2, failing); err == nil || !strings.Contains(err.Error(), "upgrade state file from version 1 to 2: boom") {
		t.Errorf("decode with a failing upgrade: err = %v", err)
	}
}

func TestWrite_refusesWhatReadRefuses(t *testing.T) {
	for name, mutate := range map[string]func(s *State){
		"no lineage":   func(s *State) { s.Lineage = "" },
		"bad kind":     func(s *State) { s.Database("sales", "Sales").Artifacts[0].Kind = "diff" },
		"bad lsn":      func(s *State) { s.Database("sales", "Sales").Artifacts[0].LastLSN = "0x10" },
		"no id":        func(s *State) { s.Database("sales", "Sales").Artifacts[0].ID = "" },
		"nil artifact": func(s *State) { s.Database("sales", "Sales").Artifacts[1] = nil },
		"duplicate id": func(s *State) {
			d := s.Database("sales", "Sales")
			d.Artifacts[1].ID = d.Artifacts[0].ID
		},
		"bad restore lsn": func(s *State) { s.TargetDatabase("dr_east", "Sales").Restored.LastLSN = "-1" },
	} {
		t.Run(name, func(t *testing.T) {
			s := fullState()
			mutate(s)
			var buf bytes.Buffer
			if err := Write(s, &buf); err == nil {
				t.Errorf("Write succeeded:\n%s", buf.String())
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

// The state file holds no secrets: its keys are exactly these, and any new
// one is a deliberate change to this list.
func TestWrite_keys(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(fullState(), &buf); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	// Map keys that are names (of primaries, databases, artifacts) are
	// data, not fields: collect field keys by where they are.
	keys := map[string]bool{}
	var walk func(path string, v any, namesHere bool)
	walk = func(path string, v any, namesHere bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if namesHere {
					walk(path+".*", child, false)
					continue
				}
				keys[path+"."+k] = true
				walk(path+"."+k, child, k == "primaries" || k == "targets" || k == "databases" || k == "copies")
			}
		case []any:
			for _, child := range v {
				walk(path+"[]", child, false)
			}
		}
	}
	walk("", doc, false)
	var got []string
	for k := range keys {
		got = append(got, k)
	}
	sort.Strings(got)
	want := []string{
		".lineage",
		".primaries",
		".primaries.*.databases",
		".primaries.*.databases.*.artifacts",
		".primaries.*.databases.*.artifacts[].checkpoint_lsn",
		".primaries.*.databases.*.artifacts[].completed",
		".primaries.*.databases.*.artifacts[].copy_only",
		".primaries.*.databases.*.artifacts[].damaged_at",
		".primaries.*.databases.*.artifacts[].database",
		".primaries.*.databases.*.artifacts[].database_backup_lsn",
		".primaries.*.databases.*.artifacts[].family_guid",
		".primaries.*.databases.*.artifacts[].finish",
		".primaries.*.databases.*.artifacts[].first_lsn",
		".primaries.*.databases.*.artifacts[].id",
		".primaries.*.databases.*.artifacts[].key",
		".primaries.*.databases.*.artifacts[].kind",
		".primaries.*.databases.*.artifacts[].last_lsn",
		".primaries.*.databases.*.artifacts[].new_fork",
		".primaries.*.databases.*.artifacts[].out_of_band",
		".primaries.*.databases.*.artifacts[].pruned_at",
		".primaries.*.databases.*.artifacts[].sha256",
		".primaries.*.databases.*.artifacts[].size",
		".primaries.*.databases.*.artifacts[].start",
		".primaries.*.databases.*.artifacts[].stripes",
		".primaries.*.databases.*.artifacts[].stripes[].key",
		".primaries.*.databases.*.artifacts[].stripes[].sha256",
		".primaries.*.databases.*.artifacts[].stripes[].size",
		".primaries.*.databases.*.created_at",
		".primaries.*.databases.*.identity",
		".primaries.*.databases.*.recovery_model",
		".primaries.*.databases.*.restart",
		".serial",
		".targets",
		".targets.*.databases",
		".targets.*.databases.*.copies",
		".targets.*.databases.*.copies.*.key",
		".targets.*.databases.*.copies.*.mod_time",
		".targets.*.databases.*.copies.*.sha256",
		".targets.*.databases.*.copies.*.shipped_at",
		".targets.*.databases.*.copies.*.size",
		".targets.*.databases.*.copies.*.verified_at",
		".targets.*.databases.*.drill_ok_at",
		".targets.*.databases.*.last_drill",
		".targets.*.databases.*.last_drill.artifact",
		".targets.*.databases.*.last_drill.at",
		".targets.*.databases.*.last_drill.check",
		".targets.*.databases.*.last_drill.duration_ms",
		".targets.*.databases.*.last_drill.error", // redacted by apply before it is stored
		".targets.*.databases.*.last_drill.ok",
		".targets.*.databases.*.last_drill.stop_at",
		".targets.*.databases.*.last_drill.through",
		".targets.*.databases.*.promoted_at",
		".targets.*.databases.*.promoted_how",
		".targets.*.databases.*.promoted_lsn",
		".targets.*.databases.*.reprotect_at",
		".targets.*.databases.*.restored",
		".targets.*.databases.*.restored.artifact",
		".targets.*.databases.*.restored.at",
		".targets.*.databases.*.restored.kind",
		".targets.*.databases.*.restored.last_lsn",
		".targets.*.databases.*.restored.mode",
		".targets.*.databases.*.seeded_from",
		".targets.*.databases.*.seeding",
		".version",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state file keys changed (-want +got); make sure no secret is stored, then update the list:\n%s", diff)
	}
	for _, k := range got {
		for _, bad := range []string{"password", "secret", "token", "connection", "credential", "account_key"} {
			if strings.Contains(strings.ToLower(k), bad) {
				t.Errorf("state file key %s looks like a secret", k)
			}
		}
	}
}

// everyTimeField of the current format, as the golden file spells it.
var everyTimeField = []string{"created_at", "start", "finish", "damaged_at", "completed", "pruned_at",
	"shipped_at", "verified_at", "mod_time", "at", "promoted_at"}

// TestRead_timeOutsideWhatWriteCanWrite: RFC 3339 has four digits for the
// year and the state is written in UTC, so a time whose own zone puts it in
// 0000-9999 but UTC does not (0000-01-01T00:00:00+01:00 is in year -1) used
// to be read and then written as "-0001-12-31T23:00:00Z", which Read
// refuses. Every time field is now refused on reading instead.
func TestRead_timeOutsideWhatWriteCanWrite(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "golden_v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range everyTimeField {
		for _, bad := range []string{"0000-01-01T00:00:00+01:00", "0000-01-01T00:59:59.999999999+01:00", "9999-12-31T23:00:00-01:00", "9999-12-31T23:59:59-00:01"} {
			t.Run(field+"="+bad, func(t *testing.T) {
				key := []byte(`"` + field + `": "`)
				i := bytes.Index(golden, key)
				if i < 0 {
					t.Fatalf("golden file has no %s", field)
				}
				j := i + len(key) + bytes.IndexByte(golden[i+len(key):], '"')
				raw := append(append(append([]byte(nil), golden[:i+len(key)]...), bad...), golden[j:]...)
				s, err := Read(bytes.NewReader(raw))
				if err == nil {
					var buf bytes.Buffer
					werr := Write(s, &buf)
					t.Fatalf("Read accepted %s = %s; Write then gave %v:\n%s", field, bad, werr, buf.String())
				}
				if !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "0000-9999") {
					t.Errorf("error %q does not name the field %s and the years the file holds", err, field)
				}
			})
		}
	}
	// The edges that can be written are read.
	for _, ok := range []string{"0000-01-01T00:00:00Z", "0000-01-01T01:00:00+01:00", "9999-12-31T23:59:59.999999999Z", "9999-12-31T22:00:00-01:00"} {
		raw := bytes.Replace(golden, []byte(`"created_at": "2024-01-02T02:04:05.123456789Z"`), []byte(`"created_at": "`+ok+`"`), 1)
		s, err := Read(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("created_at %s: %v", ok, err)
			continue
		}
		assertRoundTrip(t, s)
	}
}

// TestWrite_timeOutsideWhatReadAccepts: Write refuses every time field
// that RFC 3339 cannot hold in UTC, naming it, and writes nothing.
func TestWrite_timeOutsideWhatReadAccepts(t *testing.T) {
	east := time.FixedZone("", 3600)
	west := time.FixedZone("", -3600)
	for _, bad := range []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, east),        // year -1 in UTC
		time.Date(9999, 12, 31, 23, 30, 0, 0, west), // year 10000 in UTC
		time.Date(-5, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(12000, 6, 1, 0, 0, 0, 0, time.UTC),
	} {
		for field, set := range map[string]func(s *State, t time.Time){
			"created_at":  func(s *State, t time.Time) { s.Database("sales", "Sales").CreatedAt = t },
			"start":       func(s *State, t time.Time) { s.Database("sales", "Sales").Artifacts[0].Start = t },
			"finish":      func(s *State, t time.Time) { s.Database("sales", "Sales").Artifacts[1].Finish = t },
			"completed":   func(s *State, t time.Time) { s.Database("sales", "Sales").Artifacts[0].Completed = t },
			"pruned_at":   func(s *State, t time.Time) { s.Database("sales", "Sales").Artifacts[1].PrunedAt = &t },
			"damaged_at":  func(s *State, t time.Time) { s.Database("sales", "Sales").Artifacts[0].DamagedAt = &t },
			"shipped_at":  func(s *State, t time.Time) { firstCopy(s).ShippedAt = t },
			"verified_at": func(s *State, t time.Time) { firstCopy(s).VerifiedAt = &t },
			"mod_time":    func(s *State, t time.Time) { firstCopy(s).ModTime = t },
			"restored: at": func(s *State, t time.Time) {
				s.TargetDatabase("dr_east", "Sales").Restored.At = t
			},
			"promoted_at": func(s *State, t time.Time) { s.TargetDatabase("dr_east", "Sales").PromotedAt = &t },
		} {
			t.Run(field+"="+bad.String(), func(t *testing.T) {
				s := fullState()
				set(s, bad)
				var buf bytes.Buffer
				err := Write(s, &buf)
				if err == nil {
					_, rerr := Read(&buf)
					t.Fatalf("Write succeeded; Read of what it wrote: %v", rerr)
				}
				if !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "0000-9999") {
					t.Errorf("error %q does not name %s and the years the file holds", err, field)
				}
				if buf.Len() != 0 {
					t.Errorf("Write wrote %d bytes before failing", buf.Len())
				}
			})
		}
	}
}

func firstCopy(s *State) *Copy {
	td := s.TargetDatabase("dr_east", "Sales")
	ids := make([]string, 0, len(td.Copies))
	for id := range td.Copies {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return td.Copies[ids[0]]
}

// assertRoundTrip checks the reader's promise for a state it accepted:
// Write succeeds, and reading what it wrote gives the same state.
func assertRoundTrip(t *testing.T, s *State) {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(s, &buf); err != nil {
		t.Fatalf("Write of a state Read accepted: %v", err)
	}
	again, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Read of what Write wrote: %v\n%s", err, buf.String())
	}
	if diff := cmp.Diff(s, again, cmpopts.EquateEmpty(), ignoreTrack); diff != "" {
		t.Fatalf("Read(Write(Read(x))) differs from Read(x) (-first +second):\n%s", diff)
	}
}
