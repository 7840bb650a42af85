package plan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/engine"
)

// What an engine advises about a connection or its login (an unverified
// certificate, a missing grant) shows as a warning, once per server, and
// changes nothing the plan does.
func TestMake_EngineAdviceIsAWarning(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	quiet := Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
	advised := Make(only(testConfig(), "dr_east"), st, observed(st, func(o *Observed) {
		o.Primaries["sales"].Advice = []engine.Advice{{Summary: "login [drs] may not back up [Sales]", Detail: "USE [Sales]; …"}}
		o.Targets["dr_east"].Advice = []engine.Advice{{Summary: "login [drs] lacks VIEW SERVER STATE", Detail: "GRANT VIEW SERVER STATE TO [drs];"}}
	}), now, Options{})
	if strings.Join(ids(quiet), " ") != strings.Join(ids(advised), " ") {
		t.Errorf("advice changed the actions: %v, then %v", ids(quiet), ids(advised))
	}
	var got []string
	for _, pr := range advised.Problems {
		if pr.Severity != Warning {
			t.Errorf("%s: severity %s", pr.Summary, pr.Severity)
		}
		got = append(got, pr.Summary+" | "+pr.Detail)
	}
	want := []string{
		`primary "sales": login [drs] may not back up [Sales] | USE [Sales]; …`,
		`target "dr_east": login [drs] lacks VIEW SERVER STATE | GRANT VIEW SERVER STATE TO [drs];`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var buf bytes.Buffer
	if err := WriteHuman(&buf, advised, Style{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `Warning: target "dr_east": login [drs] lacks VIEW SERVER STATE`) {
		t.Errorf("rendered:\n%s", buf.String())
	}
}
