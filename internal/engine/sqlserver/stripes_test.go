package sqlserver

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// lowerURLLimits makes the engine size one URL at n bytes, for the test.
func lowerURLLimits(t *testing.T, n int64) {
	t.Cleanup(SetURLBytesForTesting(n))
}

// TestBackup_StripedAcrossURLs: a full whose estimate (8 MB of data files,
// a tenth and 1 MB more) needs 3 URLs of 4 MB is striped across three,
// named after the first (artifact.StripePath), on simulators that hold
// 1 MB per URL (so its 2.7 MB really needs three). HEADERONLY and the
// STANDBY restore list every URL; one stripe alone is refused (3132), as
// is a restore missing one, and a URL holding a stripe is never
// overwritten. The old engine refused the backup.
func TestBackup_StripedAcrossURLs(t *testing.T) {
	s3Base, azBase, creds := cloudPlaces(t)
	lowerURLLimits(t, 4<<20)
	start := func(name string) *sqlsim.Server {
		srv, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), LSNBase: bigLSNBase, Name: name,
			Logf: t.Logf, URLPlainHTTP: true, URLBlobLimit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	prim, stby := start("PRIMARY"), start("STANDBY")
	pdb, sdb := openDB(t, prim.DSN("")), openDB(t, stby.DSN(""))
	for _, c := range creds {
		exec(t, pdb, c)
		exec(t, sdb, c)
	}
	exec(t, pdb, "CREATE DATABASE [Sales]")
	p, s := open(t, prim.DSN("")), open(t, stby.DSN(""))
	ctx := context.Background()
	for _, base := range []string{azBase, s3Base} {
		t.Run(base[:strings.Index(base, ":")], func(t *testing.T) {
			insert(t, pdb, "Sales", 1)
			full, log := base+"/Sales/full.bak", base+"/Sales/log.trn"
			fh, err := p.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: full, MaxStripes: artifact.MaxStripes}, engine.NoProgress)
			if err != nil {
				t.Fatalf("backup to %s: %v", full, err)
			}
			if fh.Stripes != 3 {
				t.Fatalf("full backup header: %d stripes, want 3", fh.Stripes)
			}
			urls := artifact.StripePaths(full, 3)
			// msdb's history: one record, the first family's URL, three stripes.
			obs, err := p.ObservePrimary(ctx, []string{"Sales"}, fh.Start.Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			var recs []engine.BackupRecord
			for _, r := range obs[0].Backups {
				if r.LastLSN == fh.LastLSN && r.Kind == artifact.Full {
					recs = append(recs, r)
				}
			}
			if len(recs) != 1 || recs[0].Path != full || recs[0].Stripes != 3 {
				t.Errorf("history of the striped full: %+v, want one record of %s with 3 stripes", recs, full)
			}
			if _, err := s.Describe(ctx, full); !hasNumber(err, errStripeMissing) {
				t.Errorf("HEADERONLY of the first stripe alone: %v, want 3132 (the backup is really striped)", err)
			}
			var list []string
			for _, u := range urls {
				list = append(list, "URL = "+quoteString(u))
			}
			got, err := allRows(ctx, sdb, "RESTORE HEADERONLY FROM "+strings.Join(list, ", "))
			if err != nil || len(got) != 1 {
				t.Fatalf("HEADERONLY of the three stripes: %v, %v", got, err)
			}
			dbName, last := got[0].string("DatabaseName"), got[0].string("LastLSN")
			if dbName != "Sales" || last != string(fh.LastLSN) {
				t.Errorf("HEADERONLY of the three stripes: %s up to %s, want Sales up to %s", dbName, last, fh.LastLSN)
			}
			_, err = p.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: full, MaxStripes: artifact.MaxStripes}, engine.NoProgress)
			if !errors.Is(err, fs.ErrExist) {
				t.Errorf("a second striped backup to %s: %v, want it refused (fs.ErrExist)", full, err)
			}
			wantContains(t, err, "holds one stripe of a striped backup")

			insert(t, pdb, "Sales", 2)
			lh, err := p.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Log, ServerPath: log, MaxStripes: artifact.MaxStripes}, engine.NoProgress)
			if err != nil || lh.Stripes != 0 {
				t.Fatalf("log backup to %s: %d stripes, %v; want one URL", log, lh.Stripes, err)
			}
			_, err = sdb.Exec("RESTORE DATABASE [Other] FROM " + strings.Join(list[:2], ", ") + " WITH NORECOVERY")
			if !hasNumber(err, errStripeMissing) {
				t.Errorf("restore from two of the three stripes: %v, want 3132", err)
			}
			for _, r := range []engine.RestoreRequest{
				{Database: "Sales", Kind: artifact.Full, ServerPath: full, Stripes: fh.Stripes, Mode: engine.StandbyMode, Replace: true, DataDir: t.TempDir()},
				{Database: "Sales", Kind: artifact.Log, ServerPath: log, Stripes: lh.Stripes, Mode: engine.StandbyMode},
			} {
				if err := s.Restore(ctx, r, engine.NoProgress); err != nil {
					t.Fatalf("restore %s (%d stripes): %v", r.ServerPath, r.Stripes, err)
				}
			}
			if st := standbyOf(t, s, "Sales"); st.State != engine.Standby || st.RedoLSN != lh.LastLSN {
				t.Errorf("standby after restoring the striped full and a log from %s: %+v, want STANDBY at %s", base, st, lh.LastLSN)
			}
		})
	}
}

// TestBackup_LogSizedByLogSinceBackup: a database with a 100 MB log file
// and little log written since the last log backup backs its log up to
// one URL (the engine sized for 16 MB a URL). The old engine sized a log
// backup by the log file's allocated size and refused every one (needing
// 8 URLs); it now reads sys.dm_db_log_space_usage in the database.
func TestBackup_LogSizedByLogSinceBackup(t *testing.T) {
	s3Base, azBase, creds := cloudPlaces(t)
	lowerURLLimits(t, 16<<20)
	dir := t.TempDir()
	srv, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: dir, Logf: t.Logf, URLPlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	db := openDB(t, srv.DSN(""))
	for _, c := range creds {
		exec(t, db, c)
	}
	exec(t, db, "CREATE DATABASE [Sales]")
	exec(t, db, "ALTER DATABASE [Sales] ADD LOG FILE (NAME = N'Sales_big', FILENAME = N'"+filepath.Join(dir, "Sales_big.ldf")+"', SIZE = 100MB)")
	s := open(t, srv.DSN(""))
	ctx := context.Background()
	for _, base := range []string{azBase, s3Base} {
		if _, err := s.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: base + "/Sales/full.bak"}, engine.NoProgress); err != nil {
			t.Fatalf("full to %s: %v", base, err)
		}
		insert(t, db, "Sales", len(base))
		h, err := s.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Log, ServerPath: base + "/Sales/log.trn"}, engine.NoProgress)
		if err != nil || h.Stripes != 0 {
			t.Errorf("log backup to %s with a 100 MB log file and little log: %d stripes, %v; want one URL", base, h.Stripes, err)
		}
	}
}
