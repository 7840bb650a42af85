package plan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/drsctl/drsctl/internal/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

func TestWriteHuman_Golden(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	at(st, "dr_west", true, F, L1)
	obs := observed(st, func(o *Observed) {
		o.Primaries["sales"].Databases["Inventory"] = &engine.PrimaryDatabase{Name: "Inventory", Exists: true, State: "ONLINE", RecoveryModel: "SIMPLE"}
	})
	cfg := testConfig()
	cfg.Primaries[0].Databases = []string{"Sales", "Inventory"}
	cfg.Targets[0].Databases = []string{"Sales"}
	cfg.Targets[1].Databases = []string{"Sales"}
	cfg.Targets[2].Databases = []string{"Sales"}
	p := Make(cfg, st, obs, now.Add(6*60e9), Options{})
	var buf bytes.Buffer
	if err := WriteHuman(&buf, p, Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan_human.txt", buf.Bytes())
	if strings.Contains(buf.String(), "\x1b[") {
		t.Error("no color codes without Color")
	}
}

func TestWriteHuman_NoChanges(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	var buf bytes.Buffer
	if err := WriteHuman(&buf, Make(only(testConfig(), "dr_east"), st, &Observed{Refreshed: true}, now, Options{}), Style{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No changes.") || !strings.Contains(buf.String(), "Plan: 0 backups, 0 ships, 0 verifies, 0 restores, 0 prunes.") {
		t.Errorf("got:\n%s", buf.String())
	}
}

func TestWriteJSON_Messages(t *testing.T) {
	p := Make(testConfig(), nil, nil, now, Options{})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, p, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	var types []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"@level", "@message", "@timestamp", "type"} {
			if _, ok := m[k]; !ok {
				t.Errorf("message %q lacks %s", sc.Text(), k)
			}
		}
		types = append(types, m["type"].(string))
		if m["type"] == "version" && (m["drsctl"] != "v1.2.3" || m["ui"] != FormatVersion) {
			t.Errorf("version header = %v", m)
		}
		if m["type"] == "change_summary" {
			if c := m["changes"].(map[string]any); c["total"] != float64(9) || c["ship"] != float64(3) {
				t.Errorf("changes = %v", c)
			}
		}
	}
	if types[0] != "version" || types[len(types)-1] != "change_summary" || types[1] != "planned_action" {
		t.Errorf("message order = %v", types)
	}
}

func TestPlanFile_RoundTripAndStaleness(t *testing.T) {
	st := chainState(F, L1)
	p := Make(testConfig(), st, nil, now, Options{ConfigDigest: "abc"})
	b, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if err := got.CheckCurrent(st, "abc"); err != nil {
		t.Errorf("fresh plan refused: %v", err)
	}
	st.Serial++
	if err := got.CheckCurrent(st, "abc"); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "serial 7, the state is now at serial 8") {
		t.Errorf("stale serial: %v", err)
	}
	st.Serial--
	st.Lineage = "other"
	if err := got.CheckCurrent(st, "abc"); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "lineage") {
		t.Errorf("other lineage: %v", err)
	}
	st.Lineage = "lineage-1"
	if err := got.CheckCurrent(st, "changed"); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "configuration changed") {
		t.Errorf("changed config: %v", err)
	}
	if _, err := Load(strings.NewReader(`{"format_version":"9"}`)); err == nil {
		t.Error("unknown format version accepted")
	}
}

func TestWriteHuman_PrimaryDownIsNotUpToDate(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	obs := observed(st, func(o *Observed) {
		o.Primaries["sales"] = &PrimaryObservation{Err: "connect to primary \"sales\": server unreachable"}
	})
	var buf bytes.Buffer
	if err := WriteHuman(&buf, Make(only(testConfig(), "dr_east"), st, obs, now.Add(30*time.Minute), Options{}), Style{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "up to date") || !strings.Contains(out, "see the errors below") || !strings.Contains(out, `Error: cannot observe primary "sales"`) {
		t.Errorf("got:\n%s", out)
	}
}
