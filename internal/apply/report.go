package apply

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/drsctl/drsctl/internal/plan"
)

// Reporter receives what apply does, as it happens. Implementations must be
// safe for concurrent use.
type Reporter interface {
	Started(a *plan.Action)
	Progress(a *plan.Action, percent int, message string)
	Finished(o *Outcome)
	Skipped(a *plan.Action, why string)
}

type discard struct{}

func (discard) Started(*plan.Action)               {}
func (discard) Progress(*plan.Action, int, string) {}
func (discard) Finished(*Outcome)                  {}
func (discard) Skipped(*plan.Action, string)       {}

// Lines reports plain lines, for logs, CI and cron: one when an action
// starts and ends, and progress at most every Interval per action.
type Lines struct {
	W        io.Writer
	Interval time.Duration // default 10s
	Now      func() time.Time
	// Quiet keeps only failures and skips (cron with -log-level=warn).
	Quiet bool

	mu   sync.Mutex
	last map[string]time.Time
}

func (l *Lines) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Lines) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.W, format, a...)
}

func (l *Lines) Started(a *plan.Action) {
	if !l.Quiet {
		l.printf("%s: started\n", describe(a))
	}
}

func (l *Lines) Progress(a *plan.Action, pct int, msg string) {
	if l.Quiet {
		return
	}
	iv := l.Interval
	if iv == 0 {
		iv = 10 * time.Second
	}
	l.mu.Lock()
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	now := l.now()
	if t, ok := l.last[a.ID]; ok && now.Sub(t) < iv && pct < 100 {
		l.mu.Unlock()
		return
	}
	l.last[a.ID] = now
	l.mu.Unlock()
	if msg == "" {
		l.printf("%s: %d%%\n", describe(a), pct)
		return
	}
	l.printf("%s: %d%% %s\n", describe(a), pct, msg)
}

func (l *Lines) Finished(o *Outcome) {
	el := o.Elapsed.Round(time.Millisecond)
	if l.Quiet && o.Err == nil {
		return
	}
	switch {
	case o.Err != nil:
		l.printf("%s: failed after %s: %v\n", describe(o.Action), el, o.Err)
	case o.Artifact != "" && (o.Action.Kind == plan.BackupFull || o.Action.Kind == plan.BackupLog):
		l.printf("%s: done in %s (%s)\n", describe(o.Action), el, o.Artifact)
	default:
		l.printf("%s: done in %s\n", describe(o.Action), el)
	}
}

func (l *Lines) Skipped(a *plan.Action, why string) { l.printf("%s: %s\n", describe(a), why) }

// JSON reports newline-delimited JSON messages (apply -json).
type JSON struct {
	W   io.Writer
	Now func() time.Time
	mu  sync.Mutex
}

func (j *JSON) emit(level, typ, text string, fields map[string]any) {
	now := time.Now()
	if j.Now != nil {
		now = j.Now()
	}
	m := plan.NewMessage(level, typ, text, now)
	for k, v := range fields {
		m[k] = v
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	json.NewEncoder(j.W).Encode(m)
}

func (j *JSON) Started(a *plan.Action) {
	j.emit("info", "apply_start", describe(a)+": started", map[string]any{"action": a})
}

func (j *JSON) Progress(a *plan.Action, pct int, msg string) {
	j.emit("info", "apply_progress", fmt.Sprintf("%s: %d%%", describe(a), pct), map[string]any{"id": a.ID, "action": ref(a), "percent": pct, "detail": msg})
}

func (j *JSON) Finished(o *Outcome) {
	f := map[string]any{"id": o.Action.ID, "action": ref(o.Action), "elapsed_seconds": o.Elapsed.Seconds()}
	if o.Artifact != "" {
		f["artifact"] = o.Artifact
	}
	if o.Err != nil {
		f["error"] = o.Err.Error()
		j.emit("error", "apply_errored", describe(o.Action)+": "+o.Err.Error(), f)
		return
	}
	j.emit("info", "apply_complete", describe(o.Action)+": done", f)
}

func (j *JSON) Skipped(a *plan.Action, why string) {
	j.emit("warn", "apply_skipped", describe(a)+": "+why, map[string]any{"id": a.ID, "action": ref(a), "reason": why})
}

// actionRef names an action in the messages after apply_start, which
// carries the whole action: enough to tell which target a progress, result
// or skip concerns without joining on the ID.
type actionRef struct {
	ID       string          `json:"id"`
	Kind     plan.ActionKind `json:"kind"`
	Primary  string          `json:"primary"`
	Database string          `json:"database"`
	Target   string          `json:"target,omitempty"`
}

func ref(a *plan.Action) actionRef {
	return actionRef{ID: a.ID, Kind: a.Kind, Primary: a.Primary, Database: a.Database, Target: a.Target}
}

// Summary emits the closing message of an apply.
func (j *JSON) Summary(text string, done, failed, skipped int) {
	j.emit("info", "apply_summary", text, map[string]any{"done": done, "failed": failed, "not_started": skipped})
}
