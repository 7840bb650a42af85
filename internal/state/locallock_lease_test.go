package state

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writeLock puts info in PATH.lock as another run would have.
func writeLock(t *testing.T, path string, info LockInfo) {
	t.Helper()
	raw, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".lock", raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLocal_LeaseTiming(t *testing.T) {
	l := NewLocal("drs.state", LocalOptions{})
	for name, tc := range map[string]struct{ got, want time.Duration }{
		"TTL":                   {l.ttl, 30 * time.Second},
		"heartbeat":             {l.renewEvery(), 5 * time.Second},
		"retry after a failure": {l.renewRetry(), time.Second},
		"held after a renewal":  {l.leaseValid(), 25 * time.Second},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", name, tc.got, tc.want)
		}
	}
}

// A lock from another machine (nothing tells here whether its holder runs)
// is waited for and taken over once it expires.
func TestLocal_Lock_remoteHolderTakenOverWhenExpired(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	const left = 300 * time.Millisecond // of the remote holder's TTL, which it no longer renews
	now := time.Now().UTC()
	remote := LockInfo{ID: "remote-lock", Operation: "apply", Who: "svc@dr-box-2(4242)", Version: "v1",
		Created: now.Add(-DefaultLockTTL), Expires: now.Add(left), Host: "dr-box-2", PID: 4242,
		Process: ProcessIdentity{BootID: "another-boot", PIDNamespace: "pid:[4026531836]", StartTime: 1}}
	writeLock(t, path, remote)
	var w warnings
	l := newTestLocal(path, LocalOptions{Warnf: w.Warnf})
	if _, err := l.Lock(ctx, "apply", 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("a remote holder's live lock: err = %v, want ErrLocked", err)
	}
	start := time.Now()
	lease, err := l.Lock(ctx, "apply", 10*time.Second)
	waited := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	t.Logf("waited %v for a lock with %v left", waited, left)
	if waited < left-50*time.Millisecond || waited > left+2*time.Second {
		t.Errorf("waited %v for a lock expiring in %v", waited, left)
	}
	for _, want := range []string{"remote-lock", "svc@dr-box-2(4242)", "expired", "taking it over"} {
		if !strings.Contains(w.all(), want) {
			t.Errorf("warning %q does not mention %q", w.all(), want)
		}
	}
}

func TestLease_Valid_forceUnlocked(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	l := newTestLocal(path, LocalOptions{}) // heartbeat every 5 s: it plays no part
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.Valid(); err != nil {
		t.Fatalf("fresh lease: %v", err)
	}
	if err := l.ForceUnlock(ctx, lease.Info().ID); err != nil {
		t.Fatal(err)
	}
	// Noticed at once, not at the next heartbeat, and for good.
	for range 2 {
		if err := lease.Valid(); err == nil || !strings.Contains(err.Error(), "lost state lock") {
			t.Errorf("Valid after force-unlock: %v", err)
		}
	}
	other, err := l.Lock(ctx, "plan", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()
	if err := lease.Valid(); err == nil {
		t.Error("a lost lease is valid again once someone else holds the lock")
	}
	g := GuardWrites(l, lease)
	if err := g.Write(ctx, New(NewLineage())); err == nil || !strings.Contains(err.Error(), "lost state lock") {
		t.Errorf("guarded write with a lost lease: err = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused write created the state (%v)", err)
	}
}

// A holder that cannot renew stops writing once its lease runs out, and
// writes again once a renewal succeeds (no one took the lock meanwhile).
func TestLease_Valid_lapsesWhenRenewalsFail(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "drs.state")
	var failing atomic.Bool
	var w warnings
	l := newTestLocal(path, LocalOptions{Now: clock.Now, TTL: time.Hour, Warnf: w.Warnf}) // no heartbeat during the test
	l.renewFault = func(step string) error {
		if failing.Load() && step == "write" {
			return errors.New("disk on fire")
		}
		return nil
	}
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	g := GuardWrites(l, lease)
	st := New(NewLineage())
	if err := g.Write(ctx, st); err != nil {
		t.Fatal(err)
	}

	failing.Store(true)
	clock.Add(50*time.Minute - time.Second) // just short of 5/6 of the TTL
	if err := lease.Valid(); err != nil {
		t.Errorf("lease not yet run out: %v", err)
	}
	clock.Add(time.Second)
	err = lease.Valid()
	if err == nil || !strings.Contains(err.Error(), "not renewed since") || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Valid of a lease run out unrenewed: %v", err)
	}
	if err := g.Write(ctx, st); err == nil {
		t.Fatal("guarded write with a lapsed lease succeeded")
	}
	if st.Serial != 1 {
		t.Errorf("refused write moved the serial to %d", st.Serial)
	}

	failing.Store(false)
	if err := lease.Valid(); err != nil {
		t.Fatalf("Valid once renewals work again: %v", err)
	}
	if want := clock.Now().Add(time.Hour); !readLockFile(t, path).Expires.Equal(want) {
		t.Errorf("lock file expires %v, want %v (renewed by Valid)", readLockFile(t, path).Expires, want)
	}
	if err := g.Write(ctx, st); err != nil || st.Serial != 2 {
		t.Errorf("guarded write after the renewal: serial %d, %v", st.Serial, err)
	}
}

// The heartbeat retries a failed renewal within TTL/30 and says so once.
func TestLease_heartbeatRetries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	var fails atomic.Int32
	fails.Store(3)
	var w warnings
	l := newTestLocal(path, LocalOptions{TTL: 3 * time.Second, Warnf: w.Warnf}) // renew every 500ms, retry every 100ms
	l.renewFault = func(step string) error {
		if step == "write" && fails.Add(-1) >= 0 {
			return errors.New("busy")
		}
		return nil
	}
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	first := lease.Info().Expires
	eventually(t, "a renewal after three failures", func() bool { return lease.Info().Expires.After(first) })
	if err := lease.Valid(); err != nil {
		t.Error(err)
	}
	if n := strings.Count(w.all(), "trying again every 100ms"); n != 1 {
		t.Errorf("%d warnings about the failures, want 1: %q", n, w.all())
	}
	if !strings.Contains(w.all(), "renewed state lock "+lease.Info().ID+" again") {
		t.Errorf("no word of the recovery: %q", w.all())
	}
}

// A busy machine: every CPU spinning, and every renewal stalled for a whole
// heartbeat on a slow disk. The lease never lapses, and the lock file never
// shows it expired.
func TestLease_heartbeatSurvivesABusyMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("spins every CPU for 2s")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	const ttl = 3 * time.Second // renewal every 500ms, held 2.5s after one
	l := newTestLocal(path, LocalOptions{TTL: ttl})
	l.renewFault = func(step string) error {
		if step == "write" {
			time.Sleep(ttl / 6) // fsync behind a backup's writes
		}
		return nil
	}
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
					for i := range 1_000_000 {
						x += i
					}
				}
			}
		}()
	}
	end := time.Now().Add(2 * time.Second)
	var worst time.Duration
	for time.Now().Before(end) {
		info := readLockFile(t, path)
		if left := time.Until(info.Expires); ttl-left > worst {
			worst = ttl - left
		}
		if time.Now().After(info.Expires) {
			t.Errorf("lock file expired at %v: the heartbeat fell behind", info.Expires)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if err := lease.Valid(); err != nil {
		t.Errorf("lease lapsed on a busy machine: %v", err)
	}
	t.Logf("oldest renewal seen: %v of a %v TTL", worst, ttl)
}

// Contenders without a timeout: every one that does not get the lock is
// told who has it. A lock file is never seen before its content is in it.
func TestLocal_Lock_losersAlwaysNameTheHolder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	var unnamed, won atomic.Int32
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newTestLocal(path, LocalOptions{})
			for range rounds {
				lease, err := l.Lock(ctx, "apply", 0)
				var le *LockedError
				switch {
				case err == nil:
					won.Add(1)
					lease.Unlock()
				case errors.As(err, &le):
					if le.Info.ID == "" {
						unnamed.Add(1)
					}
				default:
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d of %d attempts got the lock", won.Load(), workers*rounds)
	if n := unnamed.Load(); n > 0 {
		t.Errorf("%d contenders were told the lock is held by an unknown holder", n)
	}
	if left := leftovers(t, filepath.Dir(path)); len(left) > 0 {
		t.Errorf("files left behind: %v", left)
	}
}
