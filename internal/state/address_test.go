package state

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/drsctl/drsctl/internal/artifact"
)

func TestList(t *testing.T) {
	s := fullState()
	s.Database("eu.sales", `We"ird]DB`).Add(&Artifact{ID: `a"]b`, Header: artifact.Header{Kind: artifact.Full}})
	s.TargetDatabase("dr_east", "Archive")
	got := List(s)
	want := []string{
		`primary["eu.sales"].database["We\"ird]DB"]`,
		`primary["eu.sales"].database["We\"ird]DB"].artifact["a\"]b"]`,
		`primary.sales.database["Sales"]`,
		`primary.sales.database["Sales"].artifact["Sales_full_20261125T045500Z.bak"]`,
		`primary.sales.database["Sales"].artifact["Sales_log_20261125T050000Z.trn"]`,
		`target.dr_east.database["Archive"]`,
		`target.dr_east.database["Sales"]`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	// Every listed address can be shown.
	for _, addr := range got {
		if _, err := Show(s, addr); err != nil {
			t.Errorf("Show(%s): %v", addr, err)
		}
	}
}

func TestShow(t *testing.T) {
	s := fullState()
	tests := []struct {
		addr string
		want []string // substrings of the JSON view
	}{
		{`primary.sales.database["Sales"]`, []string{`"recovery_model":"FULL"`, `"identity":"0b6f3c1e-4d2a-4e8f-9a1b-7c6d5e4f3a2b"`, `"artifacts":[{"id":"Sales_full_20261125T045500Z.bak"`}},
		{`primary.sales.database["Sales"].artifact["Sales_full_20261125T045500Z.bak"]`, []string{`"new_fork":true`, `"completed":"2026-11-25T04:56:31.25Z"`}},
		{`primary["sales"].database["Sales"]`, []string{`"recovery_model":"FULL"`}},
		{`primary.sales.database["Sales"].artifact["Sales_log_20261125T050000Z.trn"]`, []string{`"kind":"log"`, `"last_lsn":"98765432109876543211000"`, `"pruned_at":"2026-11-26T04:55:00Z"`}},
		{`target.dr_east.database["Sales"]`, []string{`"seeded_from":"Sales_full_20261125T045500Z.bak"`, `"seeding":"Sales_full_20261125T045500Z.bak"`, `"restored":{"artifact"`, `"verified_at"`}},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			v, err := Show(s, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(raw), w) {
					t.Errorf("Show(%s) = %s\nwant it to contain %s", tc.addr, raw, w)
				}
			}
		})
	}
}

func TestShow_errors(t *testing.T) {
	s := fullState()
	tests := []struct {
		addr string
		want string
	}{
		{`primary.sales.database["Nope"]`, "no such address; try drsctl state list"},
		{`primary.nope.database["Sales"]`, "no such address; try drsctl state list"},
		{`primary.sales.database["Sales"].artifact["nope.bak"]`, "no such address; try drsctl state list"},
		{`target.dr_west.database["Sales"]`, "no such address; try drsctl state list"},
		{``, `expected "primary" or "target"`},
		{`resource.x`, `expected "primary" or "target"`},
		{`primary.sales`, `expected ".database"`},
		{`primary.sales.database.Sales`, `expected ["`},
		{`primary.sales.database["Sales`, "unterminated quoted name"},
		{`primary.sales.database["Sales\"]`, "unterminated quoted name"},
		{`primary.sales.database["Sales"`, `expected "]"`},
		{`primary.sales.database["Sa\qles"]`, "bad escape"},
		{`primary.sales.database["Sales"] `, "unexpected text"},
		{`primary.sales.database["Sales"].artifact`, `expected ["`},
		{`target.dr_east.database["Sales"].artifact["x"]`, "unexpected text"},
		{`primary.9x.database["Sales"]`, "expected a name"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			v, err := Show(s, tc.addr)
			if err == nil {
				t.Fatalf("Show succeeded: %+v", v)
			}
			if v != nil {
				t.Errorf("Show returned %#v with its error", v)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestParseAddress_roundTrip(t *testing.T) {
	for _, name := range []string{"Sales", `a"b`, `a]b`, `a\b`, `["x"]`, "tab\there", "ünïcode", " ", `"`} {
		for _, addr := range []string{databaseAddr("p-1", name), artifactAddr(name, name, name), targetDatabaseAddr(name, name)} {
			a, err := parseAddress(addr)
			if err != nil {
				t.Errorf("parseAddress(%s): %v", addr, err)
				continue
			}
			if a.database != name {
				t.Errorf("parseAddress(%s).database = %q, want %q", addr, a.database, name)
			}
		}
	}
}
