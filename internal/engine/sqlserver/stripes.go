package sqlserver

import (
	"context"
	"database/sql"
	"fmt"
)

// Backups to URL have a size limit per URL: an Azure block blob holds
// 50,000 blocks of MAXTRANSFERSIZE (4 MB here: ≈195 GiB), an S3 object
// 10,000 parts (10 MB by default: ≈98 GiB). Larger backups must be striped
// across several URLs (up to 64), which drsctl's ledger cannot yet carry
// (an artifact is one object it checksums, ships, verifies and prunes), so
// a URL backup that would outgrow one URL is refused before it starts,
// rather than failing with 3202 after hours of writing.
var (
	azureURLBytes int64 = 50000 * 4 << 20
	s3URLBytes    int64 = 10000 * 10 << 20
)

const queryFileSizes = `SELECT type, size FROM sys.master_files WHERE database_id = DB_ID(@p1)`

// urlStripes is how many URLs a backup of database needs, sized as WAL-G
// does from the files' allocated size (8 KB pages, data files for a full,
// the log file for a log backup) with a tenth more for headers: an upper
// bound of what the backup writes, compression aside. A login that may not
// see the files (sys.master_files needs CREATE DATABASE, ALTER ANY
// DATABASE or VIEW ANY DEFINITION) sees no rows: one URL, as before.
func urlStripes(ctx context.Context, q queryer, d device, database string, log bool) (need int64, bytes int64, err error) {
	rows, err := q.QueryContext(ctx, queryFileSizes, database)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, pages sql.NullInt64
		if err := rows.Scan(&typ, &pages); err != nil {
			return 0, 0, err
		}
		if (typ.Int64 == 1) == log {
			bytes += pages.Int64 * 8192
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	limit := azureURLBytes
	if d.s3 {
		limit = s3URLBytes
	}
	est := bytes + bytes/10
	return max(1, (est+limit-1)/limit), bytes, nil
}

// checkURLSize refuses a backup to one URL that needs several.
func checkURLSize(ctx context.Context, q queryer, d device, database string, log bool) error {
	need, bytes, err := urlStripes(ctx, q, d, database, log)
	if err != nil || need <= 1 {
		return err
	}
	what, limit := "an Azure block blob holds about %s (50,000 blocks of 4 MB)", azureURLBytes
	if d.s3 {
		what, limit = "an S3 object holds about %s (10,000 parts of 10 MB)", s3URLBytes
	}
	return fmt.Errorf("%s's files take %s and "+what+": the backup would need %d URLs (striping), which drsctl does not do yet; "+
		"nothing was backed up: use a disk or share backup_folder (server_path) for this database", quoteIdent(database), gib(bytes), gib(limit), need)
}

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// SetURLBytesForTesting makes the engine size one URL (Azure and S3 alike)
// at n bytes until the returned function restores the real limits, so
// tests elsewhere (the end-to-end tests, against a simulator whose own
// limit is lowered to match) can need striping with a small database. Not
// for use outside tests.
func SetURLBytesForTesting(n int64) (restore func()) {
	a, s := azureURLBytes, s3URLBytes
	azureURLBytes, s3URLBytes = n, n
	return func() { azureURLBytes, s3URLBytes = a, s }
}
