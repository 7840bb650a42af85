package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// Where restored files go.
//
// A full restore moves every file: to the target's data_dir and log_dir,
// or, without them, to the target server's default data and log paths
// (SERVERPROPERTY('InstanceDefaultDataPath'/'InstanceDefaultLogPath')),
// never to the primary's paths, which often do not exist on the standby
// (D:\Data on a Windows primary, a Linux standby) or belong to another
// database there.
//
// A log restore moves the files the log creates (ALTER DATABASE … ADD
// FILE on the primary), and only those: RESTORE LOG takes MOVE for them,
// and without it SQL Server creates them at the primary's path, which
// fails every log restore on a standby with another layout (5133, 3156,
// 1834). They are the files in the log backup's FILELISTONLY that the
// standby's database does not have (sys.master_files, visible while it is
// RESTORING or in STANDBY); a file the log removes is dropped by the
// restore and needs nothing.

// queryFiles lists the files a database on the target has now.
const queryFiles = `SELECT file_id, name, create_lsn FROM sys.master_files WHERE database_id = DB_ID(@p1)`

// restoreMoves plans the MOVE clauses of a restore (see above).
func restoreMoves(ctx context.Context, c *sql.Conn, req engine.RestoreRequest, d device) ([]move, error) {
	files, err := fileList(ctx, c, d, req.Credential)
	if err != nil {
		return nil, err
	}
	if req.Kind == artifact.Log {
		have, err := databaseFiles(ctx, c, req.Database)
		if err != nil {
			return nil, err
		}
		files = addedFiles(files, have)
		if len(files) == 0 {
			return nil, nil
		}
	}
	dataDir, logDir := req.DataDir, req.LogDir
	if logDir == "" {
		logDir = dataDir
	}
	if dataDir == "" || logDir == "" {
		var defData, defLog sql.NullString
		if err := c.QueryRowContext(ctx, queryDefaultPaths).Scan(&defData, &defLog); err != nil {
			return nil, err
		}
		if defLog.String == "" {
			defLog = defData
		}
		if dataDir == "" {
			dataDir = defData.String
		}
		if logDir == "" {
			logDir = defLog.String
		}
		if dataDir == "" || logDir == "" {
			return nil, errors.New("the server reports no default data or log path (SERVERPROPERTY('InstanceDefaultDataPath'/'InstanceDefaultLogPath')) to put the database's files in; set the target's data_dir and log_dir")
		}
	}
	moves := planMoves(req.Database, files, dataDir, logDir)
	taken, err := otherDatabasesFiles(ctx, c, req.Database)
	if err != nil {
		return nil, err
	}
	return apart(req.Database, files, moves, taken), nil
}

// queryAllFiles lists the files of every database on the target, to set
// aside those of the database restored (DB_ID, NULL when it is absent).
const (
	queryAllFiles = `SELECT database_id, physical_name FROM sys.master_files`
	queryDBID     = `SELECT DB_ID(@p1)`
)

func otherDatabasesFiles(ctx context.Context, q *sql.Conn, database string) (map[string]bool, error) {
	var self sql.NullInt64
	if err := q.QueryRowContext(ctx, queryDBID, database).Scan(&self); err != nil {
		return nil, err
	}
	rows, err := allRows(ctx, q, queryAllFiles)
	if err != nil {
		return nil, err
	}
	taken := make(map[string]bool, len(rows))
	for _, r := range rows {
		if id, _ := r.int("database_id"); self.Valid && id == self.Int64 {
			continue
		}
		taken[strings.ToLower(r.string("physical_name"))] = true
	}
	return taken, nil
}

// apart renames a move whose file another database on the target already
// has: <database>_<logical> does not tell the database from the logical
// name, so [Sales] with a file 2024_Archive and [Sales_2024] with a file
// Archive both come to Sales_2024_Archive.ndf, and the second restore
// would fail (1834) on every attempt. Such a file gets the hash of its
// database and logical name too, as a name cut or changed does. Paths are
// compared without case (Windows).
func apart(database string, files []backupFile, moves []move, taken map[string]bool) []move {
	for i, m := range moves {
		if !taken[strings.ToLower(m.to)] {
			continue
		}
		for _, f := range files {
			if f.logical != m.logical {
				continue
			}
			dir := m.to[:strings.LastIndexAny(m.to, `/\`)]
			moves[i].to = joinServerPath(dir, hashedName(database, f))
		}
	}
	return moves
}

// dbFileRow is one row of sys.master_files.
type dbFileRow struct {
	fileID    int64
	logical   string
	createLSN artifact.LSN
}

func databaseFiles(ctx context.Context, q queryer, database string) ([]dbFileRow, error) {
	rows, err := allRows(ctx, q, queryFiles, database)
	if err != nil {
		return nil, err
	}
	out := make([]dbFileRow, 0, len(rows))
	for _, r := range rows {
		id, _ := r.int("file_id")
		created, err := r.lsn("create_lsn")
		if err != nil {
			return nil, fmt.Errorf("sys.master_files: %w", err)
		}
		out = append(out, dbFileRow{fileID: id, logical: r.string("name"), createLSN: created})
	}
	return out, nil
}

// addedFiles keeps the files of a log backup that the database does not
// have: none with the same file_id, or one with another name created at
// another LSN (a file removed and another added under its id). A rename
// keeps the file_id and the LSN, so it is the same file; so is a file whose
// LSN one side does not give, or gives differently, under the same name. A
// file the log creates and removes again is created by the restore too, so
// it is kept.
func addedFiles(backup []backupFile, have []dbFileRow) []backupFile {
	var out []backupFile
	for _, f := range backup {
		found := false
		for _, h := range have {
			if h.fileID != f.fileID {
				continue
			}
			if known(f.createLSN) && known(h.createLSN) && f.createLSN.Cmp(h.createLSN) != 0 && !strings.EqualFold(f.logical, h.logical) {
				continue
			}
			found = true
		}
		if !found {
			out = append(out, f)
		}
	}
	return out
}

// known: the LSN was given and is not 0 (the database's first files have
// CreateLSN 0 in FILELISTONLY and NULL or 0 in sys.master_files).
func known(l artifact.LSN) bool { return !l.IsZero() && l.Cmp("0") != 0 }
