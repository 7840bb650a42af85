package sqlsim

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// backupOnFullDisk checks what a BACKUP to a full disk gives: 3202 with
// operating system error 112, then 3013; no file, no history, no change to
// the chain (the next log backup still starts where the last one ended).
func backupOnFullDisk(t *testing.T, srv *Server, db execer, dir string) {
	t.Helper()
	path := bakPath(dir, "full.bak")
	me := sqlErr(t, db, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(path)+" WITH CHECKSUM, FORMAT, INIT, STATS = 10")
	wantErr(t, me, 3202, 3013)
	wantText(t, errText(me, 0), `Write on "`+path+`" failed: 112(There is not enough space on the disk.)`)
	wantText(t, errText(me, 1), "BACKUP DATABASE is terminating abnormally.")
	if ents, _ := os.ReadDir(dir); len(ents) > 1 { // the ballast, if any
		for _, e := range ents {
			t.Logf("left: %s", e.Name())
		}
		t.Error("a failed backup left files behind")
	}
	for _, b := range srv.BackupHistory() {
		if b.Path == path {
			t.Errorf("msdb records the failed backup: %+v", b)
		}
	}
}

func TestBackup_FullDisk(t *testing.T) {
	t.Run("limit", func(t *testing.T) {
		srv := startSim(t, Options{})
		db := openDB(t, srv, "")
		mustExec(t, db, "CREATE DATABASE [Sales]")
		dir := t.TempDir()
		mustExec(t, db, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(bakPath(dir, "ok.bak"))+" WITH INIT")
		os.Remove(bakPath(dir, "ok.bak"))
		srv.LimitSpace(dir, 100)
		backupOnFullDisk(t, srv, db, dir)
		srv.LimitSpace(dir, -1)
		mustExec(t, db, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(bakPath(dir, "full.bak"))+" WITH INIT")
	})
	t.Run("tmpfs", func(t *testing.T) {
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Logf("cannot mount a tmpfs here; the limit case stands for it: %v: %s", err, out)
			return
		}
		t.Cleanup(func() { exec.Command("umount", dir).Run() })
		srv := startSim(t, Options{})
		db := openDB(t, srv, "")
		mustExec(t, db, "CREATE DATABASE [Sales]")
		ballast := filepath.Join(dir, "ballast")
		f, _ := os.Create(ballast)
		for buf := make([]byte, 4096); ; {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
		f.Close()
		backupOnFullDisk(t, srv, db, dir)
		os.Remove(ballast)
		mustExec(t, db, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(bakPath(dir, "full.bak"))+" WITH INIT")
	})
}

// TestStall: StallAll answers no PRELOGIN; StallRequests logs in and then
// answers nothing; StallLongOps holds only BACKUP and RESTORE. Ending the
// stall lets what was held go on.
func TestStall(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	mustExec(t, db, "CREATE DATABASE [Sales]")
	ctx := context.Background()

	// StallAll: the TCP connection opens, PRELOGIN gets no reply.
	srv.SetStall(StallAll)
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{0x12, 0x01, 0x00, 0x08, 0, 0, 0, 0}) // an empty PRELOGIN
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 8)); err == nil || n > 0 {
		t.Errorf("a frozen server answered %d bytes (%v)", n, err)
	}
	c.Close()

	// StallRequests: a pooled session gets no answer until the stall ends.
	srv.SetStall(StallRequests)
	done := make(chan error, 1)
	go func() { _, err := db.ExecContext(ctx, "SELECT 1"); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("a stalled server answered: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if srv.Stalled() == 0 {
		t.Error("Stalled() = 0 while a request is held")
	}
	srv.SetStall(StallNone)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// StallLongOps: queries answer, BACKUP waits.
	srv.SetStall(StallLongOps)
	dir := t.TempDir()
	go func() {
		_, err := db.ExecContext(ctx, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(bakPath(dir, "f.bak"))+" WITH INIT, STATS = 10")
		done <- err
	}()
	for srv.Stalled() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM sys.databases WHERE name = N'Sales'"); n != 1 {
		t.Errorf("query during StallLongOps: %d", n)
	}
	if _, err := os.Stat(bakPath(dir, "f.bak")); err == nil {
		t.Error("the held backup wrote its file")
	}
	srv.SetStall(StallNone)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bakPath(dir, "f.bak")); err != nil {
		t.Error("the backup did not finish after the stall")
	}
}
