package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

const (
	queryDatabase = `SELECT name, state_desc, recovery_model_desc, create_date FROM sys.databases WHERE name = @p1`
	// recovery_fork_guid is the database's identity: a new one at CREATE
	// DATABASE, at a RESTORE over it and at every recovery; NULL while the
	// database is not started (RESTORING). Unlike create_date, which is
	// local time without an offset, no clock moves it.
	// family_guid is the database's backup family: new at CREATE DATABASE,
	// kept by restores (its backups carry it in backupset.family_guid).
	queryLogChain = `SELECT last_log_backup_lsn, recovery_fork_guid, family_guid FROM sys.database_recovery_status WHERE database_id = DB_ID(@p1)`
	// Backups msdb recorded, oldest first. Differential and file backups
	// are read and skipped (drsctl never restores them).
	queryBackups = `SELECT bs.backup_set_id, bs.type, bs.first_lsn, bs.last_lsn, bs.checkpoint_lsn, bs.database_backup_lsn, ` +
		`bs.backup_start_date, bs.backup_finish_date, bs.time_zone, bs.is_copy_only, bs.family_guid, bs.database_name, mf.physical_device_name ` +
		`FROM msdb.dbo.backupset AS bs JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id ` +
		`WHERE bs.database_name = @p1 AND bs.backup_finish_date >= @p2 ORDER BY bs.backup_set_id, mf.family_sequence_number`
	// The same, of one backup family only: DROP DATABASE leaves msdb's
	// history, so a database dropped and created again under its name
	// finds the old one's backups there, which are not its own.
	queryFamilyBackups = `SELECT bs.backup_set_id, bs.type, bs.first_lsn, bs.last_lsn, bs.checkpoint_lsn, bs.database_backup_lsn, ` +
		`bs.backup_start_date, bs.backup_finish_date, bs.time_zone, bs.is_copy_only, bs.family_guid, bs.database_name, mf.physical_device_name ` +
		`FROM msdb.dbo.backupset AS bs JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id ` +
		`WHERE bs.database_name = @p1 AND bs.backup_finish_date >= @p2 AND bs.family_guid = @p3 ORDER BY bs.backup_set_id, mf.family_sequence_number`
)

// sinceMargin widens ObservePrimary's msdb filter, in local time, past any
// difference between today's offset and a row's own.
const sinceMargin = 26 * time.Hour

func (s *session) ObservePrimary(ctx context.Context, databases []string, since time.Time) ([]engine.PrimaryDatabase, error) {
	offset, err := s.serverOffset(ctx)
	if err != nil {
		return nil, s.fail(ctx, "observe primary "+s.server, err)
	}
	out, i, err := eachDatabase(ctx, databases, func(ctx context.Context, name string) (engine.PrimaryDatabase, error) {
		return s.observePrimary(ctx, name, since, offset)
	})
	if err != nil {
		return nil, s.fail(ctx, "observe primary database "+quoteIdent(databases[i]), err)
	}
	return out, nil
}

func (s *session) observePrimary(ctx context.Context, name string, since time.Time, offset time.Duration) (engine.PrimaryDatabase, error) {
	db := engine.PrimaryDatabase{Name: name}
	var canonical, state, model string
	var created time.Time
	err := s.db.QueryRowContext(ctx, queryDatabase, name).Scan(&canonical, &state, &model, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return db, nil
	}
	if err != nil {
		return db, err
	}
	db.Exists, db.State, db.RecoveryModel, db.CreatedAt = true, state, model, toUTC(created, offset)

	var lsn sql.NullString
	var fork, family mssql.NullUniqueIdentifier
	switch err := s.db.QueryRowContext(ctx, queryLogChain, name).Scan(&lsn, &fork, &family); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return db, err
	default:
		if fork.Valid {
			db.Identity = fork.UUID.String()
		}
		if lsn.Valid {
			if db.ChainLSN, err = artifact.ParseLSN(lsn.String); err != nil {
				return db, fmt.Errorf("last_log_backup_lsn: %w", err)
			}
			db.LogChain = true
		}
	}

	// msdb's dates are local: the filter is widened by more than any
	// offset change (a row's own time_zone converts it, below).
	// By name and, when the server says it (not while RESTORING), by
	// backup family as well.
	from := toServerLocal(since.Add(-sinceMargin), offset)
	var rows *sql.Rows
	if family.Valid {
		rows, err = s.db.QueryContext(ctx, queryFamilyBackups, name, from, family.UUID)
	} else {
		rows, err = s.db.QueryContext(ctx, queryBackups, name, from)
	}
	if err != nil {
		return db, err
	}
	defer rows.Close()
	seen := map[int64]bool{}
	// A striped backup has a row per media family, the first first: its
	// record is the first's path, with Stripes counting them when they
	// are named as drsctl names stripes (artifact.StripePath); a set
	// striped otherwise has Stripes -1 (drsctl cannot adopt it).
	var striped *engine.BackupRecord
	var stripeNames []string
	for rows.Next() {
		var (
			id                                      int64
			typ, dbName, path                       sql.NullString
			first, last, checkpoint, databaseBackup sql.NullString
			start, finish                           sql.NullTime
			zone                                    sql.NullInt64
			copyOnly                                sql.NullBool
			family                                  mssql.NullUniqueIdentifier
		)
		if err := rows.Scan(&id, &typ, &first, &last, &checkpoint, &databaseBackup, &start, &finish, &zone, &copyOnly, &family, &dbName, &path); err != nil {
			return db, err
		}
		if seen[id] {
			// another media family of a striped backup
			if striped != nil {
				stripeNames = append(stripeNames, path.String)
				striped.Stripes = len(stripeNames)
				for i, p := range stripeNames {
					if artifact.StripePath(stripeNames[0], i+1, len(stripeNames)) != p {
						striped.Stripes = -1
					}
				}
			}
			continue
		}
		striped, stripeNames = nil, []string{path.String}
		seen[id] = true
		var kind artifact.Kind
		switch typ.String {
		case "D":
			kind = artifact.Full
		case "L":
			kind = artifact.Log
		default: // I differential, F file, G differential file, P partial, Q differential partial
			continue
		}
		// The offset in force when the backup was written; today's only
		// when msdb does not know it (127).
		off, ok := zoneOffset(zone)
		if !ok {
			off = offset
		}
		h := artifact.Header{
			Kind:     kind,
			Database: dbName.String,
			Start:    toUTC(start.Time, off),
			Finish:   toUTC(finish.Time, off),
			CopyOnly: copyOnly.Bool,
		}
		if h.Finish.Before(since) {
			continue
		}
		if family.Valid {
			h.FamilyGUID = family.UUID.String()
		}
		for _, f := range []struct {
			name string
			v    sql.NullString
			dst  *artifact.LSN
		}{
			{"first_lsn", first, &h.FirstLSN},
			{"last_lsn", last, &h.LastLSN},
			{"checkpoint_lsn", checkpoint, &h.CheckpointLSN},
			{"database_backup_lsn", databaseBackup, &h.DatabaseBackupLSN},
		} {
			if !f.v.Valid {
				continue
			}
			l, err := artifact.ParseLSN(f.v.String)
			if err != nil {
				return db, fmt.Errorf("msdb.dbo.backupset.%s: %w", f.name, err)
			}
			*f.dst = l
		}
		db.Backups = append(db.Backups, engine.BackupRecord{Header: h, Path: path.String})
		striped = &db.Backups[len(db.Backups)-1]
	}
	return db, rows.Err()
}
