package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The standby's cluster on this host: its data directory, drsctl's area
// beside it, and pg_ctl run as the cluster's OS user.

const errNoDataDir = "a PostgreSQL target needs data_dir: the directory its cluster runs from on the host drsctl runs on"

// sidecar is drsctl's own area beside the data directory: the marker, the
// WAL inbox restore_command reads and the server's log. It is outside the
// data directory so that a base backup is unpacked into an empty directory
// and nothing of drsctl's ends up in the cluster's files.
func (s *session) sidecar() string { return filepath.Clean(s.site.DataDir) + ".drsctl" }
func (s *session) inbox() string   { return filepath.Join(s.sidecar(), "wal") }
func (s *session) logFile() string { return filepath.Join(s.sidecar(), "postgres.log") }

// binPath finds a PostgreSQL program for the cluster in dataDir: Debian's
// per-version directory named by PG_VERSION, else PATH.
func binPath(dataDir, name string) (string, error) {
	if v, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION")); err == nil {
		p := filepath.Join("/usr/lib/postgresql", strings.TrimSpace(string(v)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("the PostgreSQL program %s is not in /usr/lib/postgresql/<version>/bin nor on PATH: install the PostgreSQL server package of the primary's major version on this host", name)
	}
	return p, nil
}

// run runs a PostgreSQL program on the cluster — as the cluster's OS user
// through runuser when drsctl runs as root (PostgreSQL refuses root) — and
// returns its combined output.
func (s *session) run(ctx context.Context, name string, args ...string) (string, error) {
	p, err := binPath(s.site.DataDir, name)
	if err != nil {
		return "", err
	}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", s.d.osUser(), "--", p}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, p, args...)
	}
	cmd.Dir = "/" // our working directory may be closed to the cluster's user
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// owner is the uid and gid the cluster's files belong to; ok is false when
// drsctl does not run as root (the files are then already ours).
func (s *session) owner() (uid, gid int, ok bool, err error) {
	if os.Geteuid() != 0 {
		return 0, 0, false, nil
	}
	u, err := user.Lookup(s.d.osUser())
	if err != nil {
		return 0, 0, false, fmt.Errorf("drsctl runs as root and runs the standby's cluster as the OS user %q, which does not exist: create it (the PostgreSQL server package does) or set the driver's OS user", s.d.osUser())
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, true, nil
}

// chownAll gives the data directory and drsctl's area to the cluster's
// user (when drsctl runs as root).
func (s *session) chownAll() error {
	uid, gid, ok, err := s.owner()
	if err != nil || !ok {
		return err
	}
	for _, root := range []string{s.site.DataDir, s.sidecar()} {
		err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			return fmt.Errorf("giving %s to %s: %w", root, s.d.osUser(), err)
		}
	}
	return nil
}

// chownFile gives one file to the cluster's user (when drsctl runs as root).
func (s *session) chownFile(p string) error {
	uid, gid, ok, err := s.owner()
	if err != nil || !ok {
		return err
	}
	return os.Lchown(p, uid, gid)
}

// postmasterPID returns the PID in postmaster.pid when that process is
// alive (what pg_ctl status checks).
func postmasterPID(dataDir string) (int, bool) {
	pid, ok := lockPID(dataDir)
	if !ok || !postmasterOf(pid, dataDir) {
		return 0, false
	}
	return pid, true
}

// lockPID returns the PID in dataDir's postmaster.pid when a process by
// that PID is alive, whatever it is.
func lockPID(dataDir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false
	}
	return pid, true
}

// postmasterOf reports whether the live process pid may be the postmaster
// of dataDir. A postmaster.pid left behind by a crash or a power cut names
// a PID that, after a reboot, may belong to any other process: a
// postmaster works in its data directory (it changes into it at start), so
// a process whose working directory, as /proc shows it, is elsewhere is
// not the standby's. Where /proc cannot tell (another OS, or no permission
// to look), the process is taken to be the postmaster, as pg_ctl does.
func postmasterOf(pid int, dataDir string) bool {
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return true
	}
	dir, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		dir = filepath.Clean(dataDir)
	}
	return cwd == dir
}

func (s *session) running() bool {
	_, ok := postmasterPID(s.site.DataDir)
	return ok
}

// start starts the cluster without waiting for it to accept connections:
// a standby does so only once consistent, which may need WAL not shipped
// yet. It checks the postmaster is still there a moment later.
func (s *session) start(ctx context.Context) error {
	if err := s.chownAll(); err != nil {
		return err
	}
	// A postmaster.pid naming a live process proven not to be this data
	// directory's postmaster (a PID reused after a crash) is stale: the
	// server would refuse to start over it when that process is the
	// cluster user's. (A stale one naming no live process it handles
	// itself.)
	if pid, ok := lockPID(s.site.DataDir); ok && !postmasterOf(pid, s.site.DataDir) {
		if err := os.Remove(filepath.Join(s.site.DataDir, "postmaster.pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the stale postmaster.pid of the standby in %s (it names PID %d, a process that is not the standby's postmaster): %w", s.site.DataDir, pid, err)
		}
	}
	if _, err := s.run(ctx, "pg_ctl", "start", "-D", s.site.DataDir, "-l", s.logFile(), "-W"); err != nil {
		return fmt.Errorf("starting the standby in %s: %w%s", s.site.DataDir, err, s.logTail())
	}
	// The postmaster reads its configuration before it writes
	// postmaster.pid: a bad setting ends it without one. Give it a moment
	// either way, then insist it is there.
	deadline := time.Now().Add(10 * time.Second)
	seen := time.Time{}
	for {
		if s.running() {
			if seen.IsZero() {
				seen = time.Now()
			} else if time.Since(seen) >= time.Second {
				return nil
			}
		} else if !seen.IsZero() || time.Now().After(deadline) {
			return fmt.Errorf("the standby in %s did not stay up after pg_ctl start%s", s.site.DataDir, s.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop stops the cluster (fast shutdown: sessions are ended, nothing is
// lost on a standby) and waits for it.
func (s *session) stop(ctx context.Context) error {
	if !s.running() {
		return nil
	}
	if _, err := s.run(ctx, "pg_ctl", "stop", "-D", s.site.DataDir, "-m", "fast", "-w", "-t", "120"); err != nil {
		if !s.running() {
			return nil
		}
		return fmt.Errorf("stopping the standby in %s: %w", s.site.DataDir, err)
	}
	return nil
}

// logTail is the end of the server's log, for an error message.
func (s *session) logTail() string {
	b, err := os.ReadFile(s.logFile())
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return " (no server log at " + s.logFile() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "; the end of " + s.logFile() + ":\n" + strings.Join(lines, "\n")
}

// dirState says whether a directory is missing, empty or holds something
// (the first name found).
func dirState(dir string) (exists bool, first string, err error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	defer func() { _ = f.Close() }()
	names, err := f.Readdirnames(1)
	if len(names) == 0 {
		if errors.Is(err, io.EOF) {
			return true, "", nil
		}
		return true, "", err
	}
	return true, names[0], nil
}

// removeContents empties dir, keeping dir itself (its owner and mode, and
// a mount point stays a mount point).
func removeContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// controlData reads what pg_controldata says of the (stopped or running)
// cluster: its system identifier and WAL segment size.
func (s *session) controlData(ctx context.Context) (sysid string, segSize uint64, err error) {
	out, err := s.run(ctx, "pg_controldata", "-D", s.site.DataDir)
	if err != nil {
		return "", 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "Database system identifier":
			sysid = v
		case "Bytes per WAL segment":
			segSize, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	if sysid == "" || segSize == 0 || segSize&(segSize-1) != 0 {
		return "", 0, fmt.Errorf("pg_controldata -D %s did not give the system identifier and WAL segment size", s.site.DataDir)
	}
	return sysid, segSize, nil
}
