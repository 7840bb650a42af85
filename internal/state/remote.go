package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ObjectStore is what a remote ledger needs of an object store (S3, Azure
// Blob): the driver lives outside the core (internal/blob) and plugs in
// here. Names are relative to wherever the state lives (the state URL's
// prefix).
type ObjectStore interface {
	// Create stores data under name only if nothing is there yet, as one
	// atomic, conditional create: of two Creates of one name exactly one
	// succeeds. When the name is taken the error matches
	// errors.Is(err, fs.ErrExist). A create whose reply was lost but which
	// the store committed returns nil.
	Create(ctx context.Context, name string, data []byte) error
	// Get returns the object's bytes; errors.Is(err, fs.ErrNotExist) when
	// there is none.
	Get(ctx context.Context, name string) ([]byte, error)
	// List returns the names that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes name; nil when it is not there.
	Delete(ctx context.Context, name string) error
	// Describe says where the objects live, for messages (a URL without
	// secrets).
	Describe() string
}

// Remote is a Manager for a ledger kept as objects in an ObjectStore, written
// only by conditional creates (no object is ever overwritten):
//
//	snapshot-<serial>.json  the whole state at that serial (the state file format)
//	journal-<serial>.json   the entry that takes the ledger to that serial
//	lock-<generation>…      the lock (see remotelock.go)
//
// with serials and generations as 20 digits, so names sort in order. Serial
// 1 is always a snapshot (a new ledger is written whole); every later write
// creates journal-<serial+1>, so of two writers at one serial exactly one
// succeeds and the other is told to plan again.
//
// Reading is the newest snapshot plus the journal entries after it, which
// must follow one another without a gap. Every CompactEvery entries (or
// CompactBytes of them) the writer creates the snapshot at its serial and
// then deletes what the snapshot before it covers: older snapshots and the
// journal entries up to it. So what remains is the previous snapshot, the
// journal from it to the head, and the newest snapshot inside that journal:
// if the newest snapshot is damaged, the previous one plus the journal give
// the same ledger (Read does so, with a warning). A crash between any two
// steps leaves extra objects that the next compaction removes.
type Remote struct {
	store        ObjectStore
	ttl          time.Duration
	warnf        func(format string, a ...any)
	now          func() time.Time
	vers         string
	compactEvery uint64
	compactBytes int64
	pollMin      time.Duration
	pollMax      time.Duration

	mu   sync.Mutex
	head *remoteHead // what this Remote last read or wrote; nil: unknown
}

// remoteHead is the stored ledger as this Remote last saw it.
type remoteHead struct {
	lineage      string
	serial       uint64
	snap         uint64 // the newest snapshot's serial
	journalBytes int64  // of the entries after snap
}

// RemoteOptions configure a Remote. The zero value is usable.
type RemoteOptions struct {
	// TTL, Warnf, Now and Version are as in LocalOptions.
	TTL     time.Duration
	Warnf   func(format string, a ...any)
	Now     func() time.Time
	Version string
	// CompactEvery is how many journal entries after a snapshot trigger
	// the next one (default 100); CompactBytes how many bytes of them
	// (default 16 MiB). A read replays up to twice as many entries (from
	// the previous snapshot, when the newest is damaged).
	CompactEvery int
	CompactBytes int64
	// PollMin and PollMax bound the delay between tries while Lock waits
	// (defaults 100 ms and 2 s).
	PollMin, PollMax time.Duration
}

// NewRemote returns a Manager for the ledger in store.
func NewRemote(store ObjectStore, opts RemoteOptions) *Remote {
	r := &Remote{store: store, ttl: opts.TTL, warnf: opts.Warnf, now: opts.Now, vers: opts.Version,
		compactBytes: opts.CompactBytes, pollMin: opts.PollMin, pollMax: opts.PollMax}
	if opts.CompactEvery > 0 {
		r.compactEvery = uint64(opts.CompactEvery)
	}
	if r.ttl <= 0 {
		r.ttl = DefaultLockTTL
	}
	if r.warnf == nil {
		r.warnf = func(string, ...any) {}
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.vers == "" {
		r.vers = buildVersion()
	}
	if r.compactEvery == 0 {
		r.compactEvery = 100
	}
	if r.compactBytes <= 0 {
		r.compactBytes = 16 << 20
	}
	if r.pollMin <= 0 {
		r.pollMin = 100 * time.Millisecond
	}
	if r.pollMax <= 0 {
		r.pollMax = 2 * time.Second
	}
	return r
}

var _ Manager = (*Remote)(nil)

// Describe says where the ledger lives.
func (r *Remote) Describe() string { return r.store.Describe() }

const (
	snapshotPrefix = "snapshot-"
	snapshotSuffix = ".snap" // the binary snapshot format (WriteSnapshot)
	journalPrefix  = "journal-"
	objectSuffix   = ".json" // journal entries and lock objects
)

func snapshotName(serial uint64) string {
	return fmt.Sprintf("%s%020d%s", snapshotPrefix, serial, snapshotSuffix)
}
func journalName(serial uint64) string {
	return fmt.Sprintf("%s%020d%s", journalPrefix, serial, objectSuffix)
}

// parseSerialName returns the serial of prefix<serial>suffix.
func parseSerialName(name, prefix, suffix string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, suffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil && n > 0
}

// listSerials lists the serials of the objects named
// prefix<serial>suffix, ascending; other names under prefix are ignored.
func (r *Remote) listSerials(ctx context.Context, prefix, suffix string) ([]uint64, error) {
	names, err := r.store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s%s*: %w", r.where(), prefix, err)
	}
	var out []uint64
	for _, n := range names {
		if s, ok := parseSerialName(n, prefix, suffix); ok {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (r *Remote) where() string {
	d := r.store.Describe()
	if d != "" && !strings.HasSuffix(d, "/") {
		d += "/"
	}
	return d
}

// errVanished: an object listed a moment ago was gone when read, because a
// compaction removed it meanwhile. The read starts over.
var errVanished = errors.New("object vanished while reading")

// Read reads the newest snapshot and replays the journal after it; (nil,
// nil) when nothing is stored.
func (r *Remote) Read(ctx context.Context) (*State, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, h, err := r.load(ctx)
	if err != nil {
		r.head = nil
		return nil, err
	}
	r.head = h
	return s, nil
}

// load is Read; a compaction that removes objects while they are read
// makes it start over.
func (r *Remote) load(ctx context.Context) (*State, *remoteHead, error) {
	for try := 0; ; try++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("read state %s: %w", r.Describe(), err)
		}
		s, h, err := r.loadOnce(ctx)
		if errors.Is(err, errVanished) && try < 10 {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return s, h, nil
	}
}

func (r *Remote) loadOnce(ctx context.Context) (*State, *remoteHead, error) {
	snaps, err := r.listSerials(ctx, snapshotPrefix, snapshotSuffix)
	if err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	journal, err := r.listSerials(ctx, journalPrefix, objectSuffix)
	if err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	if len(snaps) == 0 {
		if len(journal) > 0 {
			return nil, nil, fmt.Errorf("read state %s: journal entries %s… are there but no snapshot: the snapshot was deleted (by a cleanup job or lifecycle rule?). Restore it (bucket versioning, soft delete) or run drsctl state rebuild; do not let a new ledger start over it",
				r.Describe(), journalName(journal[0]))
		}
		return nil, nil, nil
	}
	newest := snaps[len(snaps)-1]
	s, bases, err := r.loadSnapshot(ctx, newest)
	if err == nil {
		s, err = r.replay(ctx, s, journal)
		if err == nil {
			return s, r.headOf(s, newest, bases), nil
		}
	}
	if errors.Is(err, errVanished) || len(snaps) < 2 {
		return nil, nil, err
	}
	// The newest snapshot (or the journal after it) cannot be read: the
	// previous snapshot plus the journal from it give the same ledger, if
	// the journal is whole from there.
	prev := snaps[len(snaps)-2]
	ps, pbases, perr := r.loadSnapshot(ctx, prev)
	if perr == nil {
		var ok *State
		if ok, perr = r.replay(ctx, ps, journal); perr == nil && ok.Serial >= newest {
			r.warnf("state %s: %v; read the ledger from the previous snapshot %s and the journal after it instead (nothing is lost). The next compaction writes a new snapshot",
				r.Describe(), err, snapshotName(prev))
			return ok, r.headOf(ok, prev, pbases), nil
		} else if perr == nil {
			perr = fmt.Errorf("its journal ends at serial %d, before the newest snapshot's %d", ok.Serial, newest)
		}
	}
	if errors.Is(perr, errVanished) {
		return nil, nil, perr
	}
	return nil, nil, fmt.Errorf("%w\nThe previous snapshot %s%s cannot stand in for it either: %v. Restore the damaged object from the bucket's versions, or run drsctl state rebuild",
		err, r.where(), snapshotName(prev), perr)
}

func (r *Remote) headOf(s *State, snap uint64, journalBytes int64) *remoteHead {
	return &remoteHead{lineage: s.Lineage, serial: s.Serial, snap: snap, journalBytes: journalBytes}
}

// loadSnapshot reads snapshot-<serial>; the int64 is 0 (journal bytes
// after it, counted by replay's caller: see replay).
func (r *Remote) loadSnapshot(ctx context.Context, serial uint64) (*State, int64, error) {
	name := snapshotName(serial)
	raw, err := r.store.Get(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, errVanished
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read state snapshot %s%s: %w", r.where(), name, err)
	}
	s, err := Read(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, fmt.Errorf("read state snapshot %s%s: %w", r.where(), name, err)
	}
	if s.Serial != serial {
		return nil, 0, fmt.Errorf("read state snapshot %s%s: it holds serial %d, not the %d of its name: it was renamed or copied by hand", r.where(), name, s.Serial, serial)
	}
	s.ClearChanges()
	return s, 0, nil
}

// replay applies the journal entries after s.Serial onto s. They must
// follow one another from s.Serial+1 on.
func (r *Remote) replay(ctx context.Context, s *State, journal []uint64) (*State, error) {
	var after []uint64
	for _, j := range journal {
		if j > s.Serial {
			after = append(after, j)
		}
	}
	base := s.Serial
	for i, j := range after {
		if j != base+uint64(i)+1 {
			return nil, fmt.Errorf("read state %s: journal entry %s is missing, but %s is there: the ledger after serial %d cannot be read in full. Objects under %s were deleted or lost (a cleanup job or lifecycle rule?); restore them (bucket versioning, soft delete) or run drsctl state rebuild",
				r.Describe(), journalName(base+uint64(i)+1), journalName(j), base+uint64(i), r.Describe())
		}
	}
	// Fetched in parallel: one round trip each, which adds up on a real
	// object store; applied in order.
	raws := make([][]byte, len(after))
	errs := make([]error, len(after))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, j := range after {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			raws[i], errs[i] = r.store.Get(ctx, journalName(j))
		}()
	}
	wg.Wait()
	for i, j := range after {
		name := journalName(j)
		if err := errs[i]; errors.Is(err, fs.ErrNotExist) {
			return nil, errVanished
		} else if err != nil {
			return nil, fmt.Errorf("read state journal entry %s%s: %w", r.where(), name, err)
		}
		if err := ApplyEntry(s, raws[i]); err != nil {
			return nil, fmt.Errorf("read state %s: journal entry %s (%d of %d after snapshot serial %d): %w", r.Describe(), name, i+1, len(after), base, err)
		}
		if s.Serial != j {
			return nil, fmt.Errorf("read state %s: journal entry %s leaves the ledger at serial %d", r.Describe(), name, s.Serial)
		}
	}
	s.ClearChanges()
	return s, nil
}

// Write creates the next journal entry (a new ledger: snapshot 1) as
// described on Manager.Write; see Remote. It is Stage then Commit.
func (r *Remote) Write(ctx context.Context, s *State) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write state %s: %w", r.Describe(), err)
	}
	st, err := r.stage(ctx, s)
	if err != nil {
		return err
	}
	if err := st.Commit(ctx); err != nil {
		st.Abandon()
		return err
	}
	return nil
}

var _ Stager = (*Remote)(nil)

// remoteStaged is a write prepared by Stage.
type remoteStaged struct {
	r      *Remote
	s      *State
	serial uint64   // s.Serial before Stage
	track  *changes // s's changes before Stage
	head   *remoteHead
	name   string
	raw    []byte
	// snapshot is the whole ledger at the new serial when a compaction is
	// due with this write: encoded at Stage, since s may change before
	// Commit.
	snapshot []byte
}

// Stage encodes s's changes as the next journal entry and advances
// s.Serial; Commit creates it. Actions that finish while one entry is being
// created go into the next (group commit).
func (r *Remote) Stage(s *State) (Staged, error) {
	return r.stage(context.Background(), s)
}

func (r *Remote) stage(ctx context.Context, s *State) (*remoteStaged, error) {
	if s == nil {
		return nil, errors.New("write state: no state")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.head
	if h == nil || h.lineage != s.Lineage || h.serial != s.Serial {
		// Not what this Remote last saw: compare with what is stored.
		stored, sh, err := r.load(ctx)
		if err != nil {
			return nil, fmt.Errorf("write state: refusing to write over a state that cannot be read: %w", err)
		}
		if err := checkStored(r.Describe(), stored, s); err != nil {
			return nil, fmt.Errorf("write state: %w", err)
		}
		h = sh
	}
	st := &remoteStaged{r: r, s: s, serial: s.Serial, track: s.track, head: h}
	next := s.Serial + 1
	whole := func() ([]byte, error) {
		cp := *s // shallow: only Serial differs
		cp.Serial = next
		var buf bytes.Buffer
		if err := WriteSnapshot(&cp, &buf); err != nil {
			return nil, fmt.Errorf("write state %s: %w", r.Describe(), err)
		}
		return buf.Bytes(), nil
	}
	var err error
	if s.Serial == 0 || h == nil {
		// A new ledger is written whole.
		st.name = snapshotName(1)
		if st.raw, err = whole(); err != nil {
			return nil, err
		}
	} else {
		st.name = journalName(next)
		if st.raw, err = EncodeEntry(s); err != nil {
			return nil, fmt.Errorf("write state %s: %w", r.Describe(), err)
		}
		if next-h.snap >= r.compactEvery || h.journalBytes+int64(len(st.raw)) >= r.compactBytes {
			if st.snapshot, err = whole(); err != nil {
				return nil, err
			}
		}
	}
	s.Serial = next
	s.ClearChanges()
	return st, nil
}

// Abandon, after a failed Commit, sets s back as it was before Stage.
func (st *remoteStaged) Abandon() {
	st.s.Serial = st.serial
	st.s.track = st.track
}

// Commit creates the staged entry. On error nothing this run can count on
// was written (an entry whose reply was lost may be: the next write at
// that serial then conflicts, and the next run reads it).
func (st *remoteStaged) Commit(ctx context.Context) error {
	r := st.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.head = nil // unknown until this write is settled
	next := st.serial + 1
	err := r.store.Create(ctx, st.name, st.raw)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write state: %w", &conflictError{fmt.Sprintf(
			"state %s: serial %d was written by another drsctl since this run read serial %d; plan again", r.Describe(), next, st.serial)})
	}
	if err != nil {
		return fmt.Errorf("write state %s%s: %w", r.where(), st.name, err)
	}
	// The name was free, but a name the compactions have pruned is free
	// again: journal-N is deleted once two snapshots at or past N exist
	// (the previous one and the newest; snapshots are only ever deleted
	// below those two), so two such snapshots, ours aside, mean this run's
	// serial was long gone and its entry is ignored by every read. One
	// means another run built on this very entry and compacted since: the
	// entry is in the ledger, and this run's next write will conflict.
	snaps, err := r.listSerials(ctx, snapshotPrefix, snapshotSuffix)
	if err != nil {
		return fmt.Errorf("write state: created %s%s but could not check it against the snapshots: %w", r.where(), st.name, err)
	}
	past := 0
	for _, sn := range snaps {
		if sn >= next && snapshotName(sn) != st.name {
			past++
		}
	}
	if past >= 2 {
		if derr := r.store.Delete(ctx, st.name); derr != nil {
			r.warnf("state %s: remove %s, written over a pruned serial: %v (every read ignores it)", r.Describe(), st.name, derr)
		}
		return fmt.Errorf("write state: %w", &conflictError{fmt.Sprintf(
			"state %s is at serial %d or later but this run read serial %d: another drsctl wrote it since; plan again", r.Describe(), snaps[len(snaps)-1], st.serial)})
	}
	if next == 1 || st.head == nil {
		r.head = &remoteHead{lineage: st.s.Lineage, serial: next, snap: next}
		return nil
	}
	h := &remoteHead{lineage: st.head.lineage, serial: next, snap: st.head.snap, journalBytes: st.head.journalBytes + int64(len(st.raw))}
	r.head = h
	if st.snapshot != nil {
		r.compact(ctx, st.snapshot, next, h)
	}
	return nil
}

// compact creates the snapshot at serial and deletes what the previous
// snapshot covers. The write it follows is durable already: a failure here
// is a warning, and what a failed compaction leaves, the next one removes.
func (r *Remote) compact(ctx context.Context, snapshot []byte, serial uint64, h *remoteHead) {
	name := snapshotName(serial)
	if err := r.store.Create(ctx, name, snapshot); err != nil && !errors.Is(err, fs.ErrExist) {
		r.warnf("state %s: write snapshot %s: %v (the journal keeps every entry; trying again at the next write)", r.Describe(), name, err)
		return
	}
	prev := h.snap
	h.snap, h.journalBytes = serial, 0
	if err := r.prune(ctx, prev); err != nil {
		r.warnf("state %s: remove what snapshot %s covers: %v (removed at the next compaction)", r.Describe(), snapshotName(prev), err)
	}
}

// prune deletes the snapshots older than prev and the journal entries up
// to prev: what the snapshot after prev makes redundant. prev itself and
// the journal after it stay, the way back should the newest snapshot be
// damaged.
func (r *Remote) prune(ctx context.Context, prev uint64) error {
	journal, err := r.listSerials(ctx, journalPrefix, objectSuffix)
	if err != nil {
		return err
	}
	for _, j := range journal {
		if j > prev {
			break
		}
		if err := r.store.Delete(ctx, journalName(j)); err != nil {
			return err
		}
	}
	snaps, err := r.listSerials(ctx, snapshotPrefix, snapshotSuffix)
	if err != nil {
		return err
	}
	for _, sn := range snaps {
		if sn >= prev {
			break
		}
		if err := r.store.Delete(ctx, snapshotName(sn)); err != nil {
			return err
		}
	}
	return nil
}
