package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Local is a Manager for a state file on a local (or mounted) file system.
//
// Files, for a state at PATH:
//
//	PATH          the state, replaced atomically on every write
//	PATH.backup   the state as it was before the latest write
//	PATH.lock     the lock, while a run holds it (LockInfo as JSON)
//
// plus short-lived PATH.tmp-*, PATH.lock.tmp-* and PATH.lock.stale-* files
// while a write, renewal or take-over is under way.
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
	// Lock polls with a delay that doubles from pollMin up to pollMax.
	pollMin, pollMax time.Duration

	// last is the file this Local wrote last: the compare step of the next
	// Write need not decode it again while the file is unchanged on disk.
	mu   sync.Mutex
	last *writtenFile
}

// writtenFile identifies a state file drsctl wrote and what it holds.
type writtenFile struct {
	info    fs.FileInfo
	lineage string
	serial  uint64
	raw     []byte
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
	s, _, err := l.read()
	return s, err
}

// read returns the stored state and its bytes; nil, nil, nil when there is
// no state file.
func (l *Local) read() (*State, []byte, error) {
	raw, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	s, err := Read(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("read state %s: %w", l.path, err)
	}
	return s, raw, nil
}

// Write stores s as described on Manager.Write: the previous file goes to
// PATH.backup, then the new one replaces PATH atomically.
//
// The compare (read PATH, check lineage and serial) and the swap (rename)
// are two steps, as a local file system offers nothing better; the lock is
// what excludes a writer slipping in between.
func (l *Local) Write(ctx context.Context, s *State) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write state %s: %w", l.path, err)
	}
	if s == nil {
		return errors.New("write state: no state")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	stored, old, err := l.readForWrite()
	if err != nil {
		return fmt.Errorf("write state: refusing to replace a state file that cannot be read: %w", err)
	}
	if err := checkStored(l.path, stored, s); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	next := *s // shallow: only Serial differs
	next.Serial = s.Serial + 1
	var buf bytes.Buffer
	if err := Write(&next, &buf); err != nil {
		return fmt.Errorf("write state %s: %w", l.path, err)
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if old != nil {
		if err := l.writeAtomic(l.path+".backup", old); err != nil {
			return fmt.Errorf("write state backup: %w", err)
		}
	}
	l.last = nil
	if err := l.writeAtomic(l.path, buf.Bytes()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if fi, err := os.Stat(l.path); err == nil {
		l.last = &writtenFile{info: fi, lineage: next.Lineage, serial: next.Serial, raw: buf.Bytes()}
	}
	s.Serial = next.Serial
	return nil
}

// readForWrite is read for the compare step of Write: when the file on disk
// is still the one this Local wrote (same inode, size and modification
// time), what it holds is known without decoding it again, which would cost
// as much as the ledger is large after every action.
func (l *Local) readForWrite() (*State, []byte, error) {
	if c := l.last; c != nil {
		if fi, err := os.Stat(l.path); err == nil && os.SameFile(fi, c.info) && fi.Size() == c.info.Size() && fi.ModTime().Equal(c.info.ModTime()) {
			return &State{Lineage: c.lineage, Serial: c.serial}, c.raw, nil
		}
	}
	return l.read()
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
