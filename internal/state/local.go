package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Local is a Manager for a state file on a local (or mounted) file system.
//
// Files, for a state at PATH:
//
//	PATH                 the newest snapshot: the whole ledger at some serial
//	                     (binary, snapshot.go; a JSON file of drsctl before
//	                     the journal is read the same way)
//	PATH.journal         the entries after it, one per commit (journal.go),
//	                     appended and fsynced: a commit is durable when its
//	                     entry is
//	PATH.backup          the snapshot before the newest one, and
//	PATH.backup.journal  the entries that took it to the newest one: with
//	                     PATH.journal, the way back when PATH is lost
//	PATH.lock            the lock, while a run holds it (LockInfo as JSON)
//
// plus short-lived PATH.tmp-*, PATH.lock.tmp-* and PATH.lock.stale-* files
// while a write, renewal or take-over is under way.
//
// A journal line is the CRC-32C of the entry (8 hex digits), a space, the
// entry (JSON) and a newline. A last line that is incomplete or fails its
// checksum is a commit that was never acknowledged (the run died while
// appending it) and is ignored, and cut off by the next commit; anywhere
// else it is damage, and the ledger is refused.
type Local struct {
	path  string
	ttl   time.Duration
	warnf func(format string, a ...any)
	now   func() time.Time
	vers  string

	// For tests: failpoint is called before each step of an atomic write
	// (step is "create", "write", "sync", "close" or "rename"; file the file
	// being replaced) and fails the write when it returns an error.
	failpoint func(step, file string) error
	// For tests: renewFault is called before a lease renewal reads
	// ("read") and rewrites ("write") the lock, and fails the renewal when
	// it returns an error. Set before Lock; it may be called concurrently.
	renewFault func(step string) error
	// For tests: afterSnapshotRead is called by a read between reading
	// the snapshot and reading the journal.
	afterSnapshotRead func()
	// compactMin is the journal size below which it is never folded into
	// a snapshot (compactAt); tests lower it.
	compactMin int64
	// Lock polls with a delay that doubles from pollMin up to pollMax.
	pollMin, pollMax time.Duration

	// last is what this Local read or wrote last: the compare step of the
	// next write need not read the ledger again while the files are as it
	// left them.
	mu   sync.Mutex
	last *onDisk
	// verified is the ledger as the last verified entry leaves it
	// (verifyJournal only).
	verified *State
}

// onDisk identifies the ledger's files as this Local last saw them.
type onDisk struct {
	snapshot fs.FileInfo
	snapSize int64
	// journalLen is the length of the journal's acknowledged entries;
	// journalSize the file's size (more when a torn entry follows).
	journalLen, journalSize int64
	lineage                 string
	serial                  uint64
	// snapSerial is the snapshot's own serial: serial is more once the
	// journal holds entries after it.
	snapSerial uint64
	// json: the snapshot is a JSON state file of a drsctl before the
	// journal.
	json bool
}

// LocalOptions configure a Local. The zero value is usable.
type LocalOptions struct {
	// TTL is how long a lock lives unless renewed; a lease renews it every
	// TTL/6 (see localLease). Default DefaultLockTTL.
	TTL time.Duration
	// Warnf reports things the user should know but that do not stop the
	// run, such as taking over an expired lock. Default: discard.
	Warnf func(format string, a ...any)
	// Now is the clock for lock times. Default time.Now.
	Now func() time.Time
	// Version is drsctl's version, recorded in the lock for the messages
	// of whoever finds it held. Default: the module version the build
	// recorded, usually "(devel)".
	Version string
}

// DefaultLockTTL is the lock TTL when LocalOptions.TTL is zero: a holder
// that died on another machine (one on this machine is seen at once) keeps
// the state locked for at most this long after its latest renewal. Clocks
// of machines sharing a state must agree to well within TTL/6 (5 s).
const DefaultLockTTL = 30 * time.Second

// NewLocal returns a Manager for the state file at path.
func NewLocal(path string, opts LocalOptions) *Local {
	l := &Local{
		path:    path,
		ttl:     opts.TTL,
		warnf:   opts.Warnf,
		now:     opts.Now,
		vers:    opts.Version,
		pollMin: 50 * time.Millisecond,
		pollMax: time.Second,

		compactMin: 1 << 20,
	}
	if l.ttl <= 0 {
		l.ttl = DefaultLockTTL
	}
	if l.warnf == nil {
		l.warnf = func(string, ...any) {}
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.vers == "" {
		l.vers = buildVersion()
	}
	return l
}

var _ Manager = (*Local)(nil)

// Describe returns the state file's path.
func (l *Local) Describe() string { return l.path }

// Read reads the state file; (nil, nil) when there is none. It never
// changes the file, even when it cannot read it.
func (l *Local) Read(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read state %s: %w", l.path, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s, d, err := l.read()
	if err != nil || s == nil {
		return nil, err
	}
	l.last = d
	return s, nil
}

func (l *Local) journalPath() string       { return l.path + ".journal" }
func (l *Local) backupPath() string        { return l.path + ".backup" }
func (l *Local) backupJournalPath() string { return l.path + ".backup.journal" }

// read returns the stored state (nil when there is none) and what it saw
// of the files.
//
// A reader that holds no lock (status, plan -lock=false) may read while
// another process compacts: the snapshot it read replaced, and the journal
// that followed it moved to PATH.backup.journal (or a new one begun)
// before it read the journal. The snapshot is the same file at the end of
// the read when that did not happen; otherwise it reads again.
func (l *Local) read() (*State, *onDisk, error) {
	for try := 1; ; try++ {
		s, d, err := l.readOnce()
		if d == nil {
			return s, d, err
		}
		if fi, serr := os.Stat(l.path); serr == nil && os.SameFile(fi, d.snapshot) {
			return s, d, err
		}
		if try == 5 {
			return nil, nil, fmt.Errorf("read state %s: it was replaced by another process %d times while being read; try again", l.path, try)
		}
	}
}

// readOnce reads the snapshot and the journal after it; d is nil when the
// snapshot could not be read.
func (l *Local) readOnce() (*State, *onDisk, error) {
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, l.missing()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	raw := buf.Bytes()
	s, err := Read(bytes.NewReader(raw))
	if err != nil {
		err = fmt.Errorf("read state %s: %w", l.path, err)
		if bs, berr := l.readBackup(); berr == nil {
			err = fmt.Errorf("%w\nThe backup beside it, with the journals, holds ledger %s at serial %d: move %s aside (keep it) and bring the ledger back with: drsctl state restore-backup", err, bs.Lineage, bs.Serial, l.path)
		}
		return nil, nil, err
	}
	if l.afterSnapshotRead != nil {
		l.afterSnapshotRead()
	}
	d := &onDisk{snapshot: fi, snapSize: int64(len(raw)), snapSerial: s.Serial, json: !IsSnapshot(raw)}
	d.journalLen, d.journalSize, err = replayJournal(s, l.journalPath(), true, false)
	if err != nil {
		return nil, d, err
	}
	d.lineage, d.serial = s.Lineage, s.Serial
	return s, d, nil
}

// missing is Read's answer when PATH is not there: nothing (a new ledger)
// only when nothing of an old one is beside it either. A state file
// removed by mistake must not become a fresh start that takes needless
// fulls, calls every standby foreign and, at its first write, overwrites
// the last copy of the old ledger.
func (l *Local) missing() error {
	var left []string
	for _, p := range []string{l.journalPath(), l.backupPath(), l.backupJournalPath()} {
		if _, err := os.Lstat(p); err == nil {
			left = append(left, p)
		}
	}
	if len(left) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state file %s is missing, but what is left of a ledger is beside it: %s.\n", l.path, strings.Join(left, ", "))
	if bs, err := l.readBackup(); err == nil {
		fmt.Fprintf(&b, "The backup holds ledger %s at serial %d (with the journals beside it).\n", bs.Lineage, bs.Serial)
		if last, ok := lastJournalSerial(l.journalPath()); ok && last > bs.Serial {
			fmt.Fprintf(&b, "The journal goes on to serial %d, but the entries after serial %d cannot be replayed onto it: those commits are lost (the next plan sees what the servers and storage hold).\n", last, bs.Serial)
		}
		fmt.Fprintf(&b, "If the state file was removed by mistake, bring the ledger back with: drsctl state restore-backup\n")
	} else {
		fmt.Fprintf(&b, "The backup cannot be read (%v).\n", err)
	}
	fmt.Fprintf(&b, "Or rebuild a ledger from the servers and storage with: drsctl state rebuild (after moving these files aside).\n")
	fmt.Fprintf(&b, "drsctl does not start a new ledger while they are there.")
	return &missingError{msg: b.String()}
}

// missingError is the state file gone with its backup or journal beside it.
type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }

// readBackup reads PATH.backup with the entries that followed it:
// PATH.backup.journal, then PATH.journal.
func (l *Local) readBackup() (*State, error) {
	raw, err := os.ReadFile(l.backupPath())
	if err != nil {
		return nil, err
	}
	s, err := Read(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.backupPath(), err)
	}
	for _, j := range []string{l.backupJournalPath(), l.journalPath()} {
		if _, _, err := replayJournal(s, j, true, true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// RestoreBackup brings back a ledger whose state file was lost: PATH.backup
// and the journals after it are read and written as PATH. It refuses when
// PATH exists. The caller holds the lock.
func (l *Local) RestoreBackup(ctx context.Context) (*State, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := os.Lstat(l.path); err == nil {
		return nil, fmt.Errorf("state file %s exists: there is nothing to restore", l.path)
	}
	s, err := l.readBackup()
	if err != nil {
		return nil, fmt.Errorf("restore state from %s: %w", l.backupPath(), err)
	}
	var buf bytes.Buffer
	if err := WriteSnapshot(s, &buf); err != nil {
		return nil, err
	}
	// Entries the backup cannot reach (after a gap) would follow nothing
	// in the restored ledger and make it unreadable: the journal holding
	// them is moved aside, and named.
	if last, ok := lastJournalSerial(l.journalPath()); ok && last > s.Serial {
		aside := fmt.Sprintf("%s.unreplayable-%d", l.journalPath(), s.Serial)
		if err := os.Rename(l.journalPath(), aside); err != nil {
			return nil, fmt.Errorf("restore state: move aside %s, whose entries after serial %d do not follow the backup: %w", l.journalPath(), s.Serial, err)
		}
		l.warnf("restore state: the journal goes on to serial %d, but the backup reaches only serial %d: the commits in between are lost, and the journal was kept as %s", last, s.Serial, aside)
		// A serial past every one the lost ledger had: a plan saved from
		// it is stale, never taken for a plan of this one.
		buf.Reset()
		s.Serial = last + 1
		if err := WriteSnapshot(s, &buf); err != nil {
			return nil, err
		}
	}
	if err := l.writeAtomic(l.path, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("restore state: %w", err)
	}
	// The new snapshot holds every entry; entries at or before its serial
	// are skipped, so the journal can stay until the next compaction.
	l.last = nil
	return s, nil
}

// lastJournalSerial is the serial of the last acknowledged entry of the
// journal at path; false when it has none (or cannot be read).
func lastJournalSerial(path string) (uint64, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	lines := bytes.Split(raw, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		entry, ok := checkJournalLine(lines[i])
		if !ok || i == len(lines)-1 { // the last piece has no newline: torn
			continue
		}
		var head struct {
			Serial uint64 `json:"serial"`
		}
		if json.Unmarshal(entry, &head) == nil {
			return head.Serial, true
		}
	}
	return 0, false
}

// backupReaches makes sure PATH.backup with PATH.backup.journal reaches
// the serial of the snapshot PATH, before a new journal starts after it:
// otherwise the entries appended from now on would follow a gap when read
// after the backup, and be lost with PATH. That is the case after a state
// file of a drsctl before the journal (whose PATH.backup is the ledger
// before its last write), and after a whole snapshot written without an
// entry. The snapshot is then made the backup.
func (l *Local) backupReaches(lineage string, serial uint64) error {
	pi, err := os.Stat(l.path)
	if err != nil {
		return err
	}
	if bi, err := os.Stat(l.backupPath()); err == nil && os.SameFile(pi, bi) {
		return nil
	}
	if last, ok := lastJournalSerial(l.backupJournalPath()); ok && last == serial {
		if _, err := os.Stat(l.backupPath()); err == nil {
			return nil
		}
	}
	if err := l.keepOtherLineage(lineage); err != nil {
		return err
	}
	if err := l.linkBackup(); err != nil {
		return err
	}
	// Its entries are all in the backup now (at or before its serial).
	if err := os.Remove(l.backupJournalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// replayJournal applies the entries of the journal at path that follow
// s.Serial. Entries at or before it were made part of a snapshot by a
// compaction that did not get to drop them. With stopAtGap, entries after
// a gap are left out (the backup's journals, after a snapshot written
// without an entry). With tornOK, an incomplete or
// damaged last line is an unacknowledged commit and ignored; it returns
// the length of the acknowledged entries and the file's size.
func replayJournal(s *State, path string, tornOK, stopAtGap bool) (valid, size int64, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read state journal: %w", err)
	}
	for off, line := 0, 1; off < len(raw); line++ {
		end := bytes.IndexByte(raw[off:], '\n')
		var entry []byte
		ok := end >= 0
		if ok {
			entry, ok = checkJournalLine(raw[off : off+end])
		}
		if !ok {
			if tornOK && (end < 0 || off+end+1 == len(raw)) {
				return int64(off), int64(len(raw)), nil
			}
			return 0, 0, fmt.Errorf("state journal %s is damaged at line %d (byte %d): the entry fails its checksum; restore the state from a backup or rebuild it (drsctl state rebuild)", path, line, off)
		}
		off += end + 1
		var head struct {
			Lineage string `json:"lineage"`
			Serial  uint64 `json:"serial"`
		}
		if err := json.Unmarshal(entry, &head); err != nil {
			return 0, 0, fmt.Errorf("state journal %s line %d: %w", path, line, err)
		}
		if head.Lineage != s.Lineage {
			return 0, 0, fmt.Errorf("state journal %s line %d belongs to lineage %s, but the snapshot to %s: the files are of two ledgers", path, line, head.Lineage, s.Lineage)
		}
		if head.Serial <= s.Serial {
			continue
		}
		if stopAtGap && head.Serial > s.Serial+1 {
			return int64(off), int64(len(raw)), nil
		}
		if head.Serial > s.Serial+1 {
			snap := strings.TrimSuffix(path, ".journal")
			return 0, 0, fmt.Errorf("state file %s (serial %d) is older than its journal %s, which goes on from serial %d: was the state file brought back from an older copy?\n"+
				"Bring back %s from the same copy too, or move it aside to go on from the state file as it is (the commits after serial %d are forgotten; the next plan finds its way from what the servers and storage hold), or rebuild the ledger with: drsctl state rebuild (after moving both aside)",
				snap, s.Serial, path, head.Serial, path, s.Serial)
		}
		if err := ApplyEntry(s, entry); err != nil {
			return 0, 0, fmt.Errorf("state journal %s line %d: %w", path, line, err)
		}
	}
	return int64(len(raw)), int64(len(raw)), nil
}

// journalLine frames an entry: checksum, space, entry, newline.
func journalLine(entry []byte) []byte {
	b := make([]byte, 0, len(entry)+10)
	b = fmt.Appendf(b, "%08x ", crc32.Checksum(entry, castagnoli))
	b = append(b, entry...)
	return append(b, '\n')
}

func checkJournalLine(line []byte) ([]byte, bool) {
	if len(line) < 10 || line[8] != ' ' {
		return nil, false
	}
	var sum uint32
	if _, err := fmt.Sscanf(string(line[:8]), "%08x", &sum); err != nil {
		return nil, false
	}
	entry := line[9:]
	return entry, crc32.Checksum(entry, castagnoli) == sum
}

// Write stores s as described on Manager.Write: as one journal entry, or
// as a new snapshot when the journal has grown past its share or the
// changes of s are not known.
//
// The compare (check lineage and serial) and the swap (append or rename)
// are two steps, as a local file system offers nothing better; the lock is
// what excludes a writer slipping in between.
func (l *Local) Write(ctx context.Context, s *State) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write state %s: %w", l.path, err)
	}
	c, err := l.Stage(s)
	if err != nil {
		return err
	}
	if err := c.Commit(ctx); err != nil {
		c.Abandon()
		return err
	}
	return nil
}

// Staged is a write prepared by Stage: the changes of s are encoded (and
// s.Serial advanced); Commit makes them durable. The ledger s may change
// again between the two: that is what lets actions that finish while one
// commit is being written share the next (group commit).
type Staged interface {
	// Commit writes what Stage encoded. On error nothing was written and
	// the ledger should not be written again by this run.
	Commit(ctx context.Context) error
	// Abandon, after a failed Commit, sets s back to its serial and
	// tracked changes before Stage, so a later write covers them.
	Abandon()
}

// Stager is implemented by Managers that can stage a write.
type Stager interface {
	Stage(s *State) (Staged, error)
}

type localStaged struct {
	l        *Local
	s        *State
	serial   uint64
	track    *changes
	snapshot []byte // a whole snapshot to write, or
	line     []byte // a journal line to append
	base     *onDisk
}

// compactAt is when the journal is folded into a new snapshot: when it
// holds more than half the snapshot's size (or compactMin, 1 MiB, for
// small ledgers), so reading costs at most about one and a half
// snapshots, and a snapshot is written once per that many bytes of
// entries.
func (l *Local) compactAt(snapSize int64) int64 { return max(snapSize/2, l.compactMin) }

// Stage encodes s for Commit: the compare step of the compare-and-swap.
func (l *Local) Stage(s *State) (Staged, error) {
	if s == nil {
		return nil, errors.New("write state: no state")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, err := l.current()
	if err != nil {
		return nil, fmt.Errorf("write state: refusing to replace a ledger that cannot be read: %w", err)
	}
	var stored *State
	if cur != nil {
		stored = &State{Lineage: cur.lineage, Serial: cur.serial}
	}
	if err := checkStored(l.path, stored, s); err != nil {
		return nil, fmt.Errorf("write state: %w", err)
	}
	st := &localStaged{l: l, s: s, serial: s.Serial, track: s.track, base: cur}
	if cur != nil && !s.WholeEntry() {
		// The entry goes to the journal even when a snapshot follows: the
		// journal then still takes PATH.backup to the newest serial.
		entry, err := EncodeEntry(s)
		if err != nil {
			return nil, fmt.Errorf("write state %s: %w", l.path, err)
		}
		if verifyJournal {
			if err := l.verifyEntry(s, entry); err != nil {
				return nil, err
			}
		}
		st.line = journalLine(entry)
	}
	// A JSON state file of a drsctl before the journal is replaced at the
	// first write: left in place with the journal beside it, that drsctl
	// (the binary rolled back) would read it alone, a ledger missing every
	// commit since, where it now refuses a snapshot it cannot read.
	if cur == nil || s.WholeEntry() || cur.json || cur.journalLen+int64(len(st.line)) >= l.compactAt(cur.snapSize) {
		next := *s // shallow: only Serial differs
		next.Serial = s.Serial + 1
		var buf bytes.Buffer
		if err := WriteSnapshot(&next, &buf); err != nil {
			return nil, fmt.Errorf("write state %s: %w", l.path, err)
		}
		st.snapshot = buf.Bytes()
	}
	s.Serial++
	s.ClearChanges()
	return st, nil
}

func (c *localStaged) Abandon() {
	c.s.Serial = c.serial
	c.s.track = c.track.merge(c.s.track)
}

// current is what is stored now, from the cache while the files are as
// this Local left them; nil when there is no ledger.
func (l *Local) current() (*onDisk, error) {
	if c := l.last; c != nil {
		fi, err := os.Stat(l.path)
		jsize := int64(0)
		if ji, jerr := os.Stat(l.journalPath()); jerr == nil {
			jsize = ji.Size()
		}
		if err == nil && os.SameFile(fi, c.snapshot) && fi.Size() == c.snapshot.Size() && fi.ModTime().Equal(c.snapshot.ModTime()) && jsize == c.journalSize {
			return c, nil
		}
	}
	s, d, err := l.read()
	if err != nil || s == nil {
		return nil, err
	}
	l.last = d
	return d, nil
}

// Commit writes the staged entry or snapshot.
func (c *localStaged) Commit(ctx context.Context) error {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last != c.base {
		return &conflictError{fmt.Sprintf("state %s changed between staging and committing a write", l.path)}
	}
	if err := l.asStaged(c.base); err != nil {
		l.last = nil
		return err
	}
	if c.line != nil {
		if err := l.commitEntry(c); err != nil {
			return err
		}
		if c.snapshot == nil {
			return nil
		}
		// The entry is durable: the commit is done, whatever happens to
		// the compaction.
		c.base = l.last
		if err := l.commitSnapshot(c); err != nil {
			l.warnf("fold the state journal into a new snapshot: %v (the next write tries again)", err)
		}
		return nil
	}
	return l.commitSnapshot(c)
}

func (l *Local) commitEntry(c *localStaged) (err error) {
	if err := l.fail("append", l.journalPath()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	f, err := os.OpenFile(l.journalPath(), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write state: %w", cerr)
		}
		if err != nil {
			l.last = nil // the file may hold part of the entry: look again
		}
	}()
	if c.base.serial == c.base.snapSerial {
		// The first entry after this snapshot.
		if err := l.backupReaches(c.base.lineage, c.base.serial); err != nil {
			return fmt.Errorf("write state backup %s: %w", l.backupPath(), err)
		}
	}
	// Cut off a torn entry a killed run left, then append at the end of
	// the acknowledged ones.
	if c.base.journalSize != c.base.journalLen {
		if err := f.Truncate(c.base.journalLen); err != nil {
			return fmt.Errorf("write state: cut the unacknowledged end of %s: %w", l.journalPath(), err)
		}
	}
	if _, err := f.WriteAt(c.line, c.base.journalLen); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := l.fail("sync", l.journalPath()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := dataSync(f); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if c.base.journalLen == 0 {
		// A new journal file: its directory entry must be durable too.
		if err := syncDir(filepath.Dir(l.path)); err != nil {
			return fmt.Errorf("write state: sync directory: %w", err)
		}
	}
	n := c.base.journalLen + int64(len(c.line))
	l.last = &onDisk{snapshot: c.base.snapshot, snapSize: c.base.snapSize, journalLen: n, journalSize: n, lineage: c.s.Lineage, serial: c.serial + 1, snapSerial: c.base.snapSerial, json: c.base.json}
	return nil
}

// asStaged is the compare step again, right before the swap: the files
// must be as Stage saw them (base; nil: no ledger). Between the two, group
// commit lets other actions finish, and a run that stalled past its lock's
// expiry may find another run has taken the lock over and written: its
// entry would overwrite that run's at the old end of the journal, or its
// snapshot replace a newer ledger, and an acknowledged commit be lost.
func (l *Local) asStaged(base *onDisk) error {
	fi, err := os.Stat(l.path)
	if base == nil {
		if err == nil {
			return &conflictError{fmt.Sprintf("state %s was created by another drsctl while this run was writing a new ledger: plan again", l.path)}
		}
		return nil
	}
	jsize := int64(0)
	if ji, jerr := os.Stat(l.journalPath()); jerr == nil {
		jsize = ji.Size()
	}
	if err != nil || !os.SameFile(fi, base.snapshot) || fi.Size() != base.snapshot.Size() || !fi.ModTime().Equal(base.snapshot.ModTime()) || jsize != base.journalSize {
		return &conflictError{fmt.Sprintf("state %s was written by another drsctl while this run was writing it (did this run lose its lock?): this run's write is not recorded; plan again", l.path)}
	}
	return nil
}

// commitSnapshot writes a new snapshot. In order, so that a crash at any
// point leaves a ledger that reads back whole: the old snapshot is linked
// as PATH.backup (its journal still beside it: the backup with the two
// journals reads back to the newest serial); the new snapshot replaces
// PATH (entries at or before its serial are skipped from then on); the
// journal becomes PATH.backup.journal.
func (l *Local) commitSnapshot(c *localStaged) error {
	l.last = nil
	dir := filepath.Dir(l.path)
	l.removeLeftovers()
	if c.base == nil {
		// A new ledger. Its directory must exist: a mistyped -state must
		// not create one somewhere unexpected.
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("write state: directory %s does not exist (create it, or correct the state path %s)", dir, l.path)
		}
		if err := l.missing(); err != nil {
			return fmt.Errorf("write state: %w", err)
		}
	} else {
		if c.line == nil {
			// A whole write: no entry went first to check the backup.
			if err := l.keepOtherLineage(c.base.lineage); err != nil {
				return fmt.Errorf("write state backup: %w", err)
			}
		}
		if err := l.linkBackup(); err != nil {
			return fmt.Errorf("write state backup: %w", err)
		}
	}
	if err := l.writeAtomic(l.path, c.snapshot); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if c.base == nil {
		// The first snapshot is its own backup: with the journal that
		// follows, the way back if PATH is lost before a compaction.
		if err := l.linkBackup(); err != nil {
			l.warnf("write state backup %s: %v", l.backupPath(), err)
		}
	}
	if c.base != nil && c.base.journalSize > 0 {
		if err := l.fail("rename", l.journalPath()); err != nil {
			return fmt.Errorf("write state: %w", err)
		}
		if err := os.Rename(l.journalPath(), l.backupJournalPath()); err != nil {
			return fmt.Errorf("write state: %w", err)
		}
		if err := syncDir(dir); err != nil {
			l.warnf("sync directory %s after moving %s: %v", dir, l.journalPath(), err)
		}
	} else if c.base != nil {
		// No journal: the backup is the whole previous ledger.
		if err := os.Remove(l.backupJournalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write state: %w", err)
		}
	}
	fi, err := os.Stat(l.path)
	if err == nil {
		l.last = &onDisk{snapshot: fi, snapSize: int64(len(c.snapshot)), lineage: c.s.Lineage, serial: c.serial + 1, snapSerial: c.serial + 1}
	}
	return nil
}

// keepOtherLineage moves PATH.backup (and its journal) aside, to
// PATH.backup.lineage-LINEAGE, when it is a ledger of another lineage than
// the one about to replace it: the last copy of an old ledger (a drsctl
// before the journal started a new ledger when PATH was removed, and kept
// the old one there) is never overwritten.
func (l *Local) keepOtherLineage(lineage string) error {
	raw, err := os.ReadFile(l.backupPath())
	if err != nil {
		return nil // none (or unreadable: linkBackup says so)
	}
	b, err := Read(bytes.NewReader(raw))
	if err != nil || b.Lineage == "" || b.Lineage == lineage {
		return nil
	}
	aside := fmt.Sprintf("%s.lineage-%s", l.backupPath(), b.Lineage)
	if _, err := os.Lstat(aside); err == nil {
		aside = fmt.Sprintf("%s-serial-%d", aside, b.Serial)
	}
	if err := os.Rename(l.backupPath(), aside); err != nil {
		return fmt.Errorf("keep the last copy of ledger %s: %w", b.Lineage, err)
	}
	if err := os.Rename(l.backupJournalPath(), aside+".journal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keep the last copy of ledger %s: %w", b.Lineage, err)
	}
	l.warnf("%s held ledger %s (serial %d), not this one (%s): kept as %s", l.backupPath(), b.Lineage, b.Serial, lineage, aside)
	return nil
}

// leftoverAge is how old a temporary file of a snapshot write must be to
// be taken for one a killed run left: a live writer holds the lock and
// writes its file in seconds.
const leftoverAge = 10 * time.Minute

// removeLeftovers removes the temporary files of snapshot writes killed
// before their rename (PATH.tmp-*, PATH.backup.tmp-*): each is as big as
// the ledger, and a week of killed runs would fill the disk.
func (l *Local) removeLeftovers() {
	dir, base := filepath.Split(l.path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, base+".tmp-") && !strings.HasPrefix(n, base+".backup.tmp-") {
			continue
		}
		f := filepath.Join(dir, n)
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > leftoverAge {
			if err := os.Remove(f); err == nil {
				l.warnf("removed %s, left by a state write that did not finish", f)
			}
		}
	}
}

// linkBackup makes the current snapshot PATH.backup, atomically: a hard
// link under a temporary name renamed over the old backup (a copy where
// the file system has no hard links).
func (l *Local) linkBackup() error {
	if err := l.fail("backup", l.backupPath()); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", l.backupPath(), os.Getpid())
	os.Remove(tmp)
	if err := os.Link(l.path, tmp); err != nil {
		raw, rerr := os.ReadFile(l.path)
		if rerr != nil {
			return rerr
		}
		return l.writeAtomic(l.backupPath(), raw)
	}
	err := os.Rename(tmp, l.backupPath())
	// Renaming a link over another link to the same file does nothing and
	// leaves tmp: remove it whatever happened.
	os.Remove(tmp)
	return err
}

// writeAtomic replaces path with data so that a crash at any instant
// leaves either the old file or the new one under path: a temp file in the
// same directory (O_EXCL, random name, 0600) is written, fsynced and closed,
// renamed over path, and the directory fsynced. On error the temp file is
// removed and path is untouched.
func (l *Local) writeAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := l.fail("create", path); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	if err := l.fail("write", path); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := l.fail("sync", path); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := l.fail("close", path); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if err := l.fail("rename", path); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The new file is in place and its data is on disk; only the durability
	// of the rename itself is in question if the directory cannot be synced,
	// so that is a warning, not a failed write.
	if err := syncDir(dir); err != nil {
		l.warnf("sync directory %s after replacing %s: %v", dir, path, err)
	}
	return nil
}

func (l *Local) fail(step, file string) error {
	if l.failpoint == nil {
		return nil
	}
	return l.failpoint(step, file)
}

// syncDir makes a rename in dir durable. Windows cannot open a directory for
// syncing, and NTFS journals renames itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// verifyJournal, set by DRSCTL_STATE_VERIFY=1 (the test suite sets it),
// checks at every journal write that the stored ledger with the new entry
// replayed is exactly the ledger being written: a change made without the
// accessors that track it fails the write instead of going missing from
// the journal.
var verifyJournal = os.Getenv("DRSCTL_STATE_VERIFY") == "1"

// verifyEntry is that check. The stored ledger is read from disk once, then kept in memory as each
// verified entry is replayed onto it (l.verified): reading it again at
// every write made the test suite quadratic in the journal's length.
// A replica at another lineage or serial (a failed commit, a snapshot
// write, another writer) is read again.
func (l *Local) verifyEntry(s *State, entry []byte) error {
	stored := l.verified
	l.verified = nil
	if stored == nil || stored.Lineage != s.Lineage || stored.Serial != s.Serial {
		var err error
		if stored, _, err = l.read(); err != nil || stored == nil {
			return fmt.Errorf("verify journal entry: %v", err)
		}
	}
	if err := ApplyEntry(stored, entry); err != nil {
		return fmt.Errorf("verify journal entry: %w", err)
	}
	want := s.Clone()
	want.Serial++
	a, aerr := canonicalJSON(stored)
	b, berr := canonicalJSON(want)
	if aerr != nil || berr != nil || !bytes.Equal(a, b) {
		return fmt.Errorf("verify journal entry: the stored ledger with the entry replayed differs from the ledger being written: a change was made without State's tracking accessors (entry %s)", entry)
	}
	l.verified = stored
	return nil
}

// canonicalJSON is the ledger's JSON form with primaries and targets that
// hold no database left out (the same as absent).
func canonicalJSON(s *State) ([]byte, error) {
	c := s.Clone()
	for n, p := range c.Primaries {
		if len(p.Databases) == 0 {
			delete(c.Primaries, n)
		}
	}
	for n, t := range c.Targets {
		if len(t.Databases) == 0 {
			delete(c.Targets, n)
		}
	}
	var b bytes.Buffer
	err := Write(c, &b)
	return b.Bytes(), err
}
