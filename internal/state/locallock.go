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

// The local lock is PATH.lock, created with O_CREATE|O_EXCL so that exactly
// one run can create it, holding the LockInfo as JSON.
//
// Nothing on a file system compares and deletes in one step, so every
// removal (unlock, force-unlock, take-over of an expired lock) goes through
// removeLockIf: check the content, rename the file aside to a unique name,
// check the content of what was moved, and put it back (hard link, which
// refuses to overwrite) if it changed in between. A take-over therefore only
// ever removes the very lock it judged expired, and only one contender
// removes it; the contenders then race on O_EXCL like anyone else.

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
		if held.Expires.Before(l.now()) {
			removed, _, err := l.removeLockIf(func(cur []byte) bool { return bytes.Equal(cur, raw) })
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("lock state: take over expired lock: %w", err)
			}
			if removed {
				l.warnf("state lock %s (%s by %s) expired at %s; taking it over",
					held.ID, held.Operation, held.Who, fmtLockTime(held.Expires))
			}
			continue
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
func (l *Local) createLock(info LockInfo) error {
	raw, err := json.Marshal(info)
	if err != nil {
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

// readLock returns the lock's info and bytes. A lock file that cannot be
// parsed (a contender that has created it but not yet written it, or one
// that died doing so) is reported as held by an unknown holder, expiring a
// TTL after the file was last modified.
func (l *Local) readLock() (LockInfo, []byte, error) {
	raw, err := os.ReadFile(l.lockPath())
	if err != nil {
		return LockInfo{}, nil, err
	}
	if info, ok := parseLock(raw); ok {
		return info, raw, nil
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

// localLease is a held PATH.lock, renewed every TTL/3 until Unlock.
type localLease struct {
	l *Local

	mu   sync.Mutex
	info LockInfo

	stop chan struct{}
	done chan struct{}

	once      sync.Once
	unlockErr error
}

var _ Lease = (*localLease)(nil)

func (l *Local) startLease(info LockInfo) *localLease {
	ls := &localLease{l: l, info: info, stop: make(chan struct{}), done: make(chan struct{})}
	go ls.renewLoop()
	return ls
}

func (ls *localLease) Info() LockInfo {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.info
}

func (ls *localLease) renewLoop() {
	defer close(ls.done)
	t := time.NewTicker(ls.l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-t.C:
			if !ls.renew() {
				return
			}
		}
	}
}

// renew moves the lock's expiry a TTL past now, rewriting PATH.lock
// atomically, as long as the lock is still ours. It returns false when the
// lock was lost and renewing should stop.
func (ls *localLease) renew() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.l
	cur, _, err := l.readLock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.warnf("renew state lock %s: %v", ls.info.ID, err)
		return true // try again next time
	}
	if err != nil || cur.ID != ls.info.ID {
		holder := "nobody"
		if err == nil {
			holder = fmt.Sprintf("lock %s (%s)", cur.ID, cur.Who)
		}
		l.warnf("lost state lock %s: %s holds %s now (force-unlocked or taken over after it expired)", ls.info.ID, holder, l.lockPath())
		return false
	}
	next := ls.info
	next.Expires = l.now().UTC().Add(l.ttl)
	raw, err := json.Marshal(next)
	if err == nil {
		err = l.writeAtomic(l.lockPath(), raw)
	}
	if err != nil {
		l.warnf("renew state lock %s: %v", ls.info.ID, err)
		return true
	}
	ls.info = next
	return true
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
		return fmt.Errorf("force-unlock state: the lock file %s is empty or unreadable; if no drsctl is running, delete it by hand", l.lockPath())
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
