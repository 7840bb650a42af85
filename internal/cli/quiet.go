package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// A cron run (-log-level warn or error) speaks only when something is
// wrong: cron mails whatever a job prints, every 5 minutes. Warnings that
// persist ("taken outside drsctl", "promoted") are said once, when they
// appear, and again only after they went away and came back; drsctl plan
// shows them all, every time.

// saidPath is where a quiet run remembers the warnings it said: beside a
// local state, in the user's cache directory for a remote one.
func saidPath(m state.Manager) string {
	loc := m.Describe()
	if !strings.Contains(loc, "://") {
		return loc + ".said"
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(loc))
	return filepath.Join(dir, "drsctl", "said-"+hex.EncodeToString(sum[:8])+".json")
}

// said is a warning a quiet run says once: its key, and its words.
type said struct{ key, text string }

func warningKey(pr plan.Problem) string {
	what := pr.Summary
	if pr.Lasting != "" {
		what = pr.Lasting // the summary has a countdown or an amount in it
	}
	return strings.Join([]string{pr.Primary, pr.Database, pr.Target, what}, "\x00")
}

// sayNewWarnings prints, on stderr, the plan's warnings a quiet run has not
// said yet, and remembers the plan's warnings as said. A memory it cannot
// read or write makes it say everything: never silent.
func (e *Env) sayNewWarnings(p *plan.Plan, m state.Manager) {
	path := saidPath(m)
	before := map[string]bool{}
	if path != "" {
		if b, err := os.ReadFile(path); err == nil {
			var keys []string
			if json.Unmarshal(b, &keys) == nil {
				for _, k := range keys {
					before[k] = true
				}
			}
		}
	}
	warnings := e.configWarnings
	for _, pr := range p.Problems {
		if pr.Severity != plan.Warning {
			continue
		}
		l := "Warning: " + pr.Summary
		if w := problemWhere(pr); w != "" {
			l += " (" + w + ")"
		}
		if d, _, _ := strings.Cut(strings.TrimSpace(pr.Detail), "\n"); d != "" {
			l += "\n  " + d
		}
		warnings = append(warnings, said{key: warningKey(pr), text: l})
	}
	var now []string
	spoke := false
	for _, w := range warnings {
		now = append(now, w.key)
		if !before[w.key] {
			spoke = true
			fmt.Fprintf(e.Stderr, "%s\n  (said once while it lasts; drsctl plan shows it every time)\n", w.text)
		}
	}
	if path == "" {
		return
	}
	if len(p.Targets) > 0 {
		// A -target run does not look at the other targets: what was said
		// of them still stands, or the next full run says it again.
		for k := range before {
			if !slices.Contains(now, k) {
				now = append(now, k)
			}
		}
	}
	sort.Strings(now)
	if err := writeSaid(path, now); err != nil && spoke {
		fmt.Fprintf(e.Stderr, "drsctl cannot remember what it said (%v): each run says it again until it can write there.\n", err)
	}
}

// writeSaid replaces the memory of what was said. Two runs of one state
// are serialised by its lock; a temporary file of its own keeps a run of
// another state (or a killed run's leftover) from mixing into it.
func writeSaid(path string, keys []string) error {
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func problemWhere(pr plan.Problem) string {
	var where []string
	for _, kv := range [][2]string{{"primary", pr.Primary}, {"database", pr.Database}, {"target", pr.Target}} {
		if kv[1] != "" {
			where = append(where, fmt.Sprintf("%s %q", kv[0], kv[1]))
		}
	}
	return strings.Join(where, ", ")
}

// breachesAfter says, on stderr, which targets are past their RPO once a
// quiet run is done (from the ledger as the run left it), and returns
// ExitChanges when any is: what status -check says, said by the run that
// could not fix it.
func (e *Env) breachesAfter(cfg *config.Config, st *state.State, targets []string) int {
	after := plan.Make(cfg, st, nil, e.now(), plan.Options{Targets: targets})
	code := ExitOK
	for _, r := range after.RPO {
		if !r.Breach {
			continue
		}
		code = ExitChanges
		what := fmt.Sprintf("%s behind, through %s", plan.FormatDuration(r.Lag), r.Artifact)
		if r.Through.IsZero() {
			what = "nothing restored or shipped yet"
		}
		if r.Unknown != "" {
			what = r.Unknown
		}
		if r.Window != "" {
			what += "; " + r.Window
		}
		fmt.Fprintf(e.Stderr, "RPO breach: target %q database %q of primary %q: %s (limit %s)\n", r.Target, r.Database, r.Primary, what, plan.FormatDuration(r.Limit))
	}
	return code
}
