package apply

import (
	"bytes"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/plan"
)

// Plain progress lines (cron, CI, logs) show the percentage once, and the
// server's words only when they add something.
func TestLines_ProgressShowsThePercentageOnce(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	l := &Lines{W: &out, Interval: time.Second, Now: func() time.Time { return clock }}
	restore := &plan.Action{ID: "r", Kind: plan.RestoreLog, Primary: "sales", Database: "Sales", Target: "east", Mode: "standby", Artifact: "1.trn"}
	ship := &plan.Action{ID: "s", Kind: plan.Ship, Primary: "sales", Database: "Sales", Target: "west", Artifact: "1.trn"}
	l.Progress(restore, 10, "")
	l.Progress(ship, 40, "400 of 1000 bytes")
	clock = clock.Add(2 * time.Second)
	l.Progress(restore, 100, "")
	want := "sales/Sales → east: restore log 1.trn WITH STANDBY: 10%\n" +
		"sales/Sales → west: ship 1.trn: 40% 400 of 1000 bytes\n" +
		"sales/Sales → east: restore log 1.trn WITH STANDBY: 100%\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}
