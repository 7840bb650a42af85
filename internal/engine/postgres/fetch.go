package postgres

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// WantedFile, in a standby's WAL inbox, holds the newest WAL segment name
// the standby asked for (through restore_command) and did not find. A name
// past the last segment shipped proves the standby read everything shipped:
// PostgreSQL asks for the next segment only once it needs WAL beyond the
// current one.
const WantedFile = ".wanted"

var historyName = regexp.MustCompile(`^[0-9A-F]{8}\.history$`)

// Fetch is the standby's restore_command (`drsctl wal-fetch -dir DIR %f
// %p`): it copies DIR/name to dest (a temporary file in dest's directory,
// renamed into place, so PostgreSQL never reads half a segment). found is
// false when DIR holds no such file yet — the command then exits 1 and
// PostgreSQL tries again later — and, for a WAL segment, the name is
// recorded in DIR/.wanted when it is newer than the one there. A timeline
// history file (XXXXXXXX.history) not there is simply not found: PostgreSQL
// asks for them to look for newer timelines.
//
// dest is not fsynced: it is a file PostgreSQL restores into its own pg_wal
// (RECOVERYXLOG) and makes durable itself when it keeps it.
func Fetch(dir, name, dest string) (found bool, err error) {
	if !segmentName.MatchString(name) && !historyName.MatchString(name) {
		return false, fmt.Errorf("wal-fetch: %q is neither a WAL segment nor a timeline history file name", name)
	}
	if dest == "" {
		return false, errors.New("wal-fetch: no destination path (restore_command must pass %p)")
	}
	src, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		if segmentName.MatchString(name) {
			if err := recordWanted(dir, name); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("wal-fetch: %w", err)
	}
	defer func() { _ = src.Close() }()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".wal-fetch-*")
	if err != nil {
		return false, fmt.Errorf("wal-fetch: %w", err)
	}
	_, cerr := io.Copy(tmp, src)
	if err := errors.Join(cerr, tmp.Close()); err != nil {
		_ = os.Remove(tmp.Name())
		return false, fmt.Errorf("wal-fetch %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		_ = os.Remove(tmp.Name())
		return false, fmt.Errorf("wal-fetch %s: %w", name, err)
	}
	return true, nil
}

// segmentKey orders segment names by position first, then timeline.
func segmentKey(name string) string { return name[8:] + name[:8] }

// recordWanted writes name into dir/.wanted unless a newer one is there.
// Only the standby's startup process runs restore_command, one at a time.
func recordWanted(dir, name string) error {
	if cur, err := readWanted(dir); err == nil && cur != "" && segmentKey(cur) >= segmentKey(name) {
		return nil
	}
	return writeFileAtomic(filepath.Join(dir, WantedFile), []byte(name+"\n"), 0o600)
}

// readWanted returns the name in dir/.wanted ("" when there is none).
func readWanted(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, WantedFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	n := strings.TrimSpace(string(b))
	if !segmentName.MatchString(n) {
		return "", nil
	}
	return n, nil
}

// writeFileAtomic writes a temporary file beside path, syncs it, renames it
// over path and syncs the directory: a crash leaves the old or the new
// content, never a mix.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Chmod(mode)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if err := errors.Join(werr, tmp.Close()); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	return errors.Join(serr, d.Close())
}
