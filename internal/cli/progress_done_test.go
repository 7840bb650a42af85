package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/plan"
)

// Once an action's "done" line is printed its bar is never drawn again: not
// in the frame that prints the line (mpb renders an aborted bar one last
// time before it drops it), not at Close, not for progress that arrives
// late. A bar redrawn under its done line reads as work still running.
func TestBars_NoBarDrawnAfterItsDoneLine(t *testing.T) {
	for round := range 20 { // the race is between Finished and the next frame: try it often
		out := &lockedBuffer{}
		b := NewBars(out, false)
		b.Width = 80
		b.RefreshRate = time.Millisecond
		a := &plan.Action{ID: "1", Kind: plan.RestoreLog, Primary: "sql1", Database: "hr", Target: "dr", Artifact: "hr_1.trn", Mode: "norecovery"}
		other := &plan.Action{ID: "2", Kind: plan.Ship, Primary: "sql1", Database: "crm", Target: "dr", Artifact: "crm.bak"}
		b.Started(a)
		b.Started(other)
		b.Progress(other, 30, "")
		for pct := 0; pct <= 90; pct += 10 {
			b.Progress(a, pct, fmt.Sprintf("step %d", pct))
			deadline := time.Now().Add(time.Second)
			for !strings.Contains(out.String(), fmt.Sprintf(" %d%% step %d", pct, pct)) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
		}
		b.Finished(&apply.Outcome{Action: a, Elapsed: time.Second})
		b.Progress(a, 100, "late")
		time.Sleep(10 * time.Millisecond) // frames after the done line, the other bar still running
		b.Progress(other, 60, "")
		time.Sleep(10 * time.Millisecond)
		b.Finished(&apply.Outcome{Action: other, Elapsed: time.Second})
		b.Close()

		raw := escape.ReplaceAllString(out.String(), "")
		for _, x := range []*plan.Action{a, other} {
			done := barLabel(x) + ": done in 1s"
			i := strings.Index(raw, done)
			if i < 0 {
				t.Fatalf("no done line for %s in %q", x.ID, raw)
			}
			after := raw[i+len(done):]
			for _, row := range barRows(after) {
				if strings.HasPrefix(row, "sql1/"+x.Database) {
					t.Fatalf("round %d: the bar of %s was drawn after its done line: %q in\n%s", round, x.Database, row, after)
				}
			}
			if x == a && !strings.Contains(after, " 60%") {
				t.Fatalf("round %d: the other bar stopped being drawn:\n%s", round, after)
			}
		}
		if strings.Contains(raw, doneMark) {
			t.Fatalf("round %d: the done mark reached the terminal", round)
		}
		if final := screen(out.String()); len(final) != 4 {
			t.Fatalf("round %d: final screen %q, want the 4 lines only", round, final)
		}
	}
}
