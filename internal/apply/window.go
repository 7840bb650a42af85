package apply

import (
	"errors"
	"fmt"

	"github.com/drsctl/drsctl/internal/plan"
)

// notStarted is what a step returns when it decides, right before it would
// start, that it must not start now. It is reported as not started, like an
// action whose dependency did not complete, not as a failure: cron does not
// mail an error for it and apply exits 0, and the next plan plans it again.
type notStarted struct{ why string }

func (e *notStarted) Error() string { return e.why }

// asNotStarted returns why err is a step that did not start, or "".
func asNotStarted(err error) string {
	var ns *notStarted
	if errors.As(err, &ns) {
		return ns.why
	}
	return ""
}

// outsideRestoreWindow refuses to start a restore on a target whose
// restore_window is closed by the runner's clock. The plan already leaves
// such restores out, but a plan saved on a pull request may be applied hours
// later, and a long apply may reach a restore after the window has closed:
// the clock that counts is the one when the restore would start. A restore
// that has started is not interrupted when the window closes (cutting a
// RESTORE short would leave the database mid-restore, disconnecting readers
// for longer). A failover is not held back: a plan that promotes the
// database restores what it can first, whatever the hour.
func (x *execution) outsideRestoreWindow(a *plan.Action) error {
	t := x.r.Config.TargetByName(a.Target)
	if t == nil || len(t.RestoreWindows) == 0 {
		return nil
	}
	now := x.r.Now()
	if t.RestoreWindows.Open(now) || x.promotes(a.Target, a.Database) {
		return nil
	}
	return &notStarted{fmt.Sprintf("not started: target %q's restore window (%s) is closed; nothing was restored, and the first apply after it opens at %s restores it",
		t.Name, t.RestoreWindows, t.RestoreWindows.NextOpenText(now))}
}

// promotes reports whether this plan promotes the database on the target.
func (x *execution) promotes(target, database string) bool {
	for _, a := range x.byID {
		if a.Kind == plan.Promote && a.Target == target && a.Database == database {
			return true
		}
	}
	return false
}
