package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/state"
)

// samplePlans are plans Make produces for the shapes a saved plan takes:
// every action kind Make writes, dependencies of both sorts, observed
// facts, adoptions, records, prunes, problems and RPO rows.
func samplePlans() map[string]*Plan {
	out := map[string]*Plan{}
	out["fresh"] = Make(testConfig(), nil, nil, now, Options{ConfigDigest: "abc"})
	out["target filter"] = Make(testConfig(), nil, nil, now, Options{Targets: []string{"vault"}})
	{
		st := chainState(F, L1, L2, L3)
		at(st, "dr_east", true, F, L1, L2, L3)
		at(st, "dr_west", true, F, L1)
		obs := observed(st, func(o *Observed) {
			o.Primaries["sales"].Databases["Inventory"] = &engine.PrimaryDatabase{Name: "Inventory", Exists: true, State: "ONLINE", RecoveryModel: "SIMPLE"}
		})
		cfg := testConfig()
		cfg.Primaries[0].Databases = []string{"Sales", "Inventory"}
		out["log due, problems, rpo"] = Make(cfg, st, obs, now.Add(6*time.Minute), Options{})
	}
	{
		st := chainState(F, L1, L2, L3)
		at(st, "dr_east", true, F, L1, L2, L3)
		obs := observed(st, func(o *Observed) {
			db := o.Primaries["sales"].Databases["Sales"]
			db.CreatedAt = ago(100 * 24 * time.Hour)
			db.Backups = append(db.Backups, engine.BackupRecord{Path: `\\FS01\drs\manual\Sales_extra.trn`,
				Header: artifact.Header{Kind: artifact.Log, Database: "Sales", FirstLSN: "500", LastLSN: "600", Start: ago(6 * time.Minute), Finish: ago(5 * time.Minute)}})
			o.Folders["share"].Objects["manual/Sales_extra.trn"] = Object{Size: 10}
		})
		out["adopt"] = Make(only(testConfig(), "dr_east"), st, obs, now.Add(20*time.Minute), Options{})
	}
	{
		st := chainState(F, L1, L2, L3)
		at(st, "dr_east", true, F, L1, L2, L3)
		st.TargetDatabase("dr_east", "Sales").Restored = &state.Restore{Artifact: "L2.trn", Kind: artifact.Log, LastLSN: "400"}
		obs := observed(st, func(o *Observed) { o.Targets["dr_east"].Databases["Sales"].RedoLSN = "500" })
		out["record"] = Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	}
	{
		old := 8 * 24 * time.Hour
		F0 := art("F0.bak", artifact.Full, "10", "20", ago(old+3*time.Hour))
		L0 := art("L0.trn", artifact.Log, "15", "100", ago(old+2*time.Hour))
		oldF := art("F.bak", artifact.Full, "100", "200", ago(old+time.Hour))
		oldL1 := art("L1.trn", artifact.Log, "100", "300", ago(old))
		newF := art("F2.bak", artifact.Full, "300", "350", ago(2*time.Hour))
		st := chainState(F0, L0, oldF, oldL1, newF, L2, L3)
		at(st, "dr_east", true, F0, L0, oldF, oldL1, L2, L3)
		at(st, "dr_west", true, F0, L0)
		out["prune"] = Make(only(testConfig(), "dr_east", "dr_west"), st, nil, now, Options{})
	}
	{
		st := chainState(F, L1, L2)
		at(st, "dr_east", true, F, L1)
		out["full and log due together"] = Make(testConfig(), st, nil, now.Add(48*time.Hour), Options{})
	}
	return out
}

// equalPlans compares plans as apply and show see them: an empty list and
// an absent one are the same, times are the same instant.
func equalPlans(a, b *Plan) string { return cmp.Diff(a, b, cmpopts.EquateEmpty()) }

func TestPlanFile_SamplePlansRoundTrip(t *testing.T) {
	for name, p := range samplePlans() {
		t.Run(name, func(t *testing.T) {
			if err := p.Check(); err != nil {
				t.Fatalf("Make's plan fails Check: %v", err)
			}
			b, err := p.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Load(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("Load of a saved plan: %v\n%s", err, b)
			}
			if diff := equalPlans(p, got); diff != "" {
				t.Fatalf("round trip (-saved +loaded):\n%s", diff)
			}
		})
	}
}

// basePlan is a small valid saved plan as JSON objects, for tests that
// break one thing in it.
func basePlan() map[string]any {
	return map[string]any{
		"format_version": FormatVersion,
		"created_at":     "2026-11-25T12:00:00Z",
		"lineage":        "lineage-1",
		"serial":         7,
		"refreshed":      true,
		"actions": []any{
			map[string]any{"id": "backup_full:sales/Sales", "kind": "backup_full", "primary": "sales", "database": "Sales",
				"artifact_kind": "full", "reason": "no full backup yet",
				"observed": map[string]any{"recovery_model": "FULL", "created_at": "2026-01-01T00:00:00Z"}},
			map[string]any{"id": "ship", "kind": "ship", "primary": "sales", "database": "Sales", "target": "dr_east",
				"from": "backup_full:sales/Sales", "artifact_kind": "full", "reason": "r", "depends_on": []any{"backup_full:sales/Sales"}},
			map[string]any{"id": "verify", "kind": "verify", "primary": "sales", "database": "Sales", "target": "dr_east",
				"from": "backup_full:sales/Sales", "artifact_kind": "full", "reason": "r", "depends_on": []any{"backup_full:sales/Sales", "ship"}},
			map[string]any{"id": "restore", "kind": "restore_full", "primary": "sales", "database": "Sales", "target": "dr_east",
				"from": "backup_full:sales/Sales", "artifact_kind": "full", "reason": "r", "mode": "standby", "seed": true,
				"depends_on": []any{"backup_full:sales/Sales", "verify"}},
			map[string]any{"id": "adopt", "kind": "adopt", "primary": "sales", "database": "Sales", "artifact": "x.trn", "artifact_kind": "log",
				"reason": "r", "adopted": map[string]any{"key": "k/x.trn", "path": `\\fs01\drs\k\x.trn`, "header": map[string]any{
					"Kind": "log", "Database": "Sales", "FirstLSN": "500", "LastLSN": "600", "CheckpointLSN": "", "DatabaseBackupLSN": "100",
					"Start": "2026-11-25T11:00:00Z", "Finish": "2026-11-25T11:00:01Z", "CopyOnly": false, "FamilyGUID": ""}}},
			map[string]any{"id": "record", "kind": "record", "primary": "sales", "database": "Sales", "target": "dr_west", "artifact": "L3.trn",
				"reason": "r", "position": map[string]any{"artifact": "L3.trn", "kind": "log", "last_lsn": "500"}},
			map[string]any{"id": "prune", "kind": "prune", "primary": "sales", "database": "Sales", "key": "orphan.bak", "reason": "r",
				"after": []any{"backup_full:sales/Sales"}},
		},
		"problems": []any{map[string]any{"severity": "warning", "summary": "s"}},
		"rpo": []any{map[string]any{"target": "dr_east", "primary": "sales", "database": "Sales", "limit": 1800000000000,
			"through": "2026-11-25T11:00:01Z", "lag": 60000000000, "breach": false}},
	}
}

func encodeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLoad_RefusesWhatItCannotHandle: each case breaks one thing a saved
// plan must hold; Load names it instead of handing show or apply a plan
// they would crash on or could not save again.
func TestLoad_RefusesWhatItCannotHandle(t *testing.T) {
	if _, err := Load(strings.NewReader(encodeJSON(t, basePlan()))); err != nil {
		t.Fatalf("the base plan is refused: %v", err)
	}
	action := func(p map[string]any, i int) map[string]any { return p["actions"].([]any)[i].(map[string]any) }
	for _, tt := range []struct {
		name   string
		change func(p map[string]any)
		raw    string // instead of change: the whole file
		want   string
	}{
		{name: "null action", change: func(p map[string]any) { p["actions"] = append(p["actions"].([]any), nil) }, want: "actions[7] is null"},
		{name: "action without kind", change: func(p map[string]any) { delete(action(p, 6), "kind") }, want: `action "prune": unknown kind ActionKind(0)`},
		{name: "kind by number", change: func(p map[string]any) { action(p, 6)["kind"] = 3 }, want: "cannot unmarshal number"},
		{name: "unknown kind", change: func(p map[string]any) { action(p, 6)["kind"] = "teleport" }, want: `unknown action kind "teleport"`},
		{name: "action without id", change: func(p map[string]any) { delete(action(p, 6), "id") }, want: "actions[6] has no id"},
		{name: "duplicate id", change: func(p map[string]any) { action(p, 6)["id"] = "adopt" }, want: `action "adopt" appears twice`},
		{name: "depends_on outside the plan", change: func(p map[string]any) {
			action(p, 3)["depends_on"] = []any{"backup_full:sales/Sales", "verify", "nope"}
		},
			want: `action "restore": depends_on names "nope", which is not an action of this plan`},
		{name: "after outside the plan", change: func(p map[string]any) { action(p, 6)["after"] = []any{"gone"} },
			want: `action "prune": after names "gone"`},
		{name: "depends on itself", change: func(p map[string]any) { action(p, 6)["after"] = []any{"prune"} }, want: "names the action itself"},
		{name: "cycle", change: func(p map[string]any) { action(p, 0)["after"] = []any{"restore"} }, want: "depends on itself through depends_on or after"},
		{name: "from names no backup", change: func(p map[string]any) { action(p, 3)["from"] = "ship" }, want: `from "ship" is not a backup action of this plan`},
		{name: "from not waited for", change: func(p map[string]any) { action(p, 3)["depends_on"] = []any{"verify"} }, want: "is not in depends_on"},
		{name: "ship of nothing", change: func(p map[string]any) {
			delete(action(p, 1), "from")
			action(p, 1)["depends_on"] = []any{}
		}, want: "a ship action needs an artifact"},
		{name: "ship without target", change: func(p map[string]any) { delete(action(p, 1), "target") }, want: "a ship action needs a target"},
		{name: "backup on a target", change: func(p map[string]any) { action(p, 0)["target"] = "dr_east" }, want: `acts on the primary, not on target "dr_east"`},
		{name: "no primary", change: func(p map[string]any) { action(p, 0)["primary"] = "" }, want: "no primary or no database"},
		{name: "adopt without header", change: func(p map[string]any) { delete(action(p, 4), "adopted") }, want: "adopt action needs"},
		{name: "record without position", change: func(p map[string]any) { delete(action(p, 5), "position") }, want: "record action needs the position"},
		{name: "unknown restore mode", change: func(p map[string]any) { action(p, 3)["mode"] = "Standby" }, want: `unknown restore mode "Standby"`},
		{name: "unknown artifact kind", change: func(p map[string]any) { action(p, 1)["artifact_kind"] = "diff" }, want: `unknown artifact kind "diff"`},
		{name: "adopted header kind", change: func(p map[string]any) {
			action(p, 4)["adopted"].(map[string]any)["header"].(map[string]any)["Kind"] = ""
		}, want: `adopted: header: unknown artifact kind ""`},
		{name: "lsn with a space", change: func(p map[string]any) {
			action(p, 4)["adopted"].(map[string]any)["header"].(map[string]any)["LastLSN"] = " 600"
		}, want: `last_lsn: " 600" is not a decimal number`},
		{name: "negative lsn", change: func(p map[string]any) { action(p, 5)["position"].(map[string]any)["last_lsn"] = "-1" }, want: `"-1" is not a decimal number`},
		{name: "continues not a number", change: func(p map[string]any) { action(p, 3)["continues"] = "1e9" }, want: `continues: "1e9" is not a decimal number`},
		{name: "created_at before year 0 in UTC", change: func(p map[string]any) { p["created_at"] = "0000-01-01T00:00:00+01:00" },
			want: "created_at: 0000-01-01T00:00:00+01:00 is outside the years 0000-9999"},
		{name: "observed created_at after 9999 in UTC", change: func(p map[string]any) {
			action(p, 0)["observed"].(map[string]any)["created_at"] = "9999-12-31T23:30:00-01:00"
		}, want: "observed: created_at: 9999-12-31T23:30:00-01:00 is outside the years 0000-9999"},
		{name: "adopted finish before year 0 in UTC", change: func(p map[string]any) {
			action(p, 4)["adopted"].(map[string]any)["header"].(map[string]any)["Finish"] = "0000-01-01T00:59:59+01:00"
		}, want: "adopted: header: finish:"},
		{name: "rpo through after 9999 in UTC", change: func(p map[string]any) {
			p["rpo"].([]any)[0].(map[string]any)["through"] = "9999-12-31T23:59:59-00:01"
		}, want: "rpo[0]: through:"},
		{name: "unknown severity", change: func(p map[string]any) { p["problems"].([]any)[0].(map[string]any)["severity"] = "fatal" }, want: `unknown severity "fatal"`},
		{name: "unknown field", change: func(p map[string]any) { action(p, 0)["priority"] = 1 }, want: `unknown field "priority"`},
		{name: "trailing data", raw: encodeJSON(t, basePlan()) + `{"format_version":"1.2"}`, want: "more data after the plan"},
		{name: "truncated", raw: encodeJSON(t, basePlan())[:300], want: "truncated"},
		{name: "empty", raw: "", want: "read plan: the file is empty"},
		{name: "only white space", raw: " \n", want: "read plan: the file is empty"},
		{name: "null", raw: "null", want: "format version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw
			if tt.change != nil {
				p := basePlan()
				tt.change(p)
				raw = encodeJSON(t, p)
			}
			got, err := Load(strings.NewReader(raw))
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestSave_RefusesWhatLoadRefuses: a plan Save writes can always be read
// back, so Save refuses the plans Load would.
func TestSave_RefusesWhatLoadRefuses(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(p *Plan)
		want   string
	}{
		{"action without kind", func(p *Plan) { p.Actions[0].Kind = 0 }, "unknown kind ActionKind(0)"},
		{"null action", func(p *Plan) { p.Actions = append(p.Actions, nil) }, "is null"},
		{"dangling dependency", func(p *Plan) { p.Actions[1].DependsOn = append(p.Actions[1].DependsOn, "elsewhere") }, `"elsewhere", which is not an action of this plan`},
		{"created before year 0 in UTC", func(p *Plan) {
			p.CreatedAt = time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))
		}, "outside the years 0000-9999"},
		{"zone offset RFC 3339 cannot write", func(p *Plan) {
			p.CreatedAt = time.Date(1900, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 19*60+32))
		}, "zone offset of 1172s"},
		{"format version", func(p *Plan) { p.FormatVersion = "0.9" }, `format version "0.9"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := Make(testConfig(), nil, nil, now, Options{})
			tt.change(p)
			var buf bytes.Buffer
			err := Save(&buf, p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Save = %v, want an error containing %q; wrote:\n%s", err, tt.want, buf.String())
			}
			if buf.Len() != 0 {
				t.Errorf("Save wrote %d bytes of a plan it refused", buf.Len())
			}
		})
	}
}

// TestShow_AcceptedPlansRender: what Load accepts, show renders (human and
// -json) without a panic. A null action used to get through to the
// renderer.
func TestShow_AcceptedPlansRender(t *testing.T) {
	raw := encodeJSON(t, basePlan())
	p, err := Load(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHuman(&buf, p, Style{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&buf, p, "test"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "prune orphan.bak") && !strings.Contains(buf.String(), "prune (new") {
		t.Errorf("the prune of an orphan is not shown:\n%s", buf.String())
	}
}
