package sqlserver

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// Restore restores one backup on a dedicated session parked in master:
//
//	RESTORE FILELISTONLY FROM DISK|URL = N'path' (for MOVE: every file of a full, the files a log adds; files.go)
//	[ALTER DATABASE [db] SET SINGLE_USER WITH ROLLBACK IMMEDIATE;  when DisconnectUsers and it is a standby,
//	 RESTORE DATABASE [db] WITH NORECOVERY;]
//	RESTORE DATABASE|LOG [db] FROM DISK|URL = N'path' WITH NORECOVERY | STANDBY = N'undo'[, MOVE N'logical' TO N'dir/db_logical.ext']…[, REPLACE][, CREDENTIAL…], STATS = 10
//	[;ALTER DATABASE [db] SET MULTI_USER  in the same batch, after STANDBY]
//
// (see readers.go).
func (s *session) Restore(ctx context.Context, req engine.RestoreRequest, progress engine.Progress) error {
	verb := "restore database"
	if req.Kind == artifact.Log {
		verb = "restore log"
	}
	target := fmt.Sprintf("%s %s from %s", verb, quoteIdent(req.Database), req.ServerPath)
	switch {
	case req.Database == "":
		return fmt.Errorf("%s: no database named", target)
	case !req.Kind.Valid():
		return fmt.Errorf("%s: unknown backup kind %q", target, req.Kind)
	case req.ServerPath == "":
		return fmt.Errorf("%s: no server path", target)
	case req.Mode != engine.NoRecovery && req.Mode != engine.StandbyMode:
		return fmt.Errorf("%s: unknown restore mode %q", target, req.Mode)
	}
	d := stripedDevice(req.ServerPath, req.Stripes)
	if req.Mode == engine.StandbyMode && req.UndoFile == "" {
		undo, err := s.defaultUndoFile(ctx, req.Database)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		req.UndoFile = undo
	}
	err := s.dedicated(ctx, func(c *sql.Conn, lost <-chan struct{}) error {
		if _, err := c.ExecContext(ctx, "USE [master]"); err != nil {
			return err
		}
		if err := checkCredential(ctx, c, d, req.Credential); err != nil {
			return err
		}
		moves, err := restoreMoves(ctx, c, req, d)
		if err != nil {
			return err
		}
		x := exclusive{database: req.Database, stmt: restoreStatement(req, d, moves),
			disconnect: req.DisconnectUsers, onlineAfter: req.Mode == engine.StandbyMode, keep: true}
		if req.Mode == engine.StandbyMode {
			x.undo = req.UndoFile
		}
		return runExclusive(ctx, c, lost, x, progress)
	})
	if err != nil {
		return s.fail(ctx, target, err)
	}
	return nil
}

func restoreStatement(req engine.RestoreRequest, d device, moves []move) string {
	stmt := "RESTORE DATABASE "
	if req.Kind == artifact.Log {
		stmt = "RESTORE LOG "
	}
	var opts []string
	if req.Mode == engine.StandbyMode {
		opts = append(opts, "STANDBY = "+quoteString(req.UndoFile))
	} else {
		opts = append(opts, "NORECOVERY")
	}
	for _, m := range moves {
		opts = append(opts, "MOVE "+quoteString(m.logical)+" TO "+quoteString(m.to))
	}
	if req.Replace && req.Kind == artifact.Full {
		opts = append(opts, "REPLACE")
	}
	opts = append(opts, d.urlOptions(req.Credential, "RESTORE_OPTIONS")...)
	opts = append(opts, "STATS = 10")
	return stmt + quoteIdent(req.Database) + " FROM " + d.clause() + " WITH " + strings.Join(opts, ", ")
}

// defaultUndoFile places a STANDBY undo file where only this server writes:
// its default data directory (SERVERPROPERTY('InstanceDefaultDataPath')).
// Not the destination's server_path: that may be a URL (a RESTORE cannot
// write an undo file there) or a share other targets write and a retention
// job cleans (a lost undo file means reseeding the standby).
func (s *session) defaultUndoFile(ctx context.Context, database string) (string, error) {
	var defData, defLog sql.NullString
	if err := s.db.QueryRowContext(ctx, queryDefaultPaths).Scan(&defData, &defLog); err != nil {
		return "", s.fail(ctx, "ask for the default data path (for the STANDBY undo file)", err)
	}
	if defData.String == "" {
		return "", fmt.Errorf("%s reports no default data path for the STANDBY undo file; set the target's data_dir", s.server)
	}
	return joinServerPath(defData.String, movedName(database, backupFile{logical: "standby", physical: "x.tuf"})), nil
}

// Recover brings a restoring or standby database online:
//
//	[ALTER DATABASE [db] SET SINGLE_USER WITH ROLLBACK IMMEDIATE;  when DisconnectUsers and it is a standby]
//	RESTORE DATABASE [db] WITH RECOVERY
//	[;ALTER DATABASE [db] SET MULTI_USER]
//
// and leaves it MULTI_USER whatever an interrupted run left (readers.go).
func (s *session) Recover(ctx context.Context, req engine.RecoverRequest) error {
	target := "recover " + quoteIdent(req.Database)
	if req.Database == "" {
		return fmt.Errorf("%s: no database named", target)
	}
	err := s.dedicated(ctx, func(c *sql.Conn, lost <-chan struct{}) error {
		if _, err := c.ExecContext(ctx, "USE [master]"); err != nil {
			return err
		}
		return runExclusive(ctx, c, lost, exclusive{database: req.Database, stmt: "RESTORE DATABASE " + quoteIdent(req.Database) + " WITH RECOVERY",
			disconnect: req.DisconnectUsers, onlineAfter: true, keep: true}, engine.NoProgress)
	})
	if err != nil {
		return s.fail(ctx, target, err)
	}
	return nil
}

// ---- MOVE ----

// backupFile is one file of a full backup (RESTORE FILELISTONLY).
type backupFile struct {
	logical  string
	physical string
	typ      string // D data, L log, F full-text, S filestream
	fileID   int64
	// createLSN is the LSN that created the file (zero for the database's
	// first files); dropLSN, in a log backup's list, the one that removed it.
	createLSN, dropLSN artifact.LSN
}

func fileList(ctx context.Context, q queryer, d device, credential string) ([]backupFile, error) {
	rows, err := allRows(ctx, q, infoStatement("FILELISTONLY", d, credential))
	if err != nil {
		return nil, err
	}
	files := make([]backupFile, 0, len(rows))
	for _, r := range rows {
		id, _ := r.int("FileID")
		created, err := r.lsn("CreateLSN")
		if err != nil {
			return nil, fmt.Errorf("RESTORE FILELISTONLY: %w", err)
		}
		dropped, err := r.lsn("DropLSN")
		if err != nil {
			return nil, fmt.Errorf("RESTORE FILELISTONLY: %w", err)
		}
		files = append(files, backupFile{logical: r.string("LogicalName"), physical: r.string("PhysicalName"),
			typ: strings.ToUpper(strings.TrimSpace(r.string("Type"))), fileID: id, createLSN: created, dropLSN: dropped})
	}
	return files, nil
}

type move struct{ logical, to string }

// planMoves sends data files (and full-text, filestream) to dataDir and log
// files to logDir (dataDir when logDir is empty); a file whose directory is
// empty stays where the backup says. Each file is named
// <database>_<logical><ext> (see movedName).
func planMoves(database string, files []backupFile, dataDir, logDir string) []move {
	if logDir == "" {
		logDir = dataDir
	}
	var out []move
	for _, f := range files {
		dir := dataDir
		if f.typ == "L" {
			dir = logDir
		}
		if dir == "" {
			continue
		}
		out = append(out, move{logical: f.logical, to: joinServerPath(dir, movedName(database, f))})
	}
	return out
}

// movedName is <database>_<logical> plus the physical file's extension
// (.mdf, .ndf, .ldf by kind when it has none): unique per database on a
// shared data directory. Characters Windows forbids in file names become
// '_'; a name so changed, or longer than 100 characters (then cut), is made
// unique again with a hash of the database and logical names: `a/b` and
// `a\b` would otherwise both restore onto a_b_….
func movedName(database string, f backupFile) string {
	raw := database + "_" + f.logical
	name := sanitizeFileName(raw)
	if r := []rune(name); len(r) > 100 || name != raw {
		return hashedName(database, f)
	}
	return name + sanitizeFileName(fileExt(f))
}

// hashedName is movedName made unique with a hash of the database and
// logical names (cut to 90 characters before it).
func hashedName(database string, f backupFile) string {
	r := []rune(sanitizeFileName(database + "_" + f.logical))
	if len(r) > 90 {
		r = r[:90]
	}
	sum := sha256.Sum256([]byte(database + "\x00" + f.logical))
	return string(r) + "_" + hex.EncodeToString(sum[:4]) + sanitizeFileName(fileExt(f))
}

// fileExt is the physical file's extension, or .mdf, .ndf, .ldf by kind
// when it has none.
func fileExt(f backupFile) string {
	base := f.physical
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	ext := ""
	if i := strings.LastIndex(base, "."); i > 0 {
		ext = base[i:]
	}
	if ext == "" {
		switch {
		case f.typ == "L":
			ext = ".ldf"
		case f.typ == "D" && f.fileID == 1:
			ext = ".mdf"
		case f.typ == "D":
			ext = ".ndf"
		}
	}
	return ext
}

func sanitizeFileName(s string) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`<>:"/\|?*`, r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
	return strings.TrimRight(s, ". ")
}

// joinServerPath joins a directory and a file name as the server writes
// paths: with a backslash when the directory looks like Windows (a drive
// letter or a backslash in it), with a slash otherwise.
func joinServerPath(dir, name string) string {
	sep := "/"
	if strings.Contains(dir, `\`) || (len(dir) >= 2 && dir[1] == ':' && unicode.IsLetter(rune(dir[0]))) {
		sep = `\`
	}
	return strings.TrimRight(dir, `/\`) + sep + name
}
