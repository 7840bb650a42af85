// Package pgtest starts real PostgreSQL clusters for integration tests: a
// primary ready for physical replication and WAL archiving, and hot standbys
// restored from its base backups that replay WAL segments from a directory.
//
// Clusters run as the postgres OS user (PostgreSQL refuses to run as root)
// from the Debian package's binaries (DRSCTL_TEST_PG_BIN, default
// /usr/lib/postgresql/15/bin; scripts/testenv.sh up installs them), each on
// a free 127.0.0.1 port with its own socket directory, and are stopped and
// removed when the test ends, whether it passed or not.
//
// Like every integration test here (see internal/testenv), a test whose
// PostgreSQL cannot be run skips on a developer's machine and fails when CI
// is set.
package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/testenv"
)

// DefaultBin is where Debian's postgresql-15 package puts the server binaries.
const DefaultBin = "/usr/lib/postgresql/15/bin"

// OwnerFile, in each directory Dir makes, holds the test process's PID.
const OwnerFile = ".drsctl-pgtest-owner"

// OSUser is the operating-system user the clusters run as.
const OSUser = "postgres"

// Cluster is one running PostgreSQL cluster.
type Cluster struct {
	Port int
	// DSN is a libpq URL for the superuser postgres on database postgres
	// over TCP (trust authentication; there is no password).
	DSN string
	// DataDir is the cluster's data directory (owned by postgres).
	DataDir string
	// SocketDir holds the cluster's unix socket.
	SocketDir string
	// ArchiveDir receives every completed WAL segment through
	// archive_command (a primary's only; empty for a standby).
	ArchiveDir string
	// LogFile is the server's log (shown when the test fails).
	LogFile string

	bin string
}

// Bin returns the directory of the PostgreSQL binaries, or ends the test
// (skip locally, fail in CI) when they cannot be used: missing binaries, no
// postgres user, or a process that is not root (it must run initdb and the
// server as postgres).
func Bin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("DRSCTL_TEST_PG_BIN")
	if bin == "" {
		bin = DefaultBin
	}
	var why string
	switch {
	case !executable(filepath.Join(bin, "initdb")) || !executable(filepath.Join(bin, "pg_basebackup")):
		why = fmt.Sprintf("PostgreSQL binaries not found in %s (Debian package postgresql; set DRSCTL_TEST_PG_BIN for another place)", bin)
	case os.Geteuid() != 0:
		why = "PostgreSQL tests must run as root (they start clusters as the postgres user with runuser)"
	default:
		if _, err := user.Lookup(OSUser); err != nil {
			why = "no postgres OS user (the Debian package postgresql creates it)"
		} else if _, err := exec.LookPath("runuser"); err != nil {
			why = "runuser not found (util-linux)"
		}
	}
	if why == "" {
		return bin
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("integration test needs PostgreSQL: %s; %s (CI must not skip)", why, testenv.Hint)
	}
	t.Skipf("integration test needs PostgreSQL: %s; %s (CI must not skip)", why, testenv.Hint)
	return ""
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Dir returns a new empty directory that the postgres user can read and
// write (t.TempDir's are 0700 and root's), removed when the test ends. Use it
// for WAL directories a standby's restore_command reads.
func Dir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "drsctl-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	// MkdirTemp makes it 0700; postgres must traverse it and write into it.
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	// A test binary killed before its cleanups leaves the directory (and
	// maybe a running cluster) behind: scripts/testenv.sh up and down stop
	// and remove those whose owner is gone.
	if err := os.WriteFile(filepath.Join(d, OwnerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// asPostgres runs bin/name as the postgres user and returns its combined
// output; a failure ends the test showing the output.
func asPostgres(t testing.TB, bin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", OSUser, "--", filepath.Join(bin, name)}, args...)...)
	cmd.Dir = "/" // the test's working directory may be unreadable for postgres
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s as %s: %v\n%s", name, strings.Join(args, " "), OSUser, err, out.String())
	}
	return out.String()
}

// freePort asks the kernel for a port free on 127.0.0.1 now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// newCluster lays out a cluster's directories (data directory still absent).
func newCluster(t testing.TB, bin string) *Cluster {
	t.Helper()
	root := Dir(t)
	c := &Cluster{
		bin:       bin,
		DataDir:   filepath.Join(root, "data"),
		SocketDir: filepath.Join(root, "sock"),
		LogFile:   filepath.Join(root, "server.log"),
		Port:      freePort(t),
	}
	if err := os.Mkdir(c.SocketDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(c.SocketDir, pgUID(t), pgGID(t)); err != nil {
		t.Fatal(err)
	}
	c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
	return c
}

// conf is the common part of postgresql.conf for a test cluster.
func (c *Cluster) conf() string {
	return fmt.Sprintf(`
# drsctl pgtest
port = %d
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
fsync = off
log_min_messages = info
`, c.Port, c.SocketDir)
}

// NewPrimary initialises and starts a primary: wal_level replica, WAL senders
// and replication slots available, replication and normal connections trusted
// on 127.0.0.1, and every completed segment archived into c.ArchiveDir
// (archive_mode on, cp). It is stopped and removed when the test ends.
func NewPrimary(t testing.TB) *Cluster {
	t.Helper()
	bin := Bin(t)
	c := newCluster(t, bin)
	c.ArchiveDir = Dir(t)
	asPostgres(t, bin, "initdb", "-D", c.DataDir, "-U", OSUser, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	conf := c.conf() + fmt.Sprintf(`archive_mode = on
archive_command = 'test ! -f %[1]s/%%f && cp %%p %[1]s/%%f.tmp && mv %[1]s/%%f.tmp %[1]s/%%f'
`, c.ArchiveDir)
	appendFile(t, filepath.Join(c.DataDir, "postgresql.conf"), conf)
	appendFile(t, filepath.Join(c.DataDir, "pg_hba.conf"), "\nhost replication all 127.0.0.1/32 trust\n")
	c.start(t)
	return c
}

// BaseBackup takes a base backup of c with pg_basebackup -X none -c fast
// (plain format, no WAL: a standby replays it from shipped segments) into a
// new directory and returns the directory.
func (c *Cluster) BaseBackup(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(Dir(t), "base")
	asPostgres(t, c.bin, "pg_basebackup", "-d", c.DSN, "-D", dir, "-X", "none", "-c", "fast", "--no-sync")
	return dir
}

// NewStandbyFrom starts a hot standby from a base backup — a plain-format
// directory or a tar file of one (pg_basebackup -F t's base.tar) — that
// replays WAL segments from walDir (restore_command cp, retried every 200 ms)
// and never leaves recovery. walDir must be readable by postgres (see Dir).
// It is stopped and removed when the test ends.
func NewStandbyFrom(t testing.TB, base, walDir string) *Cluster {
	t.Helper()
	bin := Bin(t)
	c := newCluster(t, bin)
	if err := os.Mkdir(c.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(base)
	if err != nil {
		t.Fatalf("standby: base backup: %v", err)
	}
	var cmd *exec.Cmd
	if fi.IsDir() {
		cmd = exec.Command("cp", "-a", base+"/.", c.DataDir)
	} else {
		cmd = exec.Command("tar", "-xf", base, "-C", c.DataDir)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("standby: restore base backup %s: %v\n%s", base, err, out)
	}
	if out, err := exec.Command("chown", "-R", OSUser+":", c.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("standby: chown: %v\n%s", err, out)
	}
	// postgresql.auto.conf is read last: these override what the primary's
	// postgresql.conf (part of the backup) says about ports and archiving.
	conf := c.conf() + fmt.Sprintf(`hot_standby = on
archive_mode = off
restore_command = 'cp %s/%%f %%p'
wal_retrieve_retry_interval = '200ms'
`, walDir)
	appendFile(t, filepath.Join(c.DataDir, "postgresql.auto.conf"), conf)
	appendFile(t, filepath.Join(c.DataDir, "standby.signal"), "")
	for _, f := range []string{"postgresql.auto.conf", "standby.signal"} {
		if err := os.Chown(filepath.Join(c.DataDir, f), pgUID(t), pgGID(t)); err != nil {
			t.Fatal(err)
		}
	}
	c.start(t)
	return c
}

func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func pgUID(t testing.TB) int {
	u, err := user.Lookup(OSUser)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(u.Uid)
	return n
}

func pgGID(t testing.TB) int {
	u, err := user.Lookup(OSUser)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(u.Gid)
	return n
}

// start starts the server (pg_ctl -w) and registers its stop: an immediate
// shutdown, since the cluster is thrown away, and the server's log in the
// test's output when it failed.
func (c *Cluster) start(t testing.TB) {
	t.Helper()
	// The log lives outside the data directory; postgres must create it.
	t0 := time.Now()
	cmd := exec.Command("runuser", "-u", OSUser, "--", filepath.Join(c.bin, "pg_ctl"),
		"-D", c.DataDir, "-l", c.LogFile, "-w", "-t", "60", "start")
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() { c.stop(t) })
	if err != nil {
		// The server's log follows, from the cleanup.
		t.Fatalf("pg_ctl start (port %d): %v\n%s", c.Port, err, out)
	}
	t.Logf("postgres on 127.0.0.1:%d up in %v", c.Port, time.Since(t0).Round(time.Millisecond))
}

func (c *Cluster) stop(t testing.TB) {
	cmd := exec.Command("runuser", "-u", OSUser, "--", filepath.Join(c.bin, "pg_ctl"),
		"-D", c.DataDir, "-m", "immediate", "-w", "-t", "30", "stop")
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil && !bytes.Contains(out, []byte("PID file")) {
		t.Errorf("pg_ctl stop (port %d): %v\n%s", c.Port, err, out)
	}
	if t.Failed() {
		if log, err := os.ReadFile(c.LogFile); err == nil {
			t.Logf("server log of 127.0.0.1:%d:\n%s", c.Port, lastLines(log, 40))
		}
	}
}

func lastLines(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, []byte("\n"))
}

// FreePort returns a port free on 127.0.0.1 now, for a cluster the code
// under test starts itself.
func FreePort(t testing.TB) int { return freePort(t) }

// StopAt stops (immediate mode) a cluster the code under test started from
// dataDir, when it runs; nothing when it does not. Register it with
// t.Cleanup after the directory's Dir, so it runs before Dir removes it.
func StopAt(t testing.TB, dataDir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); err != nil {
		return
	}
	cmd := exec.Command("runuser", "-u", OSUser, "--", filepath.Join(Bin(t), "pg_ctl"), "stop", "-D", dataDir, "-m", "immediate", "-w", "-t", "30")
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("stopping the cluster in %s: %v\n%s", dataDir, err, out)
	}
}
