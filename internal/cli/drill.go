package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
)

// DrillOptions are drill's flags.
type DrillOptions struct {
	Target    string
	Databases []string
	// At, when set, drills that point in time (STOPAT) instead of the
	// newest backup at the destination.
	At          time.Time
	JSON        bool
	LockTimeout time.Duration
}

// drillJSON is one drill as `drill -json` prints it (a line per database).
type drillJSON struct {
	Type     string    `json:"type"` // "drill"
	Target   string    `json:"target"`
	Database string    `json:"database"`
	Scratch  string    `json:"scratch_database,omitempty"`
	Backups  []string  `json:"backups,omitempty"`
	At       time.Time `json:"at,omitzero"`
	Duration float64   `json:"duration_seconds"`
	Through  time.Time `json:"through,omitzero"`
	StopAt   time.Time `json:"stop_at,omitzero"`
	OK       bool      `json:"ok"`
	Recorded bool      `json:"recorded"`
	Check    string    `json:"check,omitempty"`
	Dropped  bool      `json:"scratch_dropped"`
	Error    string    `json:"error,omitempty"`
	Warning  string    `json:"warning,omitempty"`
}

// Drill runs `drsctl drill TARGET`: for each database, restores the newest
// verified chain at the target's destination (or the chain up to -at) into
// a scratch database on the target's server, checks it, drops it and
// records the result. The standby databases are not touched. It holds the
// state lock like apply and promote: it writes the ledger.
func (e *Env) Drill(ctx context.Context, g Globals, o DrillOptions) int {
	cfg, ok := e.loadConfig(g)
	if !ok {
		return ExitError
	}
	t, dbs, err := standbySelection(cfg, "drill", o.Target, o.Databases)
	if err != nil {
		return e.errorf("%v", err)
	}
	m, st, release, err := e.lockedState(ctx, cfg, g, "drill", o.LockTimeout)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer release()
	runner := &apply.Runner{Config: cfg, Engines: e.Engines, State: m, Now: e.now}
	code := ExitOK
	for _, db := range dbs {
		opts := apply.DrillOptions{Target: t.Name, Database: db, At: o.At}
		if !o.JSON && !e.quiet {
			opts.Progress = func(step string) {
				fmt.Fprintf(e.Stdout, "%s/%s → %s: drill: %s\n", t.Primary.Name, db, t.Name, step)
			}
		}
		out, err := runner.Drill(ctx, st, opts)
		if err != nil {
			code = ExitError
		}
		if o.JSON {
			e.drillJSON(out, err)
			continue
		}
		e.drillHuman(out, err)
	}
	return code
}

func (e *Env) drillHuman(out *apply.DrillOutcome, err error) {
	d := out.Drill
	if d == nil {
		// Nothing ran, nothing was recorded.
		fmt.Fprintf(e.Stderr, "Error: %v\n", err)
		return
	}
	w := e.Stdout
	fmt.Fprintf(w, "\nDrill of %q on target %q, in scratch database %s:\n", out.Database, out.Target, out.Scratch)
	restored := out.Backups[0]
	if len(out.Backups) > 1 {
		restored = fmt.Sprintf("%s through %s (%d backups)", out.Backups[0], out.Backups[len(out.Backups)-1], len(out.Backups))
	}
	if d.OK {
		fmt.Fprintf(w, "  restored:  %s\n", restored)
	} else {
		fmt.Fprintf(w, "  chain:     %s\n", restored)
	}
	if !d.StopAt.IsZero() {
		fmt.Fprintf(w, "  stopped at %s (STOPAT)\n", d.StopAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "  data through %s\n", d.Through.UTC().Format(time.RFC3339))
	if out.Gap != "" {
		fmt.Fprintf(w, "  warning:   %s\n", out.Gap)
	}
	if d.Check != "" {
		fmt.Fprintf(w, "  check:     %s\n", d.Check)
	}
	if out.Left {
		fmt.Fprintf(w, "  scratch database %s was NOT dropped: drop it by hand\n", out.Scratch)
	} else if d.OK {
		fmt.Fprintf(w, "  scratch database %s dropped\n", out.Scratch)
	} else {
		fmt.Fprintf(w, "  no scratch database left on the server\n")
	}
	if d.OK {
		fmt.Fprintf(w, "Drill passed in %s.\n", fmtElapsed(d.Duration))
		return
	}
	fmt.Fprintf(w, "Drill FAILED in %s (recorded in the state).\n", fmtElapsed(d.Duration))
	fmt.Fprintf(e.Stderr, "Error: drill of %q on target %q failed: %s\n", out.Database, out.Target, indentLines(d.Error))
}

func (e *Env) drillJSON(out *apply.DrillOutcome, err error) {
	j := drillJSON{Type: "drill", Target: out.Target, Database: out.Database, Scratch: out.Scratch, Backups: out.Backups, Dropped: !out.Left, Warning: out.Gap}
	if d := out.Drill; d != nil {
		j.At, j.Duration, j.Through, j.StopAt, j.OK, j.Check, j.Error, j.Recorded = d.At, d.Duration.Seconds(), d.Through, d.StopAt, d.OK, d.Check, d.Error, true
	} else if err != nil {
		j.Error = err.Error()
	}
	b, merr := json.Marshal(j)
	if merr != nil {
		fmt.Fprintf(e.Stderr, "Error: %v\n", merr)
		return
	}
	fmt.Fprintln(e.Stdout, string(b))
}

func fmtElapsed(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func indentLines(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }
