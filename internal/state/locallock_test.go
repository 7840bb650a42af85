package state

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func readLockFile(t *testing.T, path string) LockInfo {
	t.Helper()
	var info LockInfo
	if err := json.Unmarshal(readFile(t, path+".lock"), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// eventually polls cond for up to 2s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestLocal_Lock(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "drs.state")
	l := newTestLocal(path, LocalOptions{Now: clock.Now, Version: "v1.2.3"})
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	info := lease.Info()
	if info.ID == "" || info.Operation != "apply" || info.Version != "v1.2.3" {
		t.Errorf("lease info %+v", info)
	}
	if !strings.Contains(info.Who, "@") || !strings.HasSuffix(info.Who, ")") {
		t.Errorf("Who = %q, want user@host(pid)", info.Who)
	}
	if !info.Created.Equal(clock.Now()) || !info.Expires.Equal(clock.Now().Add(DefaultLockTTL)) {
		t.Errorf("Created %v Expires %v; want now and now+TTL", info.Created, info.Expires)
	}
	if disk := readLockFile(t, path); disk != info {
		t.Errorf("lock file holds %+v, want %+v", disk, info)
	}
	st, err := os.Stat(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v, want 0600", st.Mode().Perm())
	}
	if err := lease.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file still there after Unlock (%v)", err)
	}
	if err := lease.Unlock(); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
}

func TestLocal_Lock_held(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	l1, l2 := newTestLocal(path, LocalOptions{}), newTestLocal(path, LocalOptions{})
	lease, err := l1.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()

	start := time.Now()
	_, err = l2.Lock(ctx, "plan", 20*time.Millisecond)
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Errorf("gave up after %v, before the 20ms timeout", waited)
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("err is %T, want *LockedError", err)
	}
	if le.Info != lease.Info() || le.Path != path+".lock" {
		t.Errorf("LockedError names %+v at %s, want %+v at %s", le.Info, le.Path, lease.Info(), path+".lock")
	}
	msg := err.Error()
	for _, want := range []string{
		"state is locked\n",
		"  ID:        " + lease.Info().ID + "\n",
		"  Operation: apply\n",
		"  Who:       " + lease.Info().Who + "\n",
		"  Created:   ",
		"  Expires:   ",
		"Another drsctl is running, or one died. If you are sure no other run is in progress: drsctl force-unlock " + lease.Info().ID,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message does not contain %q:\n%s", want, msg)
		}
	}
}

func TestLocal_Lock_waits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	l1, l2 := newTestLocal(path, LocalOptions{}), newTestLocal(path, LocalOptions{})
	lease1, err := l1.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		lease1.Unlock()
	}()
	lease2, err := l2.Lock(ctx, "apply", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if lease2.Info().ID == lease1.Info().ID {
		t.Error("second lease has the first one's ID")
	}
	if err := lease2.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestLocal_Lock_canceled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drs.state")
	l := newTestLocal(path, LocalOptions{})
	lease, err := l.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx, "apply", time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's error", err)
	}
}

func TestLocal_Lock_expired(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "drs.state")
	var w1, w2 warnings
	l1 := newTestLocal(path, LocalOptions{Now: clock.Now, TTL: time.Hour, Warnf: w1.Warnf})
	l2 := newTestLocal(path, LocalOptions{Now: clock.Now, TTL: time.Hour, Warnf: w2.Warnf})
	lease1, err := l1.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	old := lease1.Info()

	clock.Add(2 * time.Hour) // lease1's holder stopped renewing
	lease2, err := l2.Lock(ctx, "plan", 0)
	if err != nil {
		t.Fatalf("expired lock not taken over: %v", err)
	}
	warned := w2.all()
	for _, want := range []string{old.ID, old.Who, "apply", "expired", "taking it over"} {
		if !strings.Contains(warned, want) {
			t.Errorf("warning %q does not mention %q", warned, want)
		}
	}
	if disk := readLockFile(t, path); disk.ID != lease2.Info().ID {
		t.Errorf("lock file holds %s, want the new lease's %s", disk.ID, lease2.Info().ID)
	}

	// The old holder finds out when it unlocks, and leaves the new lock be.
	if err := lease1.Unlock(); err == nil || !strings.Contains(err.Error(), "no longer this run's") {
		t.Errorf("old lease's Unlock: err = %v", err)
	}
	if disk := readLockFile(t, path); disk.ID != lease2.Info().ID {
		t.Errorf("old lease's Unlock removed the new lock")
	}
	if err := lease2.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestLocal_Lock_unreadableLockFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	var w warnings
	l := newTestLocal(path, LocalOptions{TTL: time.Minute, Warnf: w.Warnf})
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Fresh: someone is just creating it.
	_, err := l.Lock(ctx, "apply", 0)
	var le *LockedError
	if !errors.As(err, &le) || !strings.Contains(le.Info.Who, "unreadable") {
		t.Fatalf("err = %v, want a LockedError by an unknown holder", err)
	}
	if err := l.ForceUnlock(ctx, "x"); err == nil || !strings.Contains(err.Error(), "remove it with: drsctl force-unlock "+UnreadableLockID) {
		t.Errorf("ForceUnlock of an unreadable lock: err = %v", err)
	}
	// A TTL old: its creator died before writing it.
	old := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(path+".lock", old, old); err != nil {
		t.Fatal(err)
	}
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.all(), "taking it over") {
		t.Errorf("no warning about taking over: %q", w.all())
	}
	lease.Unlock()
}

func TestLocal_Lock_renews(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "drs.state")
	const ttl = 30 * time.Millisecond // renewed every 10ms of real time
	l := newTestLocal(path, LocalOptions{Now: clock.Now, TTL: ttl})
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	first := lease.Info().Expires
	clock.Add(time.Hour)
	want := clock.Now().Add(ttl)
	eventually(t, "the lease to renew", func() bool { return lease.Info().Expires.Equal(want) })
	if disk := readLockFile(t, path); !disk.Expires.Equal(want) || disk.ID != lease.Info().ID {
		t.Errorf("lock file has %s expiring %v, want %s expiring %v", disk.ID, disk.Expires, lease.Info().ID, want)
	}
	if !want.After(first) {
		t.Errorf("renewal did not extend the expiry")
	}
	if err := lease.Unlock(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, filepath.Dir(path)); len(left) > 0 {
		t.Errorf("files left behind: %v", left)
	}
}

func TestLocal_Lock_renewStopsWhenLost(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	var w warnings
	l := newTestLocal(path, LocalOptions{TTL: 30 * time.Millisecond, Warnf: w.Warnf})
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.ForceUnlock(ctx, lease.Info().ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a warning that the lock was lost", func() bool { return strings.Contains(w.all(), "lost state lock "+lease.Info().ID) })
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("renewal recreated a force-unlocked lock (%v)", err)
	}
	if err := lease.Unlock(); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("Unlock of a force-unlocked lease: err = %v", err)
	}
}

func TestLocal_ForceUnlock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	l := newTestLocal(path, LocalOptions{})
	if err := l.ForceUnlock(ctx, "abc"); err == nil || !strings.Contains(err.Error(), "not locked") {
		t.Errorf("ForceUnlock without a lock: err = %v", err)
	}
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	id := lease.Info().ID
	err = l.ForceUnlock(ctx, "wrong-id")
	if err == nil || !strings.Contains(err.Error(), "locked by ID "+id) {
		t.Errorf("ForceUnlock with the wrong ID: err = %v; want it to name %s", err, id)
	}
	if disk := readLockFile(t, path); disk.ID != id {
		t.Errorf("ForceUnlock with the wrong ID changed the lock")
	}
	if err := l.ForceUnlock(ctx, ""); err == nil {
		t.Errorf("ForceUnlock with no ID succeeded")
	}
	if err := l.ForceUnlock(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock still there after ForceUnlock (%v)", err)
	}
	if left := leftovers(t, filepath.Dir(path)); len(left) > 0 {
		t.Errorf("files left behind: %v", left)
	}
	lease.Unlock()
}

// Contenders, each with its own manager as separate processes would have:
// never two holders at once.
func TestLocal_Lock_concurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	const workers, rounds = 8, 5
	var inside, overlaps, acquired atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newTestLocal(path, LocalOptions{})
			for range rounds {
				lease, err := l.Lock(ctx, "apply", 10*time.Second)
				if err != nil {
					errs <- err
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				acquired.Add(1)
				time.Sleep(100 * time.Microsecond)
				inside.Add(-1)
				if err := lease.Unlock(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d times two contenders held the lock at once", n)
	}
	if n := acquired.Load(); n != workers*rounds {
		t.Errorf("lock acquired %d times, want %d", n, workers*rounds)
	}
	if left := leftovers(t, filepath.Dir(path)); len(left) > 0 {
		t.Errorf("files left behind: %v", left)
	}
}

// Contenders for an expired lock: exactly one takes it over.
func TestLocal_Lock_concurrentTakeOver(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "drs.state")
	stale, err := newTestLocal(path, LocalOptions{Now: clock.Now, TTL: time.Hour}).Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Unlock()
	clock.Add(2 * time.Hour)

	const workers = 8
	var wg sync.WaitGroup
	var won atomic.Int32
	var w warnings
	var mu sync.Mutex
	var leases []Lease
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newTestLocal(path, LocalOptions{Now: clock.Now, TTL: time.Hour, Warnf: w.Warnf})
			if lease, err := l.Lock(ctx, "apply", 0); err == nil {
				won.Add(1)
				mu.Lock()
				leases = append(leases, lease) // held until every contender tried
				mu.Unlock()
			} else if !errors.Is(err, ErrLocked) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, l := range leases {
		if err := l.Unlock(); err != nil {
			t.Error(err)
		}
	}
	if n := won.Load(); n != 1 {
		t.Errorf("%d contenders took over the expired lock, want 1", n)
	}
	if n := strings.Count(w.all(), "taking it over"); n != 1 {
		t.Errorf("%d take-over warnings, want 1:\n%s", n, w.all())
	}
}
