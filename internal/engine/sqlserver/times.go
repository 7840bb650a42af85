package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
)

// Times on SQL Server.
//
// msdb's dates, RESTORE HEADERONLY's BackupStartDate/BackupFinishDate and
// sys.databases.create_date are the server's local wall clock, without a
// zone. Converting one with the offset in force now is wrong for a value
// written before the last daylight saving change, so:
//
//   - A backup's start and finish come from msdb.dbo.backupset, whose
//     time_zone is the offset when the backup was written, in 15-minute
//     intervals from UTC (127 = unknown) — the documented conversion
//     (https://learn.microsoft.com/sql/relational-databases/system-tables/backupset-transact-sql).
//     For a backup just taken they are checked against the server's UTC
//     clock (SYSUTCDATETIME) read before and after the BACKUP: a value
//     outside those bounds is not used, and the bounds are the answer when
//     nothing documented agrees with them.
//   - HEADERONLY's TimeZone column (SQL Server 2022 only) is never read:
//     its meaning is undocumented and real servers return values that are
//     not their offset.
//   - A database's identity is sys.database_recovery_status.recovery_fork_guid,
//     which no clock moves (see primary.go). create_date is still reported,
//     converted with today's offset: SQL Server keeps no offset for it, and
//     the server's zone rules are not reachable from T-SQL on every version
//     (CURRENT_TIMEZONE_ID() with AT TIME ZONE exists only from 2022, and
//     names Windows zones). The planner tolerates a whole-quarter-hour move
//     of it and uses it only when there is no identity.

// clockSlack is how far a backup date may lie outside the UTC bounds read
// around the BACKUP: msdb keeps whole seconds (datetime), the bounds are
// read on another statement.
const clockSlack = 2 * time.Second

// zoneUnknown is backupset.time_zone's "unknown".
const zoneUnknown = 127

// serverClock is the server's UTC clock and its local clock's offset from
// it, at one instant (SYSUTCDATETIME and SYSDATETIME in one statement).
type serverClock struct {
	utc    time.Time
	offset time.Duration
}

func readClock(ctx context.Context, q queryer) (serverClock, error) {
	row, err := firstRow(ctx, q, "SELECT SYSUTCDATETIME() AS utc, SYSDATETIME() AS local")
	if err != nil {
		return serverClock{}, err
	}
	if row == nil {
		return serverClock{}, errors.New("SELECT SYSUTCDATETIME() returned no row")
	}
	utc, local := wallClock(row.time("utc")), wallClock(row.time("local"))
	if utc.IsZero() || local.IsZero() {
		return serverClock{}, errors.New("SELECT SYSUTCDATETIME(), SYSDATETIME() returned no time")
	}
	return serverClock{utc: utc, offset: local.Sub(utc).Round(15 * time.Minute)}, nil
}

// zoneOffset turns backupset.time_zone into an offset; false when unknown.
func zoneOffset(tz sql.NullInt64) (time.Duration, bool) {
	// Offsets run from UTC-12:00 to UTC+14:00.
	if !tz.Valid || tz.Int64 == zoneUnknown || tz.Int64 < -48 || tz.Int64 > 56 {
		return 0, false
	}
	return time.Duration(tz.Int64) * 15 * time.Minute, true
}

// queryBackupTimes finds the msdb record of one backup set: by its GUID,
// device and LSNs (a reused device name or a restored copy's row must not
// answer for it).
const queryBackupTimes = `SELECT TOP 1 bs.backup_start_date, bs.backup_finish_date, bs.time_zone ` +
	`FROM msdb.dbo.backupset AS bs JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id ` +
	`WHERE bs.backup_set_uuid = @p1 AND mf.physical_device_name = @p2 AND bs.first_lsn = @p3 AND bs.last_lsn = @p4 ` +
	`ORDER BY bs.backup_set_id DESC`

// msdbTimes is a backup set's start and finish as msdb recorded them,
// converted with the offset recorded beside them; ok is false when msdb
// has no record or no known offset.
func msdbTimes(ctx context.Context, q queryer, set string, path string, h artifact.Header) (start, finish time.Time, ok bool, err error) {
	rows, err := q.QueryContext(ctx, queryBackupTimes, set, path, string(h.FirstLSN), string(h.LastLSN))
	if err != nil {
		return start, finish, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return start, finish, false, rows.Err()
	}
	var s, f sql.NullTime
	var tz sql.NullInt64
	if err := rows.Scan(&s, &f, &tz); err != nil {
		return start, finish, false, err
	}
	off, known := zoneOffset(tz)
	if !known || !s.Valid || !f.Valid {
		return start, finish, false, rows.Err()
	}
	return toUTC(s.Time, off), toUTC(f.Time, off), true, rows.Err()
}

// inBounds reports whether start..finish lies within the UTC bounds read
// before and after the backup.
func inBounds(start, finish time.Time, before, after serverClock) bool {
	return !start.IsZero() && !finish.Before(start) &&
		!start.Before(before.utc.Add(-clockSlack)) && !finish.After(after.utc.Add(clockSlack))
}

// backupTimes decides a just-taken backup's UTC start and finish: msdb's
// documented conversion when it agrees with the server's UTC clock around
// the backup; else the header's local dates with the offset measured
// around the backup, when it did not change meanwhile and they agree; else
// the bounds themselves (the backup started after the first and finished
// before the second).
func backupTimes(ctx context.Context, q queryer, set string, path string, local artifact.Header, before, after serverClock) (time.Time, time.Time, error) {
	start, finish, ok, err := msdbTimes(ctx, q, set, path, local)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if ok && inBounds(start, finish, before, after) {
		return start, finish, nil
	}
	if before.offset == after.offset {
		start, finish = toUTC(local.Start, before.offset), toUTC(local.Finish, before.offset)
		if inBounds(start, finish, before, after) {
			return start, finish, nil
		}
	}
	return before.utc, after.utc, nil
}
