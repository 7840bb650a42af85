package cli

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/plan"
)

// lockedBuffer is a bytes.Buffer the test can read while bars render.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var escape = regexp.MustCompile(`\x1b\[(\d*)([A-Za-z])`)

// screen replays what bars wrote to a terminal (cursor up, erase below) and
// returns the lines left on it.
func screen(out string) []string {
	lines := []string{""}
	row := 0
	for len(out) > 0 {
		loc := escape.FindStringSubmatchIndex(out)
		text := out
		if loc != nil {
			text = out[:loc[0]]
		}
		for _, r := range text {
			if r == '\n' {
				row++
				if row == len(lines) {
					lines = append(lines, "")
				}
				continue
			}
			lines[row] += string(r)
		}
		if loc == nil {
			break
		}
		switch out[loc[4]:loc[5]] {
		case "A":
			n, _ := strconv.Atoi(out[loc[2]:loc[3]])
			row = max(row-n, 0)
		case "J":
			lines = append(lines[:row], "")
		}
		out = out[loc[1]:]
	}
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// barRows returns every bar row drawn, escapes removed.
func barRows(out string) []string {
	var rows []string
	for _, l := range strings.Split(escape.ReplaceAllString(out, ""), "\n") {
		if strings.Contains(l, "[") && strings.Contains(l, "%") {
			rows = append(rows, l)
		}
	}
	return rows
}

func TestBars(t *testing.T) {
	out := &lockedBuffer{}
	b := NewBars(out, false)
	b.Width = 60
	b.RefreshRate = 5 * time.Millisecond

	backup := &plan.Action{ID: "1", Kind: plan.BackupFull, Primary: "sql1", Database: "sales"}
	ship := &plan.Action{ID: "2", Kind: plan.Ship, Primary: "sql1", Database: "sales", Target: "dr-west",
		Artifact: "sales_FULL_20260101_000000_a_rather_long_artifact_name.bak"}
	restore := &plan.Action{ID: "3", Kind: plan.RestoreLog, Primary: "sql1", Database: "hr", Target: "dr-east",
		Artifact: "hr_LOG_1.trn", Mode: "norecovery"}
	skipped := &plan.Action{ID: "4", Kind: plan.RestoreLog, Primary: "sql1", Database: "hr", Target: "dr-east",
		Artifact: "hr_LOG_2.trn", Mode: "norecovery"}
	quiet := &plan.Action{ID: "5", Kind: plan.Verify, Primary: "sql1", Database: "crm", Target: "dr-west", Artifact: "crm.bak"}
	boom := errors.New("RESTORE LOG is terminated abnormally: the log in this backup set begins at LSN 42")

	var wg sync.WaitGroup
	for _, a := range []*plan.Action{backup, ship, restore} {
		wg.Go(func() {
			b.Started(a)
			for pct := 0; pct <= 100; pct += 10 {
				msg := fmt.Sprintf("%s at %d", a.Database, pct)
				if a.Kind == plan.Ship {
					msg = fmt.Sprintf("%d of %d bytes", int64(pct)<<24, int64(100)<<24)
				}
				b.Progress(a, pct, msg)
				if pct == 50 {
					// Wait for a frame showing it, so every bar is known to be drawn.
					frame := " 50% " + humanBytes(msg)
					deadline := time.Now().Add(time.Second)
					for !strings.Contains(out.String(), frame) && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
				}
				time.Sleep(time.Millisecond)
			}
			o := &apply.Outcome{Action: a, Elapsed: 1500 * time.Millisecond}
			if a == restore {
				o.Err = boom
			}
			if a == backup {
				o.Artifact = "sales_FULL_1.bak"
			}
			b.Finished(o)
			b.Progress(a, 100, "late") // after Finished: no bar comes back
		})
	}
	wg.Go(func() {
		b.Started(quiet)
		b.Finished(&apply.Outcome{Action: quiet, Elapsed: time.Millisecond})
		b.Skipped(skipped, "not started: sql1/hr → dr-east: restore log hr_LOG_1.trn failed")
	})
	wg.Wait()
	b.Close()
	b.Close() // idempotent

	raw := out.String()
	final := screen(raw)
	text := strings.Join(final, "\n")
	t.Logf("final screen:\n%s", text)
	t.Logf("bar rows:\n%s", strings.Join(barRows(raw), "\n"))

	want := []string{
		"sql1/sales: backup full: started",
		"sql1/sales: backup full: done in 1.5s (sales_FULL_1.bak)",
		barLabel(ship) + ": started",
		barLabel(ship) + ": done in 1.5s",
		barLabel(restore) + ": started",
		barLabel(restore) + ": failed after 1.5s: " + boom.Error(),
		barLabel(quiet) + ": started",
		barLabel(quiet) + ": done in 1ms",
		barLabel(skipped) + ": not started: sql1/hr → dr-east: restore log hr_LOG_1.trn failed",
	}
	for _, w := range want {
		n := 0
		for _, l := range final {
			if l == w {
				n++
			}
		}
		if n != 1 {
			t.Errorf("final screen has %d lines %q, want 1", n, w)
		}
	}
	if len(final) != len(want) {
		t.Errorf("final screen has %d lines, want %d: bars must be gone", len(final), len(want))
	}

	rows := barRows(raw)
	if len(rows) == 0 {
		t.Fatal("no bar was drawn")
	}
	drawn := map[string]bool{}
	for _, r := range rows {
		if n := utf8.RuneCountInString(r); n > b.Width-1 {
			t.Errorf("bar row of %d columns, want at most %d: %q", n, b.Width-1, r)
		}
		if strings.Contains(r, "crm") {
			t.Errorf("an action without progress got a bar: %q", r)
		}
		if strings.Contains(r, "late") {
			t.Errorf("progress after Finished was drawn: %q", r)
		}
		for _, m := range []string{" 50% sales at 50", " 50% hr at 50", " 50% 800.0 MiB of 1.6 GiB"} {
			if strings.HasSuffix(r, m) {
				drawn[m] = true
			}
		}
		if strings.HasPrefix(r, "sql1/sales → dr-w") {
			if !strings.Contains(r, "…") || !strings.Contains(r, "iB of 1.6 GiB") {
				t.Errorf("ship row should have a truncated label and sizes in IEC units: %q", r)
			}
		}
	}
	if len(drawn) != 3 {
		t.Errorf("want a bar at 50%% for each of the 3 actions, got %v in:\n%s", drawn, strings.Join(rows, "\n"))
	}

	// After Close, reports are plain lines.
	b.Skipped(skipped, "after close")
	if !strings.HasSuffix(out.String(), barLabel(skipped)+": after close\n") {
		t.Errorf("line after Close not printed directly: %q", out.String()[max(len(out.String())-80, 0):])
	}
}

func TestBarsNothingReported(t *testing.T) {
	var out bytes.Buffer
	b := NewBars(&out, true)
	b.Close()
	if out.Len() != 0 {
		t.Errorf("output %q, want none", out.String())
	}
	b.Started(&plan.Action{ID: "1", Kind: plan.Promote, Primary: "p", Database: "d", Target: "t"})
	if got := out.String(); got != "p/d → t: promote: started\n" {
		t.Errorf("after Close: %q", got)
	}
}

func TestBarsColorAndStartOnlyLines(t *testing.T) {
	out := &lockedBuffer{}
	b := NewBars(out, true)
	b.RefreshRate = time.Hour // only Close draws
	a := &plan.Action{ID: "1", Kind: plan.BackupLog, Primary: "p", Database: "d"}
	b.Started(a)
	b.Finished(&apply.Outcome{Action: a, Err: errors.New("disk full"), Elapsed: time.Second})
	b.Close()
	got := out.String()
	if !strings.Contains(got, "p/d: backup log: started\n") || !strings.Contains(got, "\x1b[31mfailed\x1b[0m after 1s: disk full\n") {
		t.Errorf("output %q", got)
	}
	if strings.Contains(got, "%") {
		t.Errorf("a bar was drawn for an action without progress: %q", got)
	}
}

func TestBarHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"512 of 2048 bytes":              "512 B of 2.0 KiB",
		"1610612736 of 3221225472 bytes": "1.5 GiB of 3.0 GiB",
		"10 percent processed":           "10 percent processed",
		"x of 3 bytes":                   "x of 3 bytes",
	} {
		if got := humanBytes(in); got != want {
			t.Errorf("humanBytes(%q) = %q, want %q", in, got, want)
		}
	}
	if got := fit("a → b: ship", 6); got != "a → b…" {
		t.Errorf("fit = %q", got)
	}
	if got := fit("ab", 4); got != "ab  " {
		t.Errorf("fit = %q", got)
	}
	for _, w := range []int{10, 40, 100, 300} {
		l := newLayout(w)
		if total := l.rest + l.bar + pctCols + rowSpaces; w >= 21 && total > w-1 {
			t.Errorf("width %d: layout takes %d columns", w, total)
		}
	}
}
