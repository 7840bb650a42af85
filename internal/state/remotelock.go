package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The remote lock, with conditional creates only (an object store through
// gocloud.dev cannot compare-and-swap an overwrite, nor delete only if
// unchanged):
//
//	lock-<g>.json            generation g of the lock: created by whoever takes it
//	lock-<g>-renew-<n>.json  the holder's n-th renewal of g (a later expiry)
//	lock-<g>-free.json       g released (Unlock) or force-unlocked
//
// The lock is the highest generation g. It is free when g has a free
// marker (or there is none); otherwise it is held by lock-<g>'s ID until
// the expiry of its latest renewal. Taking the lock is creating
// lock-<g+1>: for a free lock, or for an expired one (with a warning), or
// for one whose holder was a process on this machine that no longer runs.
// Of any number of contenders exactly one creates it. The new holder
// deletes the older generations' objects; the previous holder of g finds
// lock-<g+1> (or its own objects gone) and knows it lost the lock.
//
// Why two runs never both hold it, given clocks that agree to within TTL/6:
// a holder counts itself valid (Lease.Valid) until 5/6 TTL after the start
// S of its latest renewal that COMPLETED before the previous validity ran
// out; that renewal says expires S+TTL. A contender C takes over only if
// what it lists shows every renewal expired on C's clock. Suppose C lists
// at real time τ and the holder H is valid at some instant after τ by a
// renewal that started at S (on H's clock) and completed at E. Then:
//   - if E is before τ, C's list shows that renewal (the stores are
//     strongly consistent, list after write), so C judges it expired only
//     when C's clock passes S+TTL, when H's clock is past S+5/6 TTL (the
//     clocks are within TTL/6): H is no longer valid by that renewal;
//   - if E is after τ, that renewal counts only because E came before the
//     validity of the renewal before it (S'+5/6 TTL on H's clock) ran out,
//     so H's clock at τ was before S'+5/6 TTL and C's before S'+TTL: C
//     finds even the renewal before it unexpired and does not take over.
//
// A renewal that completes too late (a stalled process, a slow store)
// does not count: the holder instead takes the next generation itself, a
// conditional create like any contender's, so either it holds the lock
// afresh or someone else does and it has lost it. Hence never two.
//
// Force-unlock creates the free marker of the generation whose ID it was
// given; the holder's next Valid (a list, before every state write) sees
// it. Unlock creates it too. Every object carries an expiry: there is no
// lock without one.

const lockPrefix = "lock-"

func lockName(g uint64) string     { return fmt.Sprintf("%s%020d%s", lockPrefix, g, objectSuffix) }
func lockFreeName(g uint64) string { return fmt.Sprintf("%s%020d-free%s", lockPrefix, g, objectSuffix) }
func lockRenewName(g, n uint64) string {
	return fmt.Sprintf("%s%020d-renew-%020d%s", lockPrefix, g, n, objectSuffix)
}

// lockGen is what is stored of one generation.
type lockGen struct {
	main     bool
	free     bool
	renewals []uint64 // ascending
	names    []string
}

// lockView is a listing of the lock objects.
type lockView struct {
	gens map[uint64]*lockGen
	max  uint64
}

func (v *lockView) gen(g uint64) *lockGen {
	if lg := v.gens[g]; lg != nil {
		return lg
	}
	return &lockGen{}
}

func (r *Remote) scanLocks(ctx context.Context) (*lockView, error) {
	names, err := r.store.List(ctx, lockPrefix)
	if err != nil {
		return nil, fmt.Errorf("list the state lock %s%s*: %w", r.where(), lockPrefix, err)
	}
	v := &lockView{gens: map[uint64]*lockGen{}}
	for _, n := range names {
		rest, _ := strings.CutPrefix(n, lockPrefix)
		if len(rest) < 20 {
			continue
		}
		g, err := strconv.ParseUint(rest[:20], 10, 64)
		if err != nil || g == 0 {
			continue
		}
		lg := v.gens[g]
		if lg == nil {
			lg = &lockGen{}
		}
		switch tail := rest[20:]; {
		case tail == objectSuffix:
			lg.main = true
		case tail == "-free"+objectSuffix:
			lg.free = true
		case strings.HasPrefix(tail, "-renew-") && strings.HasSuffix(tail, objectSuffix):
			rn, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(tail, "-renew-"), objectSuffix), 10, 64)
			if err != nil {
				continue
			}
			lg.renewals = append(lg.renewals, rn) // names sort, so ascending
		default:
			continue
		}
		lg.names = append(lg.names, n)
		v.gens[g] = lg
		v.max = max(v.max, g)
	}
	return v, nil
}

// holder reads who holds generation g, with the expiry of its latest
// renewal. errVanished when an object went while being read (a renewal
// superseded, or the generation taken over and cleaned up).
func (r *Remote) holder(ctx context.Context, g uint64, lg *lockGen) (LockInfo, error) {
	name := lockName(g)
	if n := len(lg.renewals); n > 0 {
		name = lockRenewName(g, lg.renewals[n-1])
	} else if !lg.main {
		return LockInfo{}, errVanished
	}
	raw, err := r.store.Get(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return LockInfo{}, errVanished
	}
	if err != nil {
		return LockInfo{}, fmt.Errorf("read the state lock %s%s: %w", r.where(), name, err)
	}
	info, ok := parseLock(raw)
	if !ok || info.Expires.IsZero() {
		// drsctl writes whole objects with an expiry: this is not one of
		// its locks. Not a lock without an expiry either: expired.
		return LockInfo{Who: "unknown (the lock object " + r.where() + name + " is not a drsctl lock)"}, nil
	}
	return info, nil
}

func (r *Remote) lockPath(g uint64) string { return r.where() + lockName(g) }

// Lock takes the lock; see Manager.Lock and the comment above.
func (r *Remote) Lock(ctx context.Context, op string, timeout time.Duration) (Lease, error) {
	deadline := time.Now().Add(timeout)
	delay := r.pollMin
	info := newLockInfo(op, r.vers, r.now(), r.ttl)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lock state %s: %w", r.Describe(), err)
		}
		v, err := r.scanLocks(ctx)
		if err != nil {
			return nil, fmt.Errorf("lock state: %w", err)
		}
		g := v.max
		lg := v.gen(g)
		var held LockInfo
		why, free := "", g == 0 || lg.free
		if !free {
			held, err = r.holder(ctx, g, lg)
			if errors.Is(err, errVanished) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("lock state: %w", err)
			}
			if !held.Expires.After(r.now()) {
				why = "expired at " + fmtLockTime(held.Expires)
			} else if gone, how := holderGone(held); gone {
				why = "was left by a run that died: " + how
			}
		}
		if free || why != "" {
			start := r.now().UTC()
			info.Created, info.Expires = start, start.Add(r.ttl)
			raw, err := json.Marshal(info)
			if err != nil {
				return nil, err
			}
			err = r.store.Create(ctx, lockName(g+1), raw)
			if err == nil {
				if why != "" {
					r.warnf("state lock %s (%s by %s since %s) %s; taking it over",
						held.ID, held.Operation, held.Who, fmtLockTime(held.Created), why)
				}
				r.removeLockGens(ctx, v, g+1)
				return r.startLease(info, g+1, start), nil
			}
			if !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("lock state %s: %w", r.lockPath(g+1), err)
			}
			continue // another run took it first: see who
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, &LockedError{Info: held, Path: r.lockPath(g)}
		}
		t := time.NewTimer(min(delay, remaining))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lock state %s: %w", r.Describe(), ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, r.pollMax)
	}
}

// removeLockGens deletes the objects of the generations before g, which
// the holder of g has just taken: best effort, the next taker retries.
func (r *Remote) removeLockGens(ctx context.Context, v *lockView, g uint64) {
	for gen, lg := range v.gens {
		if gen >= g {
			continue
		}
		for _, n := range lg.names {
			if err := r.store.Delete(ctx, n); err != nil {
				r.warnf("remove old state lock object %s%s: %v", r.where(), n, err)
				return
			}
		}
	}
}

// Holder returns who holds the lock, or nil when it is free: for a human
// (drsctl force-unlock without an ID).
func (r *Remote) Holder(ctx context.Context) (*LockInfo, error) {
	for {
		v, err := r.scanLocks(ctx)
		if err != nil {
			return nil, err
		}
		lg := v.gen(v.max)
		if v.max == 0 || lg.free {
			return nil, nil
		}
		info, err := r.holder(ctx, v.max, lg)
		if errors.Is(err, errVanished) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &info, nil
	}
}

// ForceUnlock frees the lock if its ID is id.
func (r *Remote) ForceUnlock(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("force-unlock state: %w", err)
	}
	if id == "" {
		return errors.New("force-unlock state: no lock ID given")
	}
	for {
		v, err := r.scanLocks(ctx)
		if err != nil {
			return fmt.Errorf("force-unlock state: %w", err)
		}
		g := v.max
		lg := v.gen(g)
		if g == 0 || lg.free {
			return fmt.Errorf("force-unlock state: %s is not locked", r.Describe())
		}
		held, err := r.holder(ctx, g, lg)
		if errors.Is(err, errVanished) {
			continue
		}
		if err != nil {
			return fmt.Errorf("force-unlock state: %w", err)
		}
		if held.ID != id {
			return fmt.Errorf("force-unlock state: not unlocking: the state is locked by ID %s (%s by %s, created %s), not by %s",
				held.ID, held.Operation, held.Who, fmtLockTime(held.Created), id)
		}
		raw, _ := json.Marshal(map[string]any{"force_unlocked": held.ID, "by": who(), "at": r.now().UTC()})
		err = r.store.Create(ctx, lockFreeName(g), raw)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("force-unlock state: %s is not locked (lock %s was released just now)", r.Describe(), id)
		}
		if err != nil {
			return fmt.Errorf("force-unlock state: %w", err)
		}
		return nil
	}
}

// remoteLease is a held generation of the remote lock, renewed by a
// heartbeat with the timing of localLease (every TTL/6, again after TTL/30
// on failure, valid for 5/6 TTL after a renewal began) and the rule
// explained above: only a renewal completed within the validity counts.
type remoteLease struct {
	r *Remote

	mu         sync.Mutex
	info       LockInfo
	gen        uint64
	renewals   uint64
	validUntil time.Time
	lost       error
	failing    bool
	lapsed     bool

	stop chan struct{}
	done chan struct{}

	once      sync.Once
	unlockErr error
}

var _ Lease = (*remoteLease)(nil)

func (r *Remote) startLease(info LockInfo, g uint64, start time.Time) *remoteLease {
	ls := &remoteLease{r: r, info: info, gen: g, validUntil: start.Add(r.ttl - r.ttl/6),
		stop: make(chan struct{}), done: make(chan struct{})}
	go ls.renewLoop()
	return ls
}

func (ls *remoteLease) Info() LockInfo {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.info
}

// Valid lists the lock (so that a force-unlock or take-over is noticed
// before the next state write, not at the next heartbeat) and checks that
// the latest renewal is recent enough; past that it renews at once if it
// can.
func (ls *remoteLease) Valid() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.lost != nil {
		return ls.lost
	}
	if ls.r.now().Before(ls.validUntil) {
		if err := ls.confirm(context.Background()); ls.lost != nil {
			ls.r.warnf("%v", ls.lost)
			return ls.lost
		} else if err != nil {
			ls.r.warnf("check state lock %s: %v", ls.info.ID, err)
		}
		return nil
	}
	if err := ls.renewLocked(); err != nil {
		if ls.lost != nil {
			return ls.lost
		}
		return fmt.Errorf("state lock %s not renewed since %s, so another run may have judged it expired: %w",
			ls.info.ID, fmtLockTime(ls.validUntil.Add(-(ls.r.ttl - ls.r.ttl/6))), err)
	}
	return nil
}

func (ls *remoteLease) renewLoop() {
	defer close(ls.done)
	t := time.NewTimer(ls.r.ttl / 6)
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
		next := ls.r.ttl / 6
		if err != nil {
			next = ls.r.ttl / 30
		}
		t.Reset(next)
	}
}

// confirm lists the lock and sets ls.lost when it is not this lease's any
// more; ls.mu is held.
func (ls *remoteLease) confirm(ctx context.Context) error {
	v, err := ls.r.scanLocks(ctx)
	if err != nil {
		return err
	}
	lg := v.gen(ls.gen)
	switch {
	case v.max > ls.gen:
		holder := "another run"
		if h, err := ls.r.holder(ctx, v.max, v.gen(v.max)); err == nil {
			holder = fmt.Sprintf("lock %s (%s by %s)", h.ID, h.Operation, h.Who)
		}
		ls.lost = fmt.Errorf("lost state lock %s: %s holds %s now (taken over after it expired, or force-unlocked and taken)", ls.info.ID, holder, ls.r.Describe())
	case lg.free:
		ls.lost = fmt.Errorf("lost state lock %s: it was force-unlocked (%s%s)", ls.info.ID, ls.r.where(), lockFreeName(ls.gen))
	case !lg.main:
		ls.lost = fmt.Errorf("lost state lock %s: its object %s is gone (deleted by hand?)", ls.info.ID, ls.r.lockPath(ls.gen))
	}
	return ls.lost
}

func (ls *remoteLease) renewLocked() error {
	r := ls.r
	if ls.lost != nil {
		return ls.lost
	}
	err := ls.tryRenew()
	switch {
	case ls.lost != nil:
		r.warnf("%v", ls.lost)
	case err != nil:
		if !ls.failing {
			r.warnf("renew state lock %s: %v (trying again every %s)", ls.info.ID, err, r.ttl/30)
		}
		if !ls.lapsed && !r.now().Before(ls.validUntil) {
			ls.lapsed = true
			r.warnf("state lock %s not renewed since %s: this run records nothing more and starts no new action until it is",
				ls.info.ID, fmtLockTime(ls.validUntil.Add(-(r.ttl - r.ttl/6))))
		}
		ls.failing = true
	default:
		if ls.failing {
			r.warnf("renewed state lock %s again", ls.info.ID)
		}
		ls.failing, ls.lapsed = false, false
	}
	return err
}

// tryRenew writes the next renewal; one that completes after the validity
// ran out does not count, and the lease takes the next generation instead
// (see the comment at the top).
func (ls *remoteLease) tryRenew() error {
	r := ls.r
	ctx, cancel := context.WithTimeout(context.Background(), r.ttl)
	defer cancel()
	if err := ls.confirm(ctx); err != nil {
		return err
	}
	start := r.now().UTC()
	if !start.Before(ls.validUntil) {
		return ls.retake(ctx, start)
	}
	next := ls.info
	next.Expires = start.Add(r.ttl)
	raw, err := json.Marshal(next)
	if err != nil {
		return err
	}
	n := ls.renewals + 1
	err = r.store.Create(ctx, lockRenewName(ls.gen, n), raw)
	if errors.Is(err, fs.ErrExist) {
		// Only this lease writes renewals of its generation: an earlier
		// try committed though its reply was lost. The next try skips it.
		ls.renewals = n
		return fmt.Errorf("renewal %s is there already (an earlier try whose reply was lost)", lockRenewName(ls.gen, n))
	}
	if err != nil {
		return err
	}
	ls.renewals = n
	if !r.now().Before(ls.validUntil) {
		// Completed too late to count: another run may have judged the
		// lock expired from what it listed before this renewal showed.
		return ls.retake(ctx, r.now().UTC())
	}
	ls.info = next
	ls.validUntil = start.Add(r.ttl - r.ttl/6)
	if n > 1 {
		if err := r.store.Delete(ctx, lockRenewName(ls.gen, n-1)); err != nil {
			r.warnf("remove superseded state lock renewal: %v", err)
		}
	}
	return nil
}

// retake takes the next generation for this lease, whose validity ran out:
// a conditional create, so it fails if another run took the lock over.
func (ls *remoteLease) retake(ctx context.Context, start time.Time) error {
	r := ls.r
	next := ls.info
	next.Expires = start.Add(r.ttl)
	raw, err := json.Marshal(next)
	if err != nil {
		return err
	}
	g := ls.gen + 1
	err = r.store.Create(ctx, lockName(g), raw)
	if errors.Is(err, fs.ErrExist) {
		if cur, gerr := r.store.Get(ctx, lockName(g)); gerr == nil {
			if info, ok := parseLock(cur); ok && info.ID == ls.info.ID {
				// This lease's own earlier try, whose reply was lost: the
				// generation is ours, from that try's start at the latest.
				err, next = nil, info
				start = info.Expires.Add(-r.ttl)
			}
		}
	}
	if errors.Is(err, fs.ErrExist) {
		ls.lost = fmt.Errorf("lost state lock %s: it was not renewed in time and another run has taken it over (%s)", ls.info.ID, r.lockPath(g))
		return ls.lost
	}
	if err != nil {
		return err
	}
	r.warnf("state lock %s ran out unrenewed; took it again (no other run had taken it over)", ls.info.ID)
	old := ls.gen
	ls.gen, ls.renewals, ls.info = g, 0, next
	ls.validUntil = start.Add(r.ttl - r.ttl/6)
	if v, err := r.scanLocks(ctx); err == nil {
		r.removeLockGens(ctx, v, old+1)
	}
	return nil
}

// Unlock stops the heartbeat and frees the lock if it is still this
// lease's.
func (ls *remoteLease) Unlock() error {
	ls.once.Do(func() {
		close(ls.stop)
		<-ls.done
		ls.mu.Lock()
		defer ls.mu.Unlock()
		r := ls.r
		ctx, cancel := context.WithTimeout(context.Background(), r.ttl)
		defer cancel()
		if ls.lost == nil {
			if err := ls.confirm(ctx); err != nil && ls.lost == nil {
				ls.unlockErr = fmt.Errorf("unlock state: %w", err)
				return
			}
		}
		if ls.lost != nil {
			ls.unlockErr = fmt.Errorf("unlock state: lock %s is no longer this run's: %v", ls.info.ID, ls.lost)
			return
		}
		raw, _ := json.Marshal(map[string]any{"released": ls.info.ID, "at": r.now().UTC()})
		err := r.store.Create(ctx, lockFreeName(ls.gen), raw)
		switch {
		case errors.Is(err, fs.ErrExist):
			ls.unlockErr = fmt.Errorf("unlock state: lock %s is gone from %s (force-unlocked?)", ls.info.ID, r.Describe())
		case err != nil:
			ls.unlockErr = fmt.Errorf("unlock state: %w (the lock expires by itself %s after its latest renewal)", err, r.ttl)
		}
	})
	return ls.unlockErr
}
