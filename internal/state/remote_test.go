package state_test

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
	"github.com/drsctl/drsctl/internal/state/statetest"
)

func model(s *state.State) string {
	if d := s.LookupDatabase("sales", "Sales"); d != nil {
		return d.RecoveryModel
	}
	return "(none)"
}

func withModel(s *state.State, m string) *state.State {
	s.Database("sales", "Sales").RecoveryModel = m
	return s
}

func countPrefix(names []string, prefix string) int {
	n := 0
	for _, x := range names {
		if strings.HasPrefix(x, prefix) {
			n++
		}
	}
	return n
}

// A run killed at any step of any write, compaction included, leaves a
// ledger that reads, holds every write it acknowledged (and at most the
// one it was making), and that the next run carries on from, cleaning up
// what the killed one left.
func TestRemote_crashAtEveryStep(t *testing.T) {
	ctx := context.Background()
	const writes, every = 12, 3
	run := func(store *statetest.MemStore, failAt int) (acked uint64, ops int) {
		var n atomic.Int32
		c := &statetest.Cuttable{Store: store}
		c.Fault = func(op, name string) error {
			if i := int(n.Add(1)); failAt > 0 && i >= failAt {
				return fmt.Errorf("killed at op %d (%s %s)", i, op, name)
			}
			return nil
		}
		r := state.NewRemote(c, state.RemoteOptions{CompactEvery: every})
		s := state.New(state.NewLineage())
		s.Track() // entries hold what changed, as apply's do
		for i := 1; i <= writes; i++ {
			if err := r.Write(ctx, withModel(s, fmt.Sprintf("m%d", i))); err != nil {
				break
			}
			acked = s.Serial
		}
		return acked, int(n.Load())
	}
	_, total := run(statetest.NewMemStore(), 0)
	t.Logf("%d writes take %d store operations", writes, total)
	for failAt := 1; failAt <= total; failAt++ {
		store := statetest.NewMemStore()
		acked, _ := run(store, failAt)
		var w statetest.Warnings
		r := state.NewRemote(store, state.RemoteOptions{CompactEvery: every, Warnf: w.Warnf})
		got, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("killed at op %d (acked serial %d): Read: %v\nobjects: %v", failAt, acked, err, store.Names())
		}
		if acked == 0 {
			if got != nil && got.Serial != 1 {
				t.Fatalf("killed at op %d before any ack: read serial %d", failAt, got.Serial)
			}
			continue
		}
		if got == nil || (got.Serial != acked && got.Serial != acked+1) || model(got) != fmt.Sprintf("m%d", got.Serial) {
			t.Fatalf("killed at op %d after acking serial %d: read %v\nobjects: %v", failAt, acked, got, store.Names())
		}
		if w.All() != "" {
			t.Errorf("killed at op %d: warnings reading an undamaged ledger: %s", failAt, w.All())
		}
		// The next run carries on, and its compactions clear the leftovers.
		base := got.Serial
		for i := base + 1; i <= base+2*every; i++ {
			if err := r.Write(ctx, withModel(got, fmt.Sprintf("m%d", i))); err != nil {
				t.Fatalf("killed at op %d: next run's write %d: %v", failAt, i, err)
			}
		}
		names := store.Names()
		if n := countPrefix(names, "snapshot-"); n > 2 {
			t.Errorf("killed at op %d: %d snapshots left after two compactions: %v", failAt, n, names)
		}
		if n := countPrefix(names, "journal-"); n > 2*every {
			t.Errorf("killed at op %d: %d journal entries left: %v", failAt, n, names)
		}
		again, err := state.NewRemote(store, state.RemoteOptions{}).Read(ctx)
		if err != nil || again.Serial != got.Serial || model(again) != model(got) {
			t.Fatalf("killed at op %d: after the next run: %v, %v", failAt, again, err)
		}
	}
}

// writeN writes models m1…mN through a Remote that compacts every 3.
func writeN(t *testing.T, store state.ObjectStore, n int) *state.State {
	t.Helper()
	r := state.NewRemote(store, state.RemoteOptions{CompactEvery: 3})
	s := state.New(state.NewLineage())
	s.Track()
	for i := 1; i <= n; i++ {
		if err := r.Write(context.Background(), withModel(s, fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func journalName(n uint64) string  { return fmt.Sprintf("journal-%020d.json", n) }
func snapshotName(n uint64) string { return fmt.Sprintf("snapshot-%020d.snap", n) }

// A journal entry deleted from the middle (a cleanup job, a lifecycle
// rule) is an error that says so: never a ledger silently cut short.
func TestRemote_Read_gap(t *testing.T) {
	store := statetest.NewMemStore()
	writeN(t, store, 8) // snapshots 1, 4, 7 written; 4 and 7 kept, journal 5…8
	t.Logf("objects: %v", store.Names())
	if err := store.Delete(context.Background(), journalName(8-0)); err != nil {
		t.Fatal(err)
	}
	// The last entry gone: indistinguishable from a ledger at 7, which it
	// then is (the snapshot at 7 holds it). Now one in the middle:
	store2 := statetest.NewMemStore()
	writeN(t, store2, 9)
	_ = store2.Delete(context.Background(), journalName(8))
	_, err := state.NewRemote(store2, state.RemoteOptions{}).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), journalName(8)+" is missing") || !strings.Contains(err.Error(), "serial 7") {
		t.Fatalf("Read with a gap: %v", err)
	}
	// No snapshot at all, but a journal: an error, not a new ledger.
	store3 := statetest.NewMemStore()
	writeN(t, store3, 5)
	for _, n := range store3.Names() {
		if strings.HasPrefix(n, "snapshot-") {
			_ = store3.Delete(context.Background(), n)
		}
	}
	s, err := state.NewRemote(store3, state.RemoteOptions{}).Read(context.Background())
	if err == nil || s != nil || !strings.Contains(err.Error(), "no snapshot") {
		t.Fatalf("Read of a journal without a snapshot: %v, %v", s, err)
	}
}

// A damaged newest snapshot: the previous one and the journal from it give
// the same ledger, with a warning; both damaged is an error naming both.
func TestRemote_Read_damagedSnapshot(t *testing.T) {
	ctx := context.Background()
	store := statetest.NewMemStore()
	want := writeN(t, store, 9) // snapshots 4 and 7, journal 5…9
	store.Put(snapshotName(7), []byte(`{"version": 4, "lineage": `))
	var w statetest.Warnings
	r := state.NewRemote(store, state.RemoteOptions{Warnf: w.Warnf})
	got, err := r.Read(ctx)
	if err != nil {
		t.Fatalf("Read with a damaged newest snapshot: %v\nobjects: %v", err, store.Names())
	}
	if got.Serial != 9 || model(got) != "m9" || got.Lineage != want.Lineage {
		t.Errorf("read serial %d model %s", got.Serial, model(got))
	}
	if !strings.Contains(w.All(), snapshotName(7)) || !strings.Contains(w.All(), "previous snapshot "+snapshotName(4)) {
		t.Errorf("warning: %q", w.All())
	}
	// Writes go on, and the next compaction replaces the damaged one.
	for i := 10; i <= 13; i++ {
		if err := r.Write(ctx, withModel(got, fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	store.Put(snapshotName(4), []byte("garbage"))
	store.Put(snapshotName(7), []byte("garbage"))
	store2 := statetest.NewMemStore()
	writeN(t, store2, 9)
	store2.Put(snapshotName(7), []byte("garbage"))
	store2.Put(snapshotName(4), []byte("garbage"))
	_, err = state.NewRemote(store2, state.RemoteOptions{}).Read(ctx)
	if err == nil || !strings.Contains(err.Error(), snapshotName(7)) || !strings.Contains(err.Error(), snapshotName(4)) {
		t.Errorf("Read with both snapshots damaged: %v", err)
	}
}

// A run that read serial 1 and writes after others have written and
// compacted far past it finds journal-2 free again (pruned): it is told to
// plan again, and its entry does not enter the ledger.
func TestRemote_Write_overAPrunedSerial(t *testing.T) {
	ctx := context.Background()
	store := statetest.NewMemStore()
	slow := state.NewRemote(store, state.RemoteOptions{})
	s := state.New(state.NewLineage())
	if err := slow.Write(ctx, withModel(s, "m1")); err != nil {
		t.Fatal(err)
	}
	fast := state.NewRemote(store, state.RemoteOptions{CompactEvery: 3})
	other, err := fast.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 12; i++ {
		if err := fast.Write(ctx, withModel(other, fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if countPrefix(store.Names(), journalName(2)) != 0 {
		t.Fatalf("journal-2 not pruned: %v", store.Names())
	}
	err = slow.Write(ctx, withModel(s, "stale"))
	if !errors.Is(err, state.ErrConflict) || s.Serial != 1 {
		t.Fatalf("stale write over a pruned serial: %v, serial %d; want ErrConflict", err, s.Serial)
	}
	if countPrefix(store.Names(), journalName(2)) != 0 {
		t.Errorf("the stale entry was left behind: %v", store.Names())
	}
	got, err := state.NewRemote(store, state.RemoteOptions{}).Read(ctx)
	if err != nil || got.Serial != 12 || model(got) != "m12" {
		t.Errorf("ledger: %v, %v", got, err)
	}
	// A new ledger over it, the same.
	fresh := withModel(state.New(state.NewLineage()), "new")
	if err := state.NewRemote(store, state.RemoteOptions{}).Write(ctx, fresh); !errors.Is(err, state.ErrConflict) {
		t.Errorf("new ledger over a compacted one: %v", err)
	}
}

// A write whose reply is lost although the store committed it (and the
// store cannot tell): the run is told it failed, the entry is in the
// ledger for the next run, and the same run writing again at its old
// serial is refused rather than forking the ledger.
func TestRemote_Write_lostReply(t *testing.T) {
	ctx := context.Background()
	store := statetest.NewMemStore()
	c := &statetest.Cuttable{Store: store}
	r := state.NewRemote(c, state.RemoteOptions{})
	s := state.New(state.NewLineage())
	if err := r.Write(ctx, withModel(s, "m1")); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	c.After = func(op, name string) (err error) {
		if op == "create" {
			once.Do(func() { err = errors.New("connection reset after the store committed") })
		}
		return err
	}
	if err := r.Write(ctx, withModel(s, "m2")); err == nil || s.Serial != 1 {
		t.Fatalf("write with a lost reply: %v, serial %d", err, s.Serial)
	}
	got, err := state.NewRemote(store, state.RemoteOptions{}).Read(ctx)
	if err != nil || got.Serial != 2 || model(got) != "m2" {
		t.Fatalf("ledger: %v, %v", got, err)
	}
	if err := r.Write(ctx, withModel(s, "m2-again")); !errors.Is(err, state.ErrConflict) {
		t.Errorf("write again at the old serial: %v; want ErrConflict", err)
	}
}

// The race the lock's design is about: a contender lists the lock while
// the holder's renewal is still on its way, judges it expired, and creates
// the next generation a moment later; meanwhile the renewal lands and the
// holder checks its lease. The late renewal must not count (it completed
// after the lease it extends ran out): the holder takes the next
// generation itself, and the contender finds it taken. Were it counted,
// both would hold the lock.
func TestRemote_Lease_renewalLandingAsATakeOverStarts(t *testing.T) {
	ctx := context.Background()
	store := statetest.NewMemStore()
	var mu sync.Mutex
	t0 := time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setClock := func(d time.Duration) { mu.Lock(); now = t0.Add(d); mu.Unlock() }
	const ttl = 600 * time.Millisecond // first heartbeat after 100 ms of real time
	var w statetest.Warnings

	judged, proceed := make(chan struct{}), make(chan struct{})
	cc := &statetest.Cuttable{Store: store}
	cc.Fault = func(op, name string) error {
		if op == "create" && strings.HasSuffix(name, "lock-00000000000000000002.json") {
			close(judged) // listed, judged expired, about to create
			<-proceed
		}
		return nil
	}
	contender := state.NewRemote(cc, state.RemoteOptions{TTL: ttl, Now: clock, Warnf: w.Warnf})
	type result struct {
		lease state.Lease
		err   error
	}
	took := make(chan result, 1)

	var once sync.Once
	hc := &statetest.Cuttable{Store: store}
	hc.Fault = func(op, name string) error {
		if op == "create" && strings.Contains(name, "-renew-") {
			once.Do(func() {
				// The renewal started at 0.8 TTL, within the lease; while
				// it travels the clock passes the old expiry, and the
				// contender lists the lock.
				setClock(ttl + ttl/10)
				go func() { l, err := contender.Lock(ctx, "apply", 0); took <- result{l, err} }()
				<-judged
			})
		}
		return nil
	}
	holder := state.NewRemote(hc, state.RemoteOptions{TTL: ttl, Now: clock, Warnf: w.Warnf})
	lease, err := holder.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	setClock(ttl * 8 / 10)
	select {
	case <-judged:
	case <-time.After(5 * time.Second):
		t.Fatal("no renewal")
	}
	// Waits for the renewal under way to finish.
	holderValid := lease.Valid()
	close(proceed)
	r := <-took
	if r.err == nil {
		defer r.lease.Unlock()
	}
	if holderValid == nil && r.err == nil {
		t.Fatalf("both hold the lock: the late renewal counted\nwarnings: %s\nobjects: %v", w.All(), store.Names())
	}
	if holderValid != nil || !errors.Is(r.err, state.ErrLocked) {
		t.Errorf("holder's Valid: %v; contender: %v; want the holder to keep it by taking the next generation", holderValid, r.err)
	}
	if !strings.Contains(w.All(), "took it again") {
		t.Errorf("warnings: %q", w.All())
	}
}

// A holder whose renewals stall past its lease (a paused VM) while nobody
// else wants the lock takes it again, with a warning, and is valid.
func TestRemote_Lease_stalledHolderRetakes(t *testing.T) {
	ctx := context.Background()
	store := statetest.NewMemStore()
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var w statetest.Warnings
	r := state.NewRemote(store, state.RemoteOptions{TTL: time.Hour, Now: clock, Warnf: w.Warnf})
	lease, err := r.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if err := lease.Valid(); err != nil {
		t.Fatalf("Valid after a stall nobody used: %v", err)
	}
	if !strings.Contains(w.All(), "took it again") {
		t.Errorf("warnings: %q", w.All())
	}
	if names := store.Names(); countPrefix(names, "lock-00000000000000000001") != 0 || countPrefix(names, "lock-00000000000000000002.json") != 1 {
		t.Errorf("lock objects: %v", names)
	}
	other := state.NewRemote(store, state.RemoteOptions{TTL: time.Hour, Now: clock})
	if _, err := other.Lock(ctx, "plan", 0); !errors.Is(err, state.ErrLocked) {
		t.Errorf("the retaken lock: %v", err)
	}
	if err := lease.Unlock(); err != nil {
		t.Error(err)
	}
}

// A renewal whose reply is lost although the store created it (and the
// store cannot tell) is no lost lock: the next try finds its own renewal
// there and goes on with the next.
func TestRemote_Lease_renewalReplyLost(t *testing.T) {
	ctx := context.Background()
	store := statetest.NewMemStore()
	c := &statetest.Cuttable{Store: store}
	var lost atomic.Int32
	c.After = func(op, name string) error {
		if op == "create" && strings.Contains(name, "-renew-") && lost.Add(1) == 1 {
			return errors.New("connection reset after the store committed")
		}
		return nil
	}
	var w statetest.Warnings
	const ttl = 150 * time.Millisecond
	r := state.NewRemote(c, state.RemoteOptions{TTL: ttl, Warnf: w.Warnf})
	lease, err := r.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	first := lease.Info().Expires
	for deadline := time.Now().Add(3 * ttl); time.Now().Before(deadline); time.Sleep(ttl / 10) {
		if err := lease.Valid(); err != nil {
			t.Fatalf("Valid after a renewal whose reply was lost: %v\nwarnings: %s", err, w.All())
		}
	}
	if !lease.Info().Expires.After(first.Add(ttl)) {
		t.Errorf("not renewed since: expires %v, first %v\nwarnings: %s", lease.Info().Expires, first, w.All())
	}
	if strings.Contains(w.All(), "lost state lock") {
		t.Errorf("warnings: %s", w.All())
	}
	if err := lease.Unlock(); err != nil {
		t.Error(err)
	}
}
