package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/state"
)

// TestMake_TwoPositionsFromTheServerDoNotReseed: the target's server gives
// two positions (restore history and redo_start_lsn). One is where the
// ledger says; the other ends no backup drsctl knows. The disagreement
// alone seeds nothing again: the next log is restored (the server decides:
// 4326 recorded as restored, 4305 a gap), with a warning naming both.
func TestMake_TwoPositionsFromTheServerDoNotReseed(t *testing.T) {
	for _, tc := range []struct {
		name            string
		history, server artifact.LSN
		want            []string
	}{
		{name: "history elsewhere, redo_start_lsn where the ledger says", history: "450", server: "400",
			want: []string{"restore_log:sales/Sales@dr_east#L3.trn"}},
		{name: "history where the ledger says, redo_start_lsn elsewhere", history: "400", server: "450",
			want: []string{"restore_log:sales/Sales@dr_east#L3.trn"}},
		{name: "neither where the ledger says, redo_start_lsn after a known log", history: "450", server: "500",
			want: []string{"record:sales/Sales@dr_east#L3.trn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := chainState(F, L1, L2, L3)
			at(st, "dr_east", true, F, L1, L2, L3)
			st.TargetDatabase("dr_east", "Sales").Restored = &state.Restore{Artifact: "L2.trn", Kind: artifact.Log, LastLSN: "400"}
			obs := observed(st, func(o *Observed) {
				d := o.Targets["dr_east"].Databases["Sales"]
				d.RedoLSN, d.ServerRedoLSN = tc.history, tc.server
				d.LastRestore = &engine.RestoreRecord{Kind: artifact.Log, FirstLSN: "300", LastLSN: tc.history, Path: "/dr_east/" + L2.Key}
			})
			p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
			if diff := cmp.Diff(sorted(tc.want...), ids(p)); diff != "" {
				t.Fatalf("actions (-want +got):\n%s", diff)
			}
			for _, pr := range p.Problems {
				if pr.Severity == Error {
					t.Errorf("problem: %s", pr.Summary)
				}
			}
		})
	}
}

// TestMake_TwoPositionsNeitherKnownIsLeftAlone: without a ledger position
// and with two positions that end no known backup, nothing is restored
// over it and nothing is seeded: an error says what to do.
func TestMake_TwoPositionsNeitherKnownIsLeftAlone(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	st.TargetDatabase("dr_east", "Sales").Restored = &state.Restore{Artifact: "gone.trn", Kind: artifact.Log, LastLSN: "450"}
	obs := observed(st, func(o *Observed) {
		d := o.Targets["dr_east"].Databases["Sales"]
		d.RedoLSN, d.ServerRedoLSN = "450", "460"
		d.LastRestore = &engine.RestoreRecord{Kind: artifact.Log, FirstLSN: "300", LastLSN: "450", Path: "/dr_east/" + L2.Key}
	})
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	for _, a := range p.Actions {
		if a.Target == "dr_east" && (a.Kind == RestoreFull || a.Kind == RestoreLog) {
			t.Errorf("restore planned over a database drsctl cannot place: %s", a.ID)
		}
	}
	found := false
	for _, pr := range p.Problems {
		found = found || pr.Severity == Error && strings.Contains(pr.Summary, "LSN 450 or LSN 460")
	}
	if !found {
		t.Errorf("no error naming both positions: %+v", p.Problems)
	}
}
