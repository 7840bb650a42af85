package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
)

// The local lock is PATH.lock, created exclusively (see createLock) so that
// exactly one run can create it, holding the LockInfo as JSON.
//
// Nothing on a file system compares and deletes in one step, so every
// removal (unlock, force-unlock, take-over of an expired lock) goes through
// removeLockIf: check the content, rename the file aside to a unique name,
// check the content of what was moved, and put it back (hard link, which
// refuses to overwrite) if it changed in between. A take-over therefore only
// ever removes the very lock it judged expired, and only one contender
// removes it; the contenders then race on O_EXCL like anyone else.
//
// A lock is taken over when it has expired (its holder stopped renewing it)
// or, at once, when its holder was a process on this machine that no longer
// runs (holderGone): a killed apply costs the next run nothing. A holder
// elsewhere can only be judged by the expiry, so leases are short and
// renewed often; see localLease.

func (l *Local) lockPath() string { return l.path + ".lock" }

// Lock takes PATH.lock; see Manager.Lock.
func (l *Local) Lock(ctx context.Context, op string, timeout time.Duration) (Lease, error) {
	lockPath := l.lockPath()
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o700); err != nil {
		return nil, fmt.Errorf("lock state: %w", err)
	}
	deadline := time.Now().Add(timeout)
	delay := l.pollMin
	info := newLockInfo(op, l.vers, l.now(), l.ttl)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lock state %s: %w", lockPath, err)
		}
		now := l.now().UTC()
		info.Created, info.Expires = now, now.Add(l.ttl)
		err := l.createLock(info)
		if err == nil {
			// Read it back: a contender that judged the lock expired in the
			// instant between our create and our write may have removed it.
			if cur, _, rerr := l.readLock(); rerr == nil && cur.ID == info.ID {
				return l.startLease(info), nil
			}
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock state: %w", err)
		}
		held, raw, err := l.readLock()
		if errors.Is(err, fs.ErrNotExist) {
			continue // released in the meantime: try again at once
		}
		if err != nil {
			return nil, fmt.Errorf("lock state: %w", err)
		}
		why := ""
		if held.Expires.Before(l.now()) {
			why = "expired at " + fmtLockTime(held.Expires)
		} else if gone, how := holderGone(held); gone {
			why = "was left by a run that died: " + how
		}
		if why != "" {
			removed, busy, err := l.takeOver(raw)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("lock state: take over lock %s: %w", held.ID, err)
			}
			if removed {
				l.removeLockTemps(held.ID)
				if held.ID == "" {
					l.warnf("the state lock file %s was unreadable (empty or not a drsctl lock, last written at %s) and %s; taking it over",
						lockPath, fmtLockTime(held.Created), why)
				} else {
					l.warnf("state lock %s (%s by %s since %s) %s; taking it over",
						held.ID, held.Operation, held.Who, fmtLockTime(held.Created), why)
				}
			}
			if !busy {
				continue
			}
			// Another run is taking it over right now: wait as for a held lock.
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, &LockedError{Info: held, Path: lockPath}
		}
		t := time.NewTimer(min(delay, remaining))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lock state %s: %w", lockPath, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, l.pollMax)
	}
}

// createLock creates PATH.lock holding info, failing with fs.ErrExist when
// it is there already.
//
// The lock is written to a temporary file first and hard-linked to
// PATH.lock (link, like O_EXCL, refuses an existing name, also over NFS), so
// that a contender never finds it empty: one that did could only say the
// state is locked by an unknown holder. On a file system without hard links
// it falls back to O_EXCL and writing, and readLock copes with the instant
// in between.
func (l *Local) createLock(info LockInfo) error {
	raw, err := json.Marshal(info)
	if err != nil {
		return err
	}
	linked, err := l.linkLock(info.ID, raw)
	if linked || errors.Is(err, fs.ErrExist) {
		return err
	}
	f, err := os.OpenFile(l.lockPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Ours: created above and still fresh, so nobody else removes it.
		os.Remove(l.lockPath())
		return err
	}
	if err := syncDir(filepath.Dir(l.lockPath())); err != nil {
		l.warnf("sync directory of %s: %v", l.lockPath(), err)
	}
	return nil
}

// linkLock creates PATH.lock holding raw by a hard link from a complete
// temporary file. It reports false, with the error, when it could not try
// (no hard links here, or the temporary file failed), so that createLock
// falls back to O_EXCL; fs.ErrExist when the lock is held.
func (l *Local) linkLock(id string, raw []byte) (bool, error) {
	path := l.lockPath()
	f, err := os.CreateTemp(filepath.Dir(path), l.lockTempPattern(id))
	if err != nil {
		return false, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := os.Link(f.Name(), path); err != nil {
		return false, err // held (fs.ErrExist), or no hard links here (EPERM, ENOTSUP…)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		l.warnf("sync directory of %s: %v", path, err)
	}
	return true, nil
}

// readLock returns the lock's info and bytes. A lock file that cannot be
// parsed (a contender that has created it but not yet written it, or one
// that died doing so) is reported as held by an unknown holder, expiring a
// TTL after the file was last modified.
func (l *Local) readLock() (LockInfo, []byte, error) {
	var raw []byte
	for try := 0; ; try++ {
		var err error
		raw, err = os.ReadFile(l.lockPath())
		if err != nil {
			return LockInfo{}, nil, err
		}
		if info, ok := parseLock(raw); ok {
			return info, raw, nil
		}
		if try == 4 {
			break
		}
		// Where createLock falls back to O_EXCL, the holder is writing it.
		time.Sleep(2 * time.Millisecond)
	}
	info := LockInfo{Who: "unknown (the lock file is empty or unreadable)"}
	if st, err := os.Stat(l.lockPath()); err == nil {
		info.Created = st.ModTime().UTC()
		info.Expires = info.Created.Add(l.ttl)
	} else {
		return LockInfo{}, nil, err
	}
	return info, raw, nil
}

func parseLock(raw []byte) (LockInfo, bool) {
	var info LockInfo
	if err := json.Unmarshal(raw, &info); err != nil || info.ID == "" {
		return LockInfo{}, false
	}
	return info, true
}

// takeoverStale is how old a take-over mutex must be before it is judged
// left by a run that died taking over (a take-over lasts milliseconds).
const takeoverStale = 10 * time.Second

// takeOver removes the expired lock whose content is raw, holding a
// short-lived mutex (PATH.lock.takeover, created exclusively) while it
// does. Without it two contenders could both judge the old lock expired:
// the first removes it and creates its own, the second then moves that
// new lock aside (to check it), and in that instant a third creates one:
// two runs would hold the state. busy reports that another run holds the
// mutex: it is taking the lock over.
func (l *Local) takeOver(raw []byte) (removed, busy bool, err error) {
	mutex := l.lockPath() + ".takeover"
	f, err := os.OpenFile(mutex, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if st, serr := os.Stat(mutex); serr == nil && time.Since(st.ModTime()) > takeoverStale {
			l.warnf("removing %s, left by a run that died while taking the state lock over", mutex)
			os.Remove(mutex)
			return false, false, nil
		}
		return false, true, nil
	}
	if err != nil {
		return false, false, err
	}
	f.Close()
	defer os.Remove(mutex)
	removed, _, err = l.removeLockIf(func(cur []byte) bool { return bytes.Equal(cur, raw) })
	return removed, false, err
}

// removeLockIf removes PATH.lock if match accepts its content, reporting
// whether it did and the content it found. The file is renamed aside before
// it is removed and checked again there, so a lock that changed between the
// check and the rename is put back rather than lost.
func (l *Local) removeLockIf(match func(raw []byte) bool) (bool, []byte, error) {
	lockPath := l.lockPath()
	raw, err := os.ReadFile(lockPath)
	if err != nil {
		return false, nil, err
	}
	if !match(raw) {
		return false, raw, nil
	}
	aside := lockPath + ".stale-" + uuid.NewString()
	if err := os.Rename(lockPath, aside); err != nil {
		return false, nil, err
	}
	moved, err := os.ReadFile(aside)
	if err == nil && match(moved) {
		if err := os.Remove(aside); err != nil {
			l.warnf("remove old lock file %s: %v", aside, err)
		}
		return true, moved, nil
	}
	// It changed between the two reads: it is someone else's now. Put it
	// back without overwriting a lock created in the meantime.
	if lerr := os.Link(aside, lockPath); lerr != nil {
		if errors.Is(lerr, fs.ErrExist) {
			l.warnf("state lock %s changed while being checked and could not be put back: another lock was created meanwhile; its holder will find its lock lost", lockPath)
		} else if _, serr := os.Lstat(lockPath); errors.Is(serr, fs.ErrNotExist) {
			// No hard links on this file system: rename it back.
			if rerr := os.Rename(aside, lockPath); rerr != nil {
				l.warnf("put back state lock %s: %v", lockPath, rerr)
			}
		}
	}
	os.Remove(aside)
	return false, moved, nil
}

// localLease is a held PATH.lock, renewed by a heartbeat until Unlock.
//
// Timing, in fractions of the TTL (DefaultLockTTL, 30 s):
//
//   - the heartbeat renews every TTL/6 (5 s): five renewals in a row may
//     fail or stall before anyone else may judge the lock expired;
//   - after a failed renewal it tries again after TTL/30 (1 s);
//   - the lease counts as held (Valid) until 5/6 of a TTL (25 s) after its
//     latest successful renewal began. The last TTL/6 is a margin for the
//     clocks of the machines sharing the state, and for a renewal under
//     way when the lease runs out.
//
// A renewal rewrites PATH.lock atomically but does not fsync it: it only
// has to be seen by other runs, which read it through the same file system,
// and should a crash lose it, the older expiry on disk only frees the lock
// sooner for the next run after a crash that killed its holder anyway. An
// fsync on a disk busy with backups can take many seconds, and the
// heartbeat must not wait for the data the apply is writing.
//
// The heartbeat is its own goroutine and needs no CPU to speak of, so a
// busy machine delays it by scheduling latency, far below the margins
// above. A process that is stopped (SIGSTOP, a paused VM, a suspended
// laptop) cannot renew at all: when it resumes past the margin, Valid fails
// until a renewal succeeds, which it does only if no one took the lock over
// in the meantime.
type localLease struct {
	l *Local

	mu         sync.Mutex
	info       LockInfo
	validUntil time.Time // wall clock, as the lock's expiry: see Valid
	lost       error     // set once the lock is someone else's; final
	failing    bool      // the latest renewal failed
	lapsed     bool      // warned that the lease ran out unrenewed

	stop chan struct{}
	done chan struct{}

	once      sync.Once
	unlockErr error
}

var _ Lease = (*localLease)(nil)

func (l *Local) renewEvery() time.Duration { return l.ttl / 6 }
func (l *Local) renewRetry() time.Duration { return l.ttl / 30 }
func (l *Local) leaseValid() time.Duration { return l.ttl - l.ttl/6 }

func (l *Local) startLease(info LockInfo) *localLease {
	ls := &localLease{l: l, info: info, validUntil: info.Created.Add(l.leaseValid()),
		stop: make(chan struct{}), done: make(chan struct{})}
	go ls.renewLoop()
	return ls
}

func (ls *localLease) Info() LockInfo {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.info
}

// Valid checks that PATH.lock is still this lease's (a small read, so that
// a force-unlock is noticed before the next state write rather than at the
// next heartbeat) and that the latest renewal is recent enough; past that,
// it renews at once if it can, and says why not otherwise.
func (ls *localLease) Valid() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.lost != nil {
		return ls.lost
	}
	if ls.l.now().Before(ls.validUntil) {
		if err := ls.confirm(); ls.lost != nil {
			ls.l.warnf("%v", ls.lost)
			return ls.lost
		} else if err != nil {
			ls.l.warnf("check state lock %s: %v", ls.info.ID, err)
		}
		return nil // renewed recently: a read error alone does not void it
	}
	if err := ls.renewLocked(); err != nil {
		if ls.lost != nil {
			return ls.lost
		}
		return fmt.Errorf("state lock %s not renewed since %s, so another run may have judged it expired: %w",
			ls.info.ID, fmtLockTime(ls.validUntil.Add(-ls.l.leaseValid())), err)
	}
	return nil
}

func (ls *localLease) renewLoop() {
	defer close(ls.done)
	t := time.NewTimer(ls.l.renewEvery())
	defer t.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-t.C:
		}
		ls.mu.Lock()
		err := ls.renewLocked()
		lost := ls.lost != nil
		ls.mu.Unlock()
		if lost {
			return
		}
		next := ls.l.renewEvery()
		if err != nil {
			next = ls.l.renewRetry()
		}
		t.Reset(next)
	}
}

// renewLocked moves the lock's expiry a TTL past now, rewriting PATH.lock
// atomically, as long as the lock is still this lease's; ls.mu is held. It
// sets ls.lost when the lock is someone else's, and warns when renewing
// starts or stops failing and when the lease runs out unrenewed.
func (ls *localLease) renewLocked() error {
	l := ls.l
	if ls.lost != nil {
		return ls.lost
	}
	err := ls.tryRenew()
	switch {
	case ls.lost != nil:
		l.warnf("%v", ls.lost)
	case err != nil:
		if !ls.failing {
			l.warnf("renew state lock %s: %v (trying again every %s)", ls.info.ID, err, l.renewRetry())
		}
		if !ls.lapsed && !l.now().Before(ls.validUntil) {
			ls.lapsed = true
			l.warnf("state lock %s not renewed since %s: this run records nothing more and starts no new action until it is",
				ls.info.ID, fmtLockTime(ls.validUntil.Add(-l.leaseValid())))
		}
		ls.failing = true
	default:
		if ls.failing {
			l.warnf("renewed state lock %s again", ls.info.ID)
		}
		ls.failing, ls.lapsed = false, false
	}
	return err
}

// confirm reads PATH.lock and sets ls.lost if it is not this lease's; ls.mu
// is held.
func (ls *localLease) confirm() error {
	l := ls.l
	if err := l.lockFault("read"); err != nil {
		return err
	}
	cur, _, err := l.readLock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err != nil || cur.ID != ls.info.ID {
		holder := "nobody"
		if err == nil {
			holder = fmt.Sprintf("lock %s (%s by %s)", cur.ID, cur.Operation, cur.Who)
		}
		ls.lost = fmt.Errorf("lost state lock %s: %s holds %s now (force-unlocked, or taken over after it expired)", ls.info.ID, holder, l.lockPath())
		return ls.lost
	}
	return nil
}

func (ls *localLease) tryRenew() error {
	l := ls.l
	if err := ls.confirm(); err != nil {
		return err
	}
	start := l.now().UTC()
	next := ls.info
	next.Expires = start.Add(l.ttl)
	raw, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := l.lockFault("write"); err != nil {
		return err
	}
	if err := l.replaceLock(next.ID, raw); err != nil {
		return err
	}
	ls.info = next
	ls.validUntil = start.Add(l.leaseValid())
	return nil
}

// lockTempPattern names the temporary files of lock id (os.CreateTemp
// pattern): PATH.lock.tmp-ID-*. A holder killed while it creates or renews
// its lock leaves one behind; whoever takes the lock over removes them.
func (l *Local) lockTempPattern(id string) string {
	return filepath.Base(l.lockPath()) + ".tmp-" + id + "-*"
}

// removeLockTemps removes what the holder of lock id, just taken over, left
// of its temporary files.
func (l *Local) removeLockTemps(id string) {
	if id == "" {
		return
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(l.lockPath()), l.lockTempPattern(id)))
	for _, f := range left {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.warnf("remove the old lock's temporary file: %v", err)
		}
	}
}

// replaceLock puts raw in PATH.lock atomically (temp file, rename) but, as
// explained on localLease, without fsync.
func (l *Local) replaceLock(id string, raw []byte) (err error) {
	path := l.lockPath()
	f, err := os.CreateTemp(filepath.Dir(path), l.lockTempPattern(id))
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
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

// lockFault is the test hook for renewals (step "read" or "write").
func (l *Local) lockFault(step string) error {
	if l.renewFault == nil {
		return nil
	}
	return l.renewFault(step)
}

// Unlock stops the renewal and removes PATH.lock if it is still ours.
func (ls *localLease) Unlock() error {
	ls.once.Do(func() {
		close(ls.stop)
		<-ls.done
		ls.mu.Lock()
		id := ls.info.ID
		ls.mu.Unlock()
		removed, cur, err := ls.l.removeLockIf(func(raw []byte) bool {
			info, ok := parseLock(raw)
			return ok && info.ID == id
		})
		switch {
		case errors.Is(err, fs.ErrNotExist):
			ls.unlockErr = fmt.Errorf("unlock state: lock %s is gone from %s (force-unlocked?)", id, ls.l.lockPath())
		case err != nil:
			ls.unlockErr = fmt.Errorf("unlock state: %w", err)
		case !removed:
			ls.unlockErr = fmt.Errorf("unlock state: lock %s is no longer this run's: %s", id, describeHolder(cur))
		}
	})
	return ls.unlockErr
}

// ForceUnlock removes PATH.lock if its ID is id.
func (l *Local) ForceUnlock(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("force-unlock state: %w", err)
	}
	if id == "" {
		return errors.New("force-unlock state: no lock ID given")
	}
	removed, cur, err := l.removeLockIf(func(raw []byte) bool {
		info, ok := parseLock(raw)
		if id == UnreadableLockID {
			return !ok
		}
		return ok && info.ID == id
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("force-unlock state: %s is not locked", l.path)
	case err != nil:
		return fmt.Errorf("force-unlock state: %w", err)
	case removed:
		return nil
	}
	if _, ok := parseLock(cur); !ok {
		return fmt.Errorf("force-unlock state: the lock file %s is empty or unreadable: it has no ID; if no drsctl is running, remove it with: drsctl force-unlock %s", l.lockPath(), UnreadableLockID)
	}
	if id == UnreadableLockID {
		info, _ := parseLock(cur)
		return fmt.Errorf("force-unlock state: not unlocking: the lock file %s is readable: %s; if you are sure that run is gone: drsctl force-unlock %s", l.lockPath(), describeHolder(cur), info.ID)
	}
	return fmt.Errorf("force-unlock state: not unlocking: %s, not by %s", describeHolder(cur), id)
}

func describeHolder(raw []byte) string {
	info, ok := parseLock(raw)
	if !ok {
		return "the lock file is empty or unreadable"
	}
	return fmt.Sprintf("the state is locked by ID %s (%s by %s, created %s)",
		info.ID, info.Operation, info.Who, fmtLockTime(info.Created))
}
