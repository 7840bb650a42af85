package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/state"
)

// timedWriter keeps what is written and when the first and last writes
// happened. An apply writes its plan after it took the lock and its
// summary before it releases it, so [first, last] lies within the time it
// held the lock.
type timedWriter struct {
	mu          sync.Mutex
	buf         bytes.Buffer
	first, last time.Time
}

func (w *timedWriter) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.first.IsZero() {
		w.first = now
	}
	w.last = now
	return w.buf.Write(p)
}

func (w *timedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

type run struct {
	code   int
	stdout *timedWriter
	stderr *timedWriter
}

// applyAtOnce starts n applies on h's state together, each as its own
// process would (its own Env and state manager), each holding the lock for
// hold once it has it (cli.TestHoldLockEnv; 0: not at all) so that they
// surely overlap.
func applyAtOnce(h *harness, n int, lockTimeout, hold time.Duration) []run {
	runs := make([]run, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range runs {
		runs[i] = run{stdout: &timedWriter{}, stderr: &timedWriter{}}
		base := h.env()
		e := &cli.Env{Stdout: runs[i].stdout, Stderr: runs[i].stderr, Stdin: strings.NewReader(""),
			Engines: base.Engines, Now: base.Now, Version: base.Version,
			Getenv: func(k string) (string, bool) {
				if k == cli.TestHoldLockEnv && hold > 0 {
					return hold.String(), true
				}
				return base.Getenv(k)
			}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			runs[i].code = e.Apply(context.Background(), h.globals(),
				cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4, LockTimeout: lockTimeout})
		}()
	}
	close(start)
	wg.Wait()
	return runs
}

// serialReference is the ledger, state serial and restores that n applies
// run one after another give, on a harness set up as newConcurrencyHarness.
func serialReference(t *testing.T, n int) (ledger, uint64, map[string]int) {
	h := newConcurrencyHarness(t)
	for range n {
		if code := h.apply(); code != 0 {
			t.Fatalf("serial apply: exit %d", code)
		}
	}
	st := h.state()
	return summarize(st), st.Serial, restoresDone(h)
}

func newConcurrencyHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.drv.Server("primary").Insert("Sales", 1, 2, 3)
	return h
}

// restoresDone counts the restores that took effect on each standby, by
// server, database and backup file.
func restoresDone(h *harness) map[string]int {
	n := map[string]int{}
	for _, srv := range []string{"east", "west"} {
		for _, ev := range h.drv.Server(srv).Restores() {
			if ev.Done {
				n[srv+" "+ev.Database+" "+filepath.Base(ev.Path)]++
			}
		}
	}
	return n
}

// checkTurns fails unless the runs' lock-holding spans are disjoint.
func checkTurns(t *testing.T, runs []run) {
	t.Helper()
	type span struct {
		i           int
		first, last time.Time
	}
	var spans []span
	for i, r := range runs {
		r.stdout.mu.Lock()
		if !r.stdout.first.IsZero() {
			spans = append(spans, span{i, r.stdout.first, r.stdout.last})
		}
		r.stdout.mu.Unlock()
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].first.Before(spans[b].first) })
	for k := 1; k < len(spans); k++ {
		if prev, cur := spans[k-1], spans[k]; !cur.first.After(prev.last) {
			t.Errorf("apply %d wrote from %s while apply %d still held the lock (until %s)",
				cur.i, cur.first.Format("15:04:05.000000"), prev.i, prev.last.Format("15:04:05.000000"))
		}
	}
}

// Applies started together on one state take turns: each waits for the
// lock (saying for whom), none loses another's update, nothing is restored
// twice, and the ledger is what the same applies give one after another.
func TestApply_ConcurrentRunsTakeTurns(t *testing.T) {
	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d applies", n), func(t *testing.T) {
			wantLedger, wantSerial, wantRestores := serialReference(t, n)

			h := newConcurrencyHarness(t)
			runs := applyAtOnce(h, n, time.Minute, 50*time.Millisecond)
			waited := 0
			for i, r := range runs {
				if r.code != 0 {
					t.Errorf("apply %d: exit %d\n%s\n%s", i, r.code, r.stdout, r.stderr)
				}
				if strings.Contains(r.stderr.String(), "Waiting up to 1m0s for the state lock: ") {
					waited++
				}
			}
			if waited != n-1 {
				t.Errorf("%d applies waited for the lock, want %d", waited, n-1)
			}
			checkTurns(t, runs)
			st := h.state()
			if diff := cmp.Diff(wantLedger, summarize(st)); diff != "" {
				t.Errorf("ledger after %d concurrent applies differs from %d serial ones (-serial +concurrent):\n%s", n, n, diff)
			}
			// Every write is a compare-and-swap from the serial it read: a
			// lost update would have failed an apply or left a lower serial.
			// Group commit makes the number of writes (the serial) vary
			// from run to run; none is lost if some run wrote at all.
			if st.Serial == 0 || wantSerial == 0 {
				t.Errorf("serial %d after %d concurrent applies, %d after serial ones", st.Serial, n, wantSerial)
			}
			got := restoresDone(h)
			for k, c := range got {
				if c > 1 {
					t.Errorf("restored %d times: %s", c, k)
				}
			}
			if diff := cmp.Diff(wantRestores, got); diff != "" {
				t.Errorf("restores differ from serial applies' (-serial +concurrent):\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(h.dir, "drs.state.json.lock")); !os.IsNotExist(err) {
				t.Errorf("lock left behind (%v)", err)
			}
		})
	}
}

var lockedID = regexp.MustCompile(`(?m)^  ID:        (\S+)$`)

// Applies started together without -lock-timeout: one runs, the others
// fail at once, naming it (who, what, since when), and change nothing.
func TestApply_ConcurrentRunsWithoutTimeoutFailNamingTheHolder(t *testing.T) {
	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d applies", n), func(t *testing.T) {
			wantLedger, wantSerial, wantRestores := serialReference(t, 1)

			h := newConcurrencyHarness(t)
			runs := applyAtOnce(h, n, 0, time.Second)
			won, holders := 0, map[string]bool{}
			for i, r := range runs {
				if r.code == 0 {
					won++
					continue
				}
				errs := r.stderr.String()
				for _, want := range []string{"Error: state is locked\n", "  Operation: apply\n", "  Who:       ", "@", "  Created:   " + time.Now().UTC().Format("2006-01-02T"), "force-unlock "} {
					if !strings.Contains(errs, want) {
						t.Errorf("apply %d: exit %d, and stderr lacks %q:\n%s", i, r.code, want, errs)
					}
				}
				if m := lockedID.FindStringSubmatch(errs); m != nil {
					holders[m[1]] = true
				}
				if r.stdout.String() != "" {
					t.Errorf("apply %d failed for the lock but printed:\n%s", i, r.stdout)
				}
			}
			if won != 1 || len(holders) != 1 {
				t.Errorf("%d applies ran and the others named %d holders %v; want 1 and 1", won, len(holders), holders)
			}
			st := h.state()
			if diff := cmp.Diff(wantLedger, summarize(st)); diff != "" || st.Serial == 0 || wantSerial == 0 {
				t.Errorf("ledger (serial %d, want %d) differs from one apply's (-one +concurrent):\n%s", st.Serial, wantSerial, diff)
			}
			if diff := cmp.Diff(wantRestores, restoresDone(h)); diff != "" {
				t.Errorf("restores differ from one apply's (-one +concurrent):\n%s", diff)
			}
		})
	}
}

// A run holding the lock (another operator's apply): applies with a short
// -lock-timeout wait that long and fail naming it; applies with a long one
// start, in turn, once it is released.
func TestApply_WaitsForTheHolderUpToLockTimeout(t *testing.T) {
	h := newConcurrencyHarness(t)
	m := state.NewLocal(filepath.Join(h.dir, "drs.state.json"), state.LocalOptions{})
	lease, err := m.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	holder := lease.Info()

	start := time.Now()
	runs := applyAtOnce(h, 4, 200*time.Millisecond, 0)
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("gave up after %v, before -lock-timeout", waited)
	}
	for i, r := range runs {
		errs := r.stderr.String()
		for _, want := range []string{
			fmt.Sprintf("Waiting up to 200ms for the state lock: %s has held it for apply since %s (ID %s).", holder.Who, holder.Created.Format(time.RFC3339), holder.ID),
			"  ID:        " + holder.ID + "\n", "  Who:       " + holder.Who + "\n",
		} {
			if r.code != 1 || !strings.Contains(errs, want) {
				t.Errorf("apply %d: exit %d; want 1 and %q in:\n%s", i, r.code, want, errs)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(h.dir, "drs.state.json")); !os.IsNotExist(err) {
		t.Errorf("applies that never had the lock wrote the state (%v)", err)
	}

	go func() {
		time.Sleep(100 * time.Millisecond)
		lease.Unlock()
	}()
	runs = applyAtOnce(h, 4, time.Minute, 0)
	for i, r := range runs {
		if r.code != 0 {
			t.Errorf("apply %d after the holder left: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	checkTurns(t, runs)
	wantLedger, wantSerial, _ := serialReference(t, 4)
	if st := h.state(); st.Serial == 0 || wantSerial == 0 || !cmp.Equal(summarize(st), wantLedger) {
		t.Errorf("ledger after the four (serial %d, want %d): %s", st.Serial, wantSerial, cmp.Diff(wantLedger, summarize(st)))
	}
}
