package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// Where a standby stands.
//
// The documented record is msdb: restorehistory has one row per restore
// operation (restore_date, destination_database_name, restore_type D/L/V…,
// backup_set_id) and backupset the backup set restored (first_lsn, last_lsn).
// The position is the last_lsn of the newest full or log restore of this
// incarnation of the database. DROP DATABASE leaves msdb's history, so
// rows of an older database of the same name are set aside: those of
// another backup family (backupset.family_guid against the database's
// family_guid in sys.database_recovery_status, when the server gives it:
// not while RESTORING), and those older than the database's create_date
// (for a restored database, when the restore created it; restore_date is
// when a restore completed). Both dates are the server's local clock with
// no offset, so the comparison allows an hour (createdSlack): a daylight
// saving change that repeats an hour must not hide a restore of this
// database, which would leave it with no position at all.
//
// sys.master_files.redo_start_lsn is documented as NULL unless the files
// are RESTORING (a STANDBY database is ONLINE, read-only); where the server
// fills it, it corroborates and is reported as ServerRedoLSN. It is the
// position only when the history has none (history cleaned up). When the
// two disagree the history's is reported and the next RESTORE LOG decides:
// 4326 (the log ends before the database's point) means it is already
// past it, 4305 (the log begins after it) is a real gap.
const (
	queryStandby = `SELECT state_desc, is_in_standby, create_date FROM sys.databases WHERE name = @p1`
	queryRedoLSN = `SELECT MAX(redo_start_lsn) FROM sys.master_files WHERE database_id = DB_ID(@p1)`
	queryFamily  = `SELECT family_guid FROM sys.database_recovery_status WHERE database_id = DB_ID(@p1)`
	// The newest restores first; the first full or log restore wins
	// (restorehistory also records verifies and other kinds).
	queryLastRestore = `SELECT TOP 10 rh.restore_date, rh.restore_type, bs.first_lsn, bs.last_lsn, bs.family_guid, mf.physical_device_name ` +
		`FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id ` +
		`JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id ` +
		`WHERE rh.destination_database_name = @p1 ORDER BY rh.restore_history_id DESC`
	// The newest full restore: what the database was seeded from. A
	// striped backup has a media family row per stripe; any names it.
	querySeedRestore = `SELECT TOP 1 rh.restore_date, bs.first_lsn, bs.last_lsn, bs.family_guid, mf.physical_device_name ` +
		`FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id ` +
		`JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id ` +
		`WHERE rh.destination_database_name = @p1 AND rh.restore_type = 'D' ORDER BY rh.restore_history_id DESC`
)

// createdSlack is how much older than the database's create_date a
// restore may look and still count as its own: the most a daylight saving
// change moves a local clock.
const createdSlack = time.Hour

func (s *session) ObserveStandby(ctx context.Context, databases []string) ([]engine.StandbyDatabase, error) {
	offset, err := s.serverOffset(ctx)
	if err != nil {
		return nil, s.fail(ctx, "observe standby "+s.server, err)
	}
	out, i, err := eachDatabase(ctx, databases, func(ctx context.Context, name string) (engine.StandbyDatabase, error) {
		return s.observeStandby(ctx, name, offset)
	})
	if err != nil {
		return nil, s.fail(ctx, "observe standby database "+quoteIdent(databases[i]), err)
	}
	return out, nil
}

func (s *session) observeStandby(ctx context.Context, name string, offset time.Duration) (engine.StandbyDatabase, error) {
	db := engine.StandbyDatabase{Name: name, State: engine.Absent}
	var state string
	var standby sql.NullBool
	var created time.Time
	err := s.db.QueryRowContext(ctx, queryStandby, name).Scan(&state, &standby, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return db, nil
	}
	if err != nil {
		return db, err
	}
	db.RawState = state
	switch {
	case state == "RESTORING":
		db.State = engine.Restoring
	case standby.Bool:
		db.State = engine.Standby
	case state == "ONLINE":
		db.State = engine.Online
	default:
		db.State = engine.Other
	}
	if db.State != engine.Online {
		var redo sql.NullString
		if err := s.db.QueryRowContext(ctx, queryRedoLSN, name).Scan(&redo); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return db, err
		}
		if redo.Valid {
			if db.ServerRedoLSN, err = artifact.ParseLSN(redo.String); err != nil {
				return db, fmt.Errorf("redo_start_lsn: %w", err)
			}
		}
	}
	var family mssql.NullUniqueIdentifier
	if err := s.db.QueryRowContext(ctx, queryFamily, name).Scan(&family); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return db, err
	}
	rows, err := allRows(ctx, s.db, queryLastRestore, name)
	if err != nil {
		return db, err
	}
	for _, r := range rows {
		if family.Valid && !strings.EqualFold(r.guid("family_guid"), family.UUID.String()) {
			continue // another database's backup, restored under this name
		}
		var kind artifact.Kind
		switch r.string("restore_type") {
		case "D":
			kind = artifact.Full
		case "L":
			kind = artifact.Log
		default:
			continue
		}
		at := r.time("restore_date")
		if at.Before(created.Add(-createdSlack)) {
			break // an older database of the same name: none of this one
		}
		rec := &engine.RestoreRecord{At: toUTC(at, offset), Kind: kind, Path: r.string("physical_device_name"), FamilyGUID: r.guid("family_guid")}
		if rec.FirstLSN, err = r.lsn("first_lsn"); err != nil {
			return db, err
		}
		if rec.LastLSN, err = r.lsn("last_lsn"); err != nil {
			return db, err
		}
		db.LastRestore = rec
		break
	}
	if db.SeedRestore, err = s.seedRestore(ctx, name, created, family, offset); err != nil {
		return db, err
	}
	if db.State != engine.Online {
		db.RedoLSN = db.ServerRedoLSN
		if db.LastRestore != nil {
			db.RedoLSN = db.LastRestore.LastLSN
		}
	}
	return db, nil
}

// seedRestore is the newest full restore of this incarnation of the
// database (nil when none): one of another family, or from before the
// database was created, is an older namesake's, and then this one's seed
// is not known.
func (s *session) seedRestore(ctx context.Context, name string, created time.Time, family mssql.NullUniqueIdentifier, offset time.Duration) (*engine.RestoreRecord, error) {
	rows, err := allRows(ctx, s.db, querySeedRestore, name)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	r := rows[0]
	if family.Valid && !strings.EqualFold(r.guid("family_guid"), family.UUID.String()) {
		return nil, nil
	}
	at := r.time("restore_date")
	if at.Before(created.Add(-createdSlack)) {
		return nil, nil
	}
	rec := &engine.RestoreRecord{At: toUTC(at, offset), Kind: artifact.Full, Path: r.string("physical_device_name"), FamilyGUID: r.guid("family_guid")}
	if rec.FirstLSN, err = r.lsn("first_lsn"); err != nil {
		return nil, err
	}
	if rec.LastLSN, err = r.lsn("last_lsn"); err != nil {
		return nil, err
	}
	return rec, nil
}
