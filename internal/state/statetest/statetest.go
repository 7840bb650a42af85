// Package statetest is the conformance suite of state.Manager: every place
// a ledger can live (a local file, S3, Azure Blob) passes the same tests of
// the compare-and-swap on the serial and of the lock.
package statetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/state"
)

// Options configure one run's Manager.
type Options struct {
	// TTL of the lock (Backend.TTL unless a test says otherwise).
	TTL time.Duration
	// Warnf receives the Manager's warnings.
	Warnf func(format string, a ...any)
}

// Instance is one run's Manager on the shared state.
type Instance struct {
	state.Manager
	// Cut(true) makes every access of this run to the state fail, as if it
	// were killed or cut off (its lease can no longer renew); Cut(false)
	// restores it.
	Cut func(on bool)
}

// Backend is a place a ledger can live.
type Backend struct {
	// TTL is the lock TTL the tests use: short, but long enough for a few
	// round trips to the store (the heartbeat renews every TTL/6).
	TTL time.Duration
	// New prepares an empty location for one test and returns how to open
	// a run's Manager on it; every Manager opened so shares one ledger and
	// one lock, as separate drsctl processes would.
	New func(t *testing.T) func(o Options) Instance
	// WriteNeedsLock says that Write's compare-and-swap is atomic only
	// among runs that hold the lock (a local file: compare, then rename),
	// so the racing writers take it; a remote ledger's conditional create
	// makes exactly one of them win without it.
	WriteNeedsLock bool
}

// Warnings collects warnings.
type Warnings struct {
	mu   sync.Mutex
	msgs []string
}

// Warnf records a warning.
func (w *Warnings) Warnf(format string, a ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, fmt.Sprintf(format, a...))
}

// All returns the warnings, one a line.
func (w *Warnings) All() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

// sample returns a new ledger with something in it.
func sample(lineage, model string) *state.State {
	s := state.New(lineage)
	s.Database("sales", "Sales").RecoveryModel = model
	s.TargetDatabase("dr", "Sales").SeededFrom = "full-1"
	s.Track() // later writes are journal entries of what changed
	return s
}

func model(t *testing.T, s *state.State) string {
	t.Helper()
	d := s.LookupDatabase("sales", "Sales")
	if d == nil {
		t.Fatalf("state at serial %d has no sales/Sales", s.Serial)
	}
	return d.RecoveryModel
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	ctx := context.Background()
	open := func(t *testing.T) func(o Options) Instance {
		newRun := b.New(t)
		return func(o Options) Instance {
			if o.TTL == 0 {
				o.TTL = b.TTL
			}
			return newRun(o)
		}
	}

	t.Run("ReadNothing", func(t *testing.T) {
		m := open(t)(Options{})
		s, err := m.Read(ctx)
		if s != nil || err != nil {
			t.Fatalf("Read of nothing = %v, %v; want nil, nil", s, err)
		}
		if m.Describe() == "" {
			t.Error("Describe is empty")
		}
	})

	t.Run("NewStateAndSerials", func(t *testing.T) {
		newRun := open(t)
		m := newRun(Options{})
		stale := sample(state.NewLineage(), "FULL")
		stale.Serial = 3
		if err := m.Write(ctx, stale); !errors.Is(err, state.ErrConflict) || stale.Serial != 3 {
			t.Errorf("write at serial 3 over nothing: err = %v, serial %d; want ErrConflict, 3", err, stale.Serial)
		}
		s := sample(state.NewLineage(), "FULL")
		if err := m.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
		if s.Serial != 1 {
			t.Fatalf("new state written with serial %d, want 1", s.Serial)
		}
		for i := 2; i <= 12; i++ {
			s.Database("sales", "Sales").RecoveryModel = fmt.Sprintf("m%d", i)
			if err := m.Write(ctx, s); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			if s.Serial != uint64(i) {
				t.Fatalf("write %d left serial %d", i, s.Serial)
			}
		}
		// Another run reads what this one wrote.
		got, err := newRun(Options{}).Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Lineage != s.Lineage || got.Serial != 12 || model(t, got) != "m12" {
			t.Errorf("read lineage %s serial %d model %s; want %s 12 m12", got.Lineage, got.Serial, model(t, got), s.Lineage)
		}
		if got.LookupTargetDatabase("dr", "Sales") == nil || got.LookupTargetDatabase("dr", "Sales").SeededFrom != "full-1" {
			t.Errorf("target record lost: %+v", got.Targets)
		}
		// A second new ledger over it is refused.
		again := sample(state.NewLineage(), "SIMPLE")
		if err := newRun(Options{}).Write(ctx, again); !errors.Is(err, state.ErrConflict) || again.Serial != 0 {
			t.Errorf("new ledger over an existing one: err = %v, serial %d", err, again.Serial)
		}
	})

	t.Run("CompareAndSwap", func(t *testing.T) {
		newRun := open(t)
		m1, m2 := newRun(Options{}), newRun(Options{})
		s := sample(state.NewLineage(), "FULL")
		if err := m1.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
		a, err := m1.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m2.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a.Database("sales", "Sales").RecoveryModel = "by-a"
		b.Database("sales", "Sales").RecoveryModel = "by-b"
		if err := m1.Write(ctx, a); err != nil {
			t.Fatal(err)
		}
		err = m2.Write(ctx, b)
		if !errors.Is(err, state.ErrConflict) || b.Serial != 1 {
			t.Fatalf("stale write: err = %v, serial %d; want ErrConflict, 1", err, b.Serial)
		}
		if !strings.Contains(err.Error(), "plan again") {
			t.Errorf("conflict does not tell the operator what to do: %v", err)
		}
		got, err := m2.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Serial != 2 || model(t, got) != "by-a" {
			t.Errorf("after the race: serial %d model %s, want 2 by-a", got.Serial, model(t, got))
		}
		// Lineage: another ledger's state at the same serial.
		other := sample(state.NewLineage(), "other")
		other.Serial = 2
		err = m2.Write(ctx, other)
		if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "lineage") {
			t.Errorf("write of another lineage: err = %v; want ErrConflict naming the lineage", err)
		}
	})

	t.Run("WritersRace", func(t *testing.T) {
		newRun := open(t)
		s := sample(state.NewLineage(), "FULL")
		if err := newRun(Options{}).Write(ctx, s); err != nil {
			t.Fatal(err)
		}
		const writers = 6
		var won atomic.Int32
		var wg sync.WaitGroup
		var winner atomic.Value
		ms := make([]Instance, writers)
		read := make([]*state.State, writers)
		for i := range ms {
			ms[i] = newRun(Options{})
			var err error
			if read[i], err = ms[i].Read(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for i, m := range ms {
			mine := read[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("writer-%d", i)
				mine.Database("sales", "Sales").RecoveryModel = name
				if b.WriteNeedsLock {
					lease, err := m.Lock(ctx, "apply", 100*b.TTL)
					if err != nil {
						t.Error(err)
						return
					}
					defer lease.Unlock()
				}
				err := m.Write(ctx, mine)
				switch {
				case err == nil:
					won.Add(1)
					winner.Store(name)
				case !errors.Is(err, state.ErrConflict):
					t.Errorf("%s: %v", name, err)
				}
			}()
		}
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Fatalf("%d of %d racing writers succeeded, want exactly 1", n, writers)
		}
		got, err := newRun(Options{}).Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Serial != 2 || model(t, got) != winner.Load() {
			t.Errorf("ledger at serial %d holds %s, want 2 and the winner %s", got.Serial, model(t, got), winner.Load())
		}
	})

	t.Run("LockHeld", func(t *testing.T) {
		newRun := open(t)
		m1, m2 := newRun(Options{}), newRun(Options{})
		lease, err := m1.Lock(ctx, "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		info := lease.Info()
		if info.ID == "" || info.Operation != "apply" || !info.Expires.After(info.Created) {
			t.Errorf("lease info %+v", info)
		}
		_, err = m2.Lock(ctx, "plan", 0)
		var le *state.LockedError
		if !errors.As(err, &le) || le.Info.ID != info.ID || le.Info.Who != info.Who || le.Info.Expires.IsZero() {
			t.Fatalf("second Lock: err = %v; want a LockedError naming %s with its expiry", err, info.ID)
		}
		if h, ok := m2.Manager.(state.LockHolder); ok {
			got, err := h.Holder(ctx)
			if err != nil || got == nil || got.ID != info.ID {
				t.Errorf("Holder = %+v, %v; want %s", got, err, info.ID)
			}
		}
		if err := lease.Valid(); err != nil {
			t.Errorf("Valid of a held lease: %v", err)
		}
		if err := lease.Unlock(); err != nil {
			t.Fatal(err)
		}
		if err := lease.Unlock(); err != nil {
			t.Errorf("second Unlock: %v", err)
		}
		if h, ok := m2.Manager.(state.LockHolder); ok {
			if got, err := h.Holder(ctx); got != nil || err != nil {
				t.Errorf("Holder after Unlock = %+v, %v; want nil", got, err)
			}
		}
		l2, err := m2.Lock(ctx, "plan", 0)
		if err != nil {
			t.Fatalf("Lock after Unlock: %v", err)
		}
		if err := l2.Unlock(); err != nil {
			t.Error(err)
		}
	})

	t.Run("ForceUnlock", func(t *testing.T) {
		newRun := open(t)
		m1, m2 := newRun(Options{}), newRun(Options{})
		if err := m2.ForceUnlock(ctx, "abc"); err == nil || !strings.Contains(err.Error(), "not locked") {
			t.Errorf("ForceUnlock without a lock: err = %v", err)
		}
		lease, err := m1.Lock(ctx, "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		id := lease.Info().ID
		if err := m2.ForceUnlock(ctx, "wrong-id"); err == nil || !strings.Contains(err.Error(), "locked by ID "+id) {
			t.Errorf("ForceUnlock with the wrong ID: err = %v; want it to name %s", err, id)
		}
		if err := lease.Valid(); err != nil {
			t.Errorf("a refused ForceUnlock voided the lease: %v", err)
		}
		if err := m2.ForceUnlock(ctx, ""); err == nil {
			t.Error("ForceUnlock with no ID succeeded")
		}
		if err := m2.ForceUnlock(ctx, id); err != nil {
			t.Fatal(err)
		}
		// The holder notices before its next write, for good.
		for range 2 {
			if err := lease.Valid(); err == nil || !strings.Contains(err.Error(), "lost state lock") {
				t.Errorf("Valid after force-unlock: %v", err)
			}
		}
		g := state.GuardWrites(m1, lease)
		if err := g.Write(ctx, sample(state.NewLineage(), "x")); err == nil {
			t.Error("a guarded write with a force-unlocked lease succeeded")
		}
		if s, err := m2.Read(ctx); s != nil || err != nil {
			t.Errorf("the refused write stored something: %v, %v", s, err)
		}
		l2, err := m2.Lock(ctx, "plan", 0)
		if err != nil {
			t.Fatalf("Lock after force-unlock: %v", err)
		}
		if err := lease.Unlock(); err == nil {
			t.Error("Unlock of a force-unlocked lease reported nothing")
		}
		if err := l2.Valid(); err != nil {
			t.Errorf("the old lease's Unlock voided the new one: %v", err)
		}
		if err := l2.Unlock(); err != nil {
			t.Error(err)
		}
	})

	t.Run("KilledHolderTakenOver", func(t *testing.T) {
		newRun := open(t)
		var w Warnings
		dead := newRun(Options{})
		lease, err := dead.Lock(ctx, "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		old := lease.Info()
		dead.Cut(true) // killed: it renews no more
		t.Cleanup(func() { _ = lease.Unlock() })
		m := newRun(Options{Warnf: w.Warnf})
		if _, err := m.Lock(ctx, "apply", 0); !errors.Is(err, state.ErrLocked) {
			t.Fatalf("a fresh lock of a killed holder: err = %v, want ErrLocked until it expires", err)
		}
		start := time.Now()
		l2, err := m.Lock(ctx, "apply", 20*b.TTL)
		if err != nil {
			t.Fatalf("not taken over: %v", err)
		}
		t.Logf("taken over after %v (TTL %v)", time.Since(start), b.TTL)
		for _, want := range []string{old.ID, old.Who, "apply", "expired", "taking it over"} {
			if !strings.Contains(w.All(), want) {
				t.Errorf("warning %q does not mention %q", w.All(), want)
			}
		}
		// The old holder, back, has lost it for good and writes nothing.
		dead.Cut(false)
		if err := lease.Valid(); err == nil {
			t.Error("the taken-over lease is still valid")
		}
		if err := state.GuardWrites(dead, lease).Write(ctx, sample(state.NewLineage(), "x")); err == nil {
			t.Error("the taken-over run could write")
		}
		if err := l2.Valid(); err != nil {
			t.Errorf("new holder: %v", err)
		}
		if err := lease.Unlock(); err == nil {
			t.Error("Unlock of a taken-over lease reported nothing")
		}
		if err := l2.Valid(); err != nil {
			t.Errorf("the old holder's Unlock voided the new lease: %v", err)
		}
		if err := l2.Unlock(); err != nil {
			t.Error(err)
		}
	})

	t.Run("HeartbeatKeepsALongHolder", func(t *testing.T) {
		newRun := open(t)
		var w Warnings
		m1, m2 := newRun(Options{}), newRun(Options{Warnf: w.Warnf})
		lease, err := m1.Lock(ctx, "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		first := lease.Info().Expires
		for deadline := time.Now().Add(4 * b.TTL); time.Now().Before(deadline); time.Sleep(b.TTL / 5) {
			if l, err := m2.Lock(ctx, "plan", 0); err == nil {
				l.Unlock()
				t.Fatalf("a live holder's lock was taken over after %v: %s", time.Since(deadline.Add(-4*b.TTL)), w.All())
			} else if !errors.Is(err, state.ErrLocked) {
				t.Fatal(err)
			}
			if err := lease.Valid(); err != nil {
				t.Fatalf("a live lease is not valid: %v", err)
			}
		}
		if !lease.Info().Expires.After(first.Add(2 * b.TTL)) {
			t.Errorf("expiry moved from %v to %v in 4 TTLs: not renewed", first, lease.Info().Expires)
		}
		if err := lease.Unlock(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ExpiredLockRace", func(t *testing.T) {
		newRun := open(t)
		dead := newRun(Options{})
		stale, err := dead.Lock(ctx, "apply", 0)
		if err != nil {
			t.Fatal(err)
		}
		dead.Cut(true)
		t.Cleanup(func() { _ = stale.Unlock() })
		time.Sleep(b.TTL + b.TTL/3)
		const contenders = 6
		var w Warnings
		var mu sync.Mutex
		var leases []state.Lease
		var wg sync.WaitGroup
		runs := make([]Instance, contenders)
		for i := range runs {
			runs[i] = newRun(Options{Warnf: w.Warnf})
		}
		for _, m := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if l, err := m.Lock(ctx, "apply", 0); err == nil {
					mu.Lock()
					leases = append(leases, l)
					mu.Unlock()
				} else if !errors.Is(err, state.ErrLocked) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if len(leases) != 1 {
			t.Errorf("%d contenders took over the expired lock, want 1", len(leases))
		}
		if n := strings.Count(w.All(), "taking it over"); n != 1 {
			t.Errorf("%d take-over warnings, want 1:\n%s", n, w.All())
		}
		for _, l := range leases {
			if err := l.Unlock(); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("MutualExclusion", func(t *testing.T) {
		newRun := open(t)
		const workers, rounds = 4, 3
		var inside, overlaps, acquired atomic.Int32
		var wg sync.WaitGroup
		for range workers {
			m := newRun(Options{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					lease, err := m.Lock(ctx, "apply", 60*b.TTL)
					if err != nil {
						t.Error(err)
						return
					}
					if inside.Add(1) != 1 {
						overlaps.Add(1)
					}
					acquired.Add(1)
					time.Sleep(b.TTL / 10)
					if err := lease.Valid(); err != nil {
						t.Error(err)
					}
					inside.Add(-1)
					if err := lease.Unlock(); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if n := overlaps.Load(); n != 0 {
			t.Errorf("%d times two runs held the lock at once", n)
		}
		if n := acquired.Load(); n != workers*rounds {
			t.Errorf("lock acquired %d times, want %d", n, workers*rounds)
		}
	})
}
