package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// Backups to URL have a size limit per URL: an Azure block blob holds
// 50,000 blocks of MAXTRANSFERSIZE (4 MB here: ≈195 GiB), an S3 object
// 10,000 parts (10 MB by default: ≈98 GiB). Larger backups are striped
// across several URLs (up to 64), named after the first by
// artifact.StripePath, when the caller can carry them
// (BackupRequest.MaxStripes); otherwise a URL backup that would outgrow
// one URL is refused before it starts, rather than failing with 3202
// after hours of writing.
var (
	azureURLBytes = newLimit(50000 * 4 << 20)
	s3URLBytes    = newLimit(10000 * 10 << 20)
)

// errStripeMissing is 3132: "The media set has N media families but only M
// are provided. All members must be provided."
const errStripeMissing = 3132

// headerAllowance is what a backup writes besides its pages (media and
// backup set headers, the file list), counted once per backup.
const headerAllowance = 1 << 20

const (
	queryFileSizes = `SELECT type, size FROM sys.master_files WHERE database_id = DB_ID(@p1)`
	// sys.dm_db_log_space_usage reports the current database only.
	queryLogSpace = `SELECT log_space_in_bytes_since_last_backup FROM sys.dm_db_log_space_usage`
)

// urlStripes is how many URLs a backup of database needs, sized as WAL-G
// does, with a tenth more (and headerAllowance) for headers: an upper
// bound of what the backup writes, compression aside. A full is sized by
// its data files' allocated size (8 KB pages). A log backup is sized by
// the log written since the last log backup
// (sys.dm_db_log_space_usage.log_space_in_bytes_since_last_backup, SQL
// Server 2014 and later, VIEW SERVER STATE), not by the log file's
// allocated size: a large pre-allocated log file with little in it would
// otherwise ask for many URLs (or, without striping, refuse every log
// backup). Where that cannot be read (no VIEW SERVER STATE, an older
// server) the log file's allocated size bounds it. A login that may not
// see the files (sys.master_files needs CREATE DATABASE, ALTER ANY
// DATABASE or VIEW ANY DEFINITION) sees no rows: one URL, as before.
func urlStripes(ctx context.Context, c *sql.Conn, d device, database string, log bool) (need int64, bytes int64, err error) {
	known := false
	if log {
		if bytes, known, err = logSinceBackup(ctx, c, database); err != nil {
			return 0, 0, err
		}
	}
	if !known {
		if bytes, err = fileBytes(ctx, c, database, log); err != nil {
			return 0, 0, err
		}
	}
	if bytes == 0 {
		return 1, 0, nil
	}
	limit := azureURLBytes.Load()
	if d.s3 {
		limit = s3URLBytes.Load()
	}
	est := bytes + bytes/10 + headerAllowance
	return max(1, (est+limit-1)/limit), bytes, nil
}

func fileBytes(ctx context.Context, q queryer, database string, log bool) (int64, error) {
	rows, err := q.QueryContext(ctx, queryFileSizes, database)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var bytes int64
	for rows.Next() {
		var typ, pages sql.NullInt64
		if err := rows.Scan(&typ, &pages); err != nil {
			return 0, err
		}
		if (typ.Int64 == 1) == log {
			bytes += pages.Int64 * 8192
		}
	}
	return bytes, rows.Err()
}

// logSinceBackup reads the log written since the last log backup, in the
// database's context (USE, then back to master, where a tail-log backup
// needs the session anyway). ok is false when the server will not say:
// 300/297 (no VIEW SERVER STATE), 207 (before SQL Server 2014), 208, 916
// or 924 (the database not reachable from this login or session).
func logSinceBackup(ctx context.Context, c *sql.Conn, database string) (bytes int64, ok bool, err error) {
	var v sql.NullInt64
	err = c.QueryRowContext(ctx, "USE "+quoteIdent(database)+"; "+queryLogSpace).Scan(&v)
	if _, uerr := c.ExecContext(ctx, "USE [master]"); uerr != nil {
		return 0, false, uerr
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		for _, n := range []int32{300, 297, 207, 208, 916, 924} {
			if hasNumber(err, n) {
				return 0, false, nil
			}
		}
		return 0, false, err
	}
	return v.Int64, v.Valid, nil
}

// urlDevice is where a URL backup is written: d itself, or d striped
// across as many URLs as urlStripes asks, when the caller can carry them.
// A backup needing more URLs than the caller carries (or than 64) is
// refused, saying why and what to do.
func urlDevice(ctx context.Context, c *sql.Conn, d device, req engine.BackupRequest) (device, error) {
	need, bytes, err := urlStripes(ctx, c, d, req.Database, req.Kind == artifact.Log)
	if err != nil || need <= 1 {
		return d, err
	}
	what, limit := "an Azure block blob holds about %s (50,000 blocks of 4 MB)", azureURLBytes.Load()
	if d.s3 {
		what, limit = "an S3 object holds about %s (10,000 parts of 10 MB)", s3URLBytes.Load()
	}
	files := "files take"
	if req.Kind == artifact.Log {
		files = "log to back up takes"
	}
	switch {
	case need > artifact.MaxStripes:
		return d, fmt.Errorf("%s's %s %s and "+what+": the backup would need %d URLs, more than the %d one backup can be striped across; "+
			"nothing was backed up: use a disk or share backup_folder (server_path) for this database", quoteIdent(req.Database), files, gib(bytes), gib(limit), need, artifact.MaxStripes)
	case int(need) > req.MaxStripes:
		return d, fmt.Errorf("%s's %s %s and "+what+": the backup would need %d URLs (striping), which drsctl does not do yet; "+
			"nothing was backed up: use a disk or share backup_folder (server_path) for this database", quoteIdent(req.Database), files, gib(bytes), gib(limit), need)
	}
	d.stripes = artifact.StripePaths(d.path, int(need))
	return d, nil
}

// stripedDevice is the device of a backup striped across n files, path the
// first (RestoreRequest.Stripes).
func stripedDevice(path string, n int) device {
	d := deviceOf(path)
	if n > 1 {
		d.stripes = artifact.StripePaths(path, n)
	}
	return d
}

func gib(n int64) string {
	if n < 1<<30 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// SetURLBytesForTesting makes the engine size one URL (Azure and S3 alike)
// at n bytes until the returned function restores the real limits, so
// tests elsewhere (the end-to-end tests, against a simulator whose own
// limit is lowered to match) can need striping with a small database. Not
// for use outside tests.
func SetURLBytesForTesting(n int64) (restore func()) {
	a, s := azureURLBytes.Swap(n), s3URLBytes.Swap(n)
	return func() { azureURLBytes.Store(a); s3URLBytes.Store(s) }
}

// newLimit is a per-URL size limit, atomic so a test lowering it never
// races a backup sizing itself in another goroutine.
func newLimit(n int64) *atomic.Int64 {
	v := new(atomic.Int64)
	v.Store(n)
	return v
}
