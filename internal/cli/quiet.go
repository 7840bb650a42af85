package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	for _, w := range warnings {
		now = append(now, w.key)
		if !before[w.key] {
			fmt.Fprintf(e.Stderr, "%s\n  (said once while it lasts; drsctl plan shows it every time)\n", w.text)
		}
	}
	if path == "" {
		return
	}
	sort.Strings(now)
	b, _ := json.Marshal(now)
	tmp := path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
		if err := os.WriteFile(tmp, b, 0o600); err == nil {
			if os.Rename(tmp, path) != nil {
				os.Remove(tmp)
			}
		}
	}
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
