package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

const (
	queryStandby = `SELECT state_desc, is_in_standby FROM sys.databases WHERE name = @p1`
	queryRedoLSN = `SELECT MAX(redo_start_lsn) FROM sys.master_files WHERE database_id = DB_ID(@p1)`
	// The newest restores first; the first full or log restore wins
	// (restorehistory also records verifies and other kinds).
	queryLastRestore = `SELECT TOP 10 rh.restore_date, rh.restore_type, bs.first_lsn, bs.last_lsn, mf.physical_device_name ` +
		`FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id ` +
		`JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id ` +
		`WHERE rh.destination_database_name = @p1 ORDER BY rh.restore_history_id DESC`
)

func (s *session) ObserveStandby(ctx context.Context, databases []string) ([]engine.StandbyDatabase, error) {
	offset, err := s.serverOffset(ctx)
	if err != nil {
		return nil, s.fail(ctx, "observe standby "+s.server, err)
	}
	out := make([]engine.StandbyDatabase, 0, len(databases))
	for _, name := range databases {
		db, err := s.observeStandby(ctx, name, offset)
		if err != nil {
			return nil, s.fail(ctx, "observe standby database "+quoteIdent(name), err)
		}
		out = append(out, db)
	}
	return out, nil
}

func (s *session) observeStandby(ctx context.Context, name string, offset time.Duration) (engine.StandbyDatabase, error) {
	db := engine.StandbyDatabase{Name: name, State: engine.Absent}
	var state string
	var standby sql.NullBool
	err := s.db.QueryRowContext(ctx, queryStandby, name).Scan(&state, &standby)
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
			if db.RedoLSN, err = artifact.ParseLSN(redo.String); err != nil {
				return db, fmt.Errorf("redo_start_lsn: %w", err)
			}
		}
	}
	rows, err := allRows(ctx, s.db, queryLastRestore, name)
	if err != nil {
		return db, err
	}
	for _, r := range rows {
		var kind artifact.Kind
		switch r.string("restore_type") {
		case "D":
			kind = artifact.Full
		case "L":
			kind = artifact.Log
		default:
			continue
		}
		rec := &engine.RestoreRecord{At: toUTC(r.time("restore_date"), offset), Kind: kind, Path: r.string("physical_device_name")}
		if rec.FirstLSN, err = r.lsn("first_lsn"); err != nil {
			return db, err
		}
		if rec.LastLSN, err = r.lsn("last_lsn"); err != nil {
			return db, err
		}
		db.LastRestore = rec
		break
	}
	return db, nil
}
