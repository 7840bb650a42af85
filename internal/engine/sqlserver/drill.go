package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

const (
	queryDatabaseState = `SELECT state_desc FROM sys.databases WHERE name = @p1`
	queryDefaultPaths  = `SELECT SERVERPROPERTY('InstanceDefaultDataPath'), SERVERPROPERTY('InstanceDefaultLogPath')`
	queryFilesInUse    = `SELECT physical_name FROM sys.master_files`
)

// dropTimeout bounds the DROP DATABASE that ends every drill; it runs on a
// context of its own, so a cancelled drill still cleans up after itself.
const dropTimeout = 2 * time.Minute

// Drill restores a chain into a scratch database, recovers and checks it,
// then drops it:
//
//	SELECT state_desc FROM sys.databases WHERE name = @p1          -- must be absent
//	[SELECT SERVERPROPERTY('InstanceDefaultDataPath'), …('InstanceDefaultLogPath')]
//	RESTORE FILELISTONLY FROM DISK = N'full'
//	SELECT physical_name FROM sys.master_files                     -- no file may be in use
//	RESTORE DATABASE [scratch] FROM DISK = N'full' WITH NORECOVERY, MOVE N'logical' TO N'dir/scratch_logical.mdf'…, STATS = 10
//	RESTORE LOG [scratch] FROM DISK = N'log' WITH NORECOVERY, STATS = 10 …
//	RESTORE LOG [scratch] FROM DISK = N'last' WITH [STOPAT = N'…',] RECOVERY, STATS = 10
//	DBCC CHECKDB ([scratch]) WITH NO_INFOMSGS
//	DROP DATABASE IF EXISTS [scratch]                              -- always, once created
//
// Every file is MOVEd, to names built from the scratch database's name: a
// restore under a new name would otherwise write over the files of the
// database the backups came from (SQL Server refuses: 1834, 3156).
func (s *session) Drill(ctx context.Context, req engine.DrillRequest, progress engine.Progress) (engine.DrillResult, error) {
	var res engine.DrillResult
	if progress == nil {
		progress = engine.NoProgress
	}
	target := "drill into " + quoteIdent(req.Database)
	if err := checkDrill(req); err != nil {
		return res, fmt.Errorf("%s: %w", target, err)
	}
	var state string
	err := s.db.QueryRowContext(ctx, queryDatabaseState, req.Database).Scan(&state)
	switch {
	case err == nil:
		return res, fmt.Errorf("%s: refused: a database of that name already exists on %s (%s); nothing was restored", target, s.server, state)
	case !errors.Is(err, sql.ErrNoRows):
		return res, s.fail(ctx, target, err)
	}
	dataDir, logDir := req.DataDir, req.LogDir
	if dataDir == "" || logDir == "" {
		var defData, defLog sql.NullString
		if err := s.db.QueryRowContext(ctx, queryDefaultPaths).Scan(&defData, &defLog); err != nil {
			return res, s.fail(ctx, target+": ask for the default data and log paths", err)
		}
		if dataDir == "" {
			dataDir = defData.String
		}
		if logDir == "" {
			logDir = defLog.String
		}
		if dataDir == "" || logDir == "" {
			return res, fmt.Errorf("%s: %s reports no default data or log path; set the target's data_dir and log_dir", target, s.server)
		}
	}
	created := false
	step := func(i int, what string) {
		progress.Step(i*90/len(req.Backups), what)
	}
	err = s.dedicated(ctx, func(c *sql.Conn, lost <-chan struct{}) error {
		if _, err := c.ExecContext(ctx, "USE [master]"); err != nil {
			return err
		}
		full := stripedDevice(req.Backups[0].ServerPath, req.Backups[0].Stripes)
		if err := checkCredential(ctx, c, full, req.Credential); err != nil {
			return err
		}
		files, err := fileList(ctx, c, full, req.Credential)
		if err != nil {
			return err
		}
		moves := planMoves(req.Database, files, dataDir, logDir)
		if err := filesFree(ctx, c, moves); err != nil {
			return err
		}
		var offset time.Duration
		if !req.StopAt.IsZero() {
			if offset, err = s.stopAtOffset(ctx, c, req); err != nil {
				return err
			}
		}
		for i, b := range req.Backups {
			last := i == len(req.Backups)-1
			step(i, "restore "+b.ServerPath)
			stmt := drillRestoreStatement(req, i, moves, offset)
			created = true // a failed RESTORE DATABASE may leave it RESTORING
			if err := run(ctx, c, lost, stmt, engine.NoProgress); err != nil {
				return s.fail(ctx, fmt.Sprintf("restore %s into %s", b.ServerPath, quoteIdent(req.Database)), err)
			}
			res.Restored = append(res.Restored, b.ServerPath)
			if last {
				break
			}
		}
		// A STOPAT past the end of the last log leaves the database
		// restoring, whatever RECOVERY said: that is no drill.
		var st string
		if err := c.QueryRowContext(ctx, queryDatabaseState, req.Database).Scan(&st); err != nil {
			return err
		}
		if st != "ONLINE" {
			return fmt.Errorf("after the restores the database is %s, not ONLINE (a STOPAT after the end of the last log backup leaves it restoring)", st)
		}
		progress.Step(90, "DBCC CHECKDB")
		if err := run(ctx, c, lost, "DBCC CHECKDB ("+quoteIdent(req.Database)+") WITH NO_INFOMSGS", engine.NoProgress); err != nil {
			return fmt.Errorf("%w: %w", engine.ErrDrillCheck, s.fail(ctx, "DBCC CHECKDB "+quoteIdent(req.Database), err))
		}
		res.Check = "DBCC CHECKDB found no allocation or consistency errors"
		return nil
	})
	if err != nil {
		if !errors.Is(err, engine.ErrDrillCheck) {
			err = s.fail(ctx, target, err)
		}
	}
	if created {
		progress.Step(95, "drop "+quoteIdent(req.Database))
		if derr := s.dropScratch(ctx, req.Database); derr != nil {
			res.Left = true
			err = errors.Join(err, fmt.Errorf("the scratch database %s could not be dropped and is still on %s: drop it by hand: %w", quoteIdent(req.Database), s.server, derr))
		}
	}
	if err == nil {
		progress.Step(100, "done")
	}
	return res, err
}

func checkDrill(req engine.DrillRequest) error {
	switch {
	case req.Database == "":
		return errors.New("no scratch database named")
	case len(req.Backups) == 0:
		return errors.New("no backups to restore")
	case req.Backups[0].Kind != artifact.Full:
		return fmt.Errorf("the first backup is a %s backup, not a full backup", req.Backups[0].Kind)
	}
	for _, b := range req.Backups[1:] {
		if b.Kind != artifact.Log {
			return fmt.Errorf("%s is a %s backup: after the full, only log backups are restored", b.ServerPath, b.Kind)
		}
	}
	for _, b := range req.Backups {
		if b.ServerPath == "" {
			return errors.New("a backup without a server path")
		}
	}
	return nil
}

// filesFree refuses MOVE targets that are files of a database on the
// server: the scratch database's file names come from its own name, so
// this never happens unless a database was named like a drill's.
func filesFree(ctx context.Context, q queryer, moves []move) error {
	rows, err := allRows(ctx, q, queryFilesInUse)
	if err != nil {
		return err
	}
	for _, r := range rows {
		used := r.string("physical_name")
		for _, m := range moves {
			if strings.EqualFold(used, m.to) {
				return fmt.Errorf("refused: %s is a file of a database on the server; nothing was restored", m.to)
			}
		}
	}
	return nil
}

// stopAtOffset is the offset STOPAT is written with. SQL Server compares
// STOPAT with the times in the log's commit records: the local clock of
// the server that wrote the log (the primary), not of the server that
// restores it, and with the offset in force then, not today's. The last
// log's header (HEADERONLY dates are that server's local time) against its
// finish in the ledger (UTC) gives exactly that offset. Only a log backup
// whose interval spans a daylight-saving change leaves an hour in doubt
// for points before the change. Without a finish time (a ledger from before
// it was recorded) the restoring server's offset now is the best left.
func (s *session) stopAtOffset(ctx context.Context, q queryer, req engine.DrillRequest) (time.Duration, error) {
	last := req.Backups[len(req.Backups)-1]
	if last.Finish.IsZero() {
		return s.serverOffset(ctx)
	}
	h, _, err := s.headerOnly(ctx, q, stripedDevice(last.ServerPath, last.Stripes), req.Credential)
	if err != nil {
		return 0, err
	}
	if h.Finish.IsZero() {
		return 0, fmt.Errorf("the header of %s has no finish date: cannot tell the time STOPAT %s is on that server's clock", last.ServerPath, req.StopAt.UTC().Format(time.RFC3339))
	}
	offset := wallClock(h.Finish).Sub(last.Finish.UTC()).Round(15 * time.Minute)
	if offset < -14*time.Hour || offset > 14*time.Hour {
		return 0, fmt.Errorf("%s finished at %s by its header but at %s UTC by the ledger: no time zone is that far apart, so STOPAT cannot be placed on that server's clock",
			last.ServerPath, wallClock(h.Finish).Format("2006-01-02 15:04:05"), last.Finish.UTC().Format("2006-01-02 15:04:05"))
	}
	return offset, nil
}

// drillRestoreStatement restores backup i of a drill: NORECOVERY until the
// last, which recovers (with STOPAT, on the primary's clock, when a
// point in time was asked for).
func drillRestoreStatement(req engine.DrillRequest, i int, moves []move, offset time.Duration) string {
	b := req.Backups[i]
	d := stripedDevice(b.ServerPath, b.Stripes)
	last := i == len(req.Backups)-1
	stmt := "RESTORE DATABASE "
	if b.Kind == artifact.Log {
		stmt = "RESTORE LOG "
	}
	var opts []string
	if last && b.Kind == artifact.Log && !req.StopAt.IsZero() {
		opts = append(opts, "STOPAT = "+quoteString(req.StopAt.UTC().Add(offset).Format("2006-01-02T15:04:05.000")))
	}
	if last {
		opts = append(opts, "RECOVERY")
	} else {
		opts = append(opts, "NORECOVERY")
	}
	if i == 0 {
		for _, m := range moves {
			opts = append(opts, "MOVE "+quoteString(m.logical)+" TO "+quoteString(m.to))
		}
	}
	opts = append(opts, d.urlOptions(req.Credential, "RESTORE_OPTIONS")...)
	opts = append(opts, "STATS = 10")
	return stmt + quoteIdent(req.Database) + " FROM " + d.clause() + " WITH " + strings.Join(opts, ", ")
}

// dropScratch drops the drill's database on a fresh, bounded context: the
// drill's own may be cancelled or past its deadline.
func (s *session) dropScratch(ctx context.Context, database string) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dropTimeout)
	defer cancel()
	if _, err := s.db.ExecContext(dctx, "DROP DATABASE IF EXISTS "+quoteIdent(database)); err != nil {
		return s.fail(dctx, "drop "+quoteIdent(database), err)
	}
	return nil
}

var _ engine.Driller = (*session)(nil)
