package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// Backup takes a full or log backup:
//
//	[ALTER DATABASE [db] SET SINGLE_USER WITH ROLLBACK IMMEDIATE;  a tail-log backup with DisconnectUsers (readers.go)]
//	BACKUP DATABASE|LOG [db] TO DISK = N'path' WITH CHECKSUM[, COMPRESSION], FORMAT, INIT[, COPY_ONLY][, NORECOVERY], STATS = 10
//	BACKUP DATABASE|LOG [db] TO URL = N'url' WITH CHECKSUM[, COMPRESSION], FORMAT[, MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536][, COPY_ONLY][, NORECOVERY][, CREDENTIAL = N'…'][, BACKUP_OPTIONS = N'…'], STATS = 10
//
// and reads the file's header back (RESTORE HEADERONLY). FORMAT (and INIT
// on disk) overwrite, so a path or URL that already holds a backup is
// refused (wrapping fs.ErrExist) rather than overwritten: that file's log
// would be lost from the chain. A URL takes no INIT (appending to a blob is
// not possible; FORMAT alone overwrites): see urlBackupOptions.
func (s *session) Backup(ctx context.Context, req engine.BackupRequest, progress engine.Progress) (artifact.Header, error) {
	verb := "backup database"
	if req.Kind == artifact.Log {
		verb = "backup log"
	}
	target := fmt.Sprintf("%s %s to %s", verb, quoteIdent(req.Database), req.ServerPath)
	switch {
	case req.Database == "":
		return artifact.Header{}, fmt.Errorf("%s: no database named", target)
	case !req.Kind.Valid():
		return artifact.Header{}, fmt.Errorf("%s: unknown backup kind %q", target, req.Kind)
	case req.ServerPath == "":
		return artifact.Header{}, fmt.Errorf("%s: no server path", target)
	case req.NoRecovery && req.Kind != artifact.Log:
		return artifact.Header{}, fmt.Errorf("%s: a tail-log backup (NORECOVERY) must be a log backup", target)
	}
	d := deviceOf(req.ServerPath)
	var h artifact.Header
	err := s.dedicated(ctx, func(c *sql.Conn, lost <-chan struct{}) error {
		if req.NoRecovery {
			// The tail-log backup needs the database alone, this session
			// included (3102 when a connection string names it).
			if _, err := c.ExecContext(ctx, "USE [master]"); err != nil {
				return err
			}
		}
		if d.url {
			if err := checkCredential(ctx, c, d, req.Credential); err != nil {
				return err
			}
			var err error
			if d, err = urlDevice(ctx, c, d, req); err != nil {
				return err
			}
		}
		if err := s.refuseOverwrite(ctx, c, d, req.Credential); err != nil {
			return err
		}
		before, err := readClock(ctx, c)
		if err != nil {
			return err
		}
		// A tail-log backup (NORECOVERY) needs the database alone; it is
		// left RESTORING, where MULTI_USER cannot be set (readers.go).
		if err := runExclusive(ctx, c, lost, exclusive{database: req.Database, stmt: backupStatement(req, d),
			disconnect: req.DisconnectUsers && req.NoRecovery, primary: true, repairOn: s.db}, progress); err != nil {
			return err
		}
		after, err := readClock(ctx, c)
		if err != nil {
			return err
		}
		var set string
		if h, set, err = s.headerOnly(ctx, c, d, req.Credential); err != nil {
			return err
		}
		h.Start, h.Finish, err = backupTimes(ctx, c, set, d.path, h, before, after)
		if len(d.stripes) > 1 {
			h.Stripes = len(d.stripes)
		}
		return err
	})
	if err != nil {
		return artifact.Header{}, s.fail(ctx, target, err)
	}
	if h.Kind != req.Kind || !strings.EqualFold(h.Database, req.Database) {
		return artifact.Header{}, fmt.Errorf("%s: the file's header describes a %s backup of %s", target, h.Kind, quoteIdent(h.Database))
	}
	return h, nil
}

// refuseOverwrite refuses a backup to a file or URL (any stripe) that
// already holds a backup, whole or one stripe of one (3132 alone).
func (s *session) refuseOverwrite(ctx context.Context, c *sql.Conn, d device, credential string) error {
	paths := d.stripes
	if len(paths) == 0 {
		paths = []string{d.path}
	}
	for _, p := range paths {
		one := deviceOf(p)
		old, _, err := s.headerOnly(ctx, c, one, credential)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %s holds a %s backup of %s (LSN %s to %s); drsctl never overwrites a backup file",
				fs.ErrExist, p, old.Kind, quoteIdent(old.Database), old.FirstLSN, old.LastLSN)
		case hasNumber(err, errStripeMissing):
			return fmt.Errorf("%w: %s holds one stripe of a striped backup; drsctl never overwrites a backup file", fs.ErrExist, p)
		case !hasNumber(err, errDeviceOpen):
			return err
		}
	}
	return nil
}

func backupStatement(req engine.BackupRequest, d device) string {
	stmt := "BACKUP DATABASE "
	if req.Kind == artifact.Log {
		stmt = "BACKUP LOG "
	}
	opts := []string{"CHECKSUM"}
	if req.Compression {
		opts = append(opts, "COMPRESSION")
	}
	opts = append(opts, "FORMAT")
	if d.url {
		opts = append(opts, urlBackupOptions(d, req.Credential)...)
	} else {
		opts = append(opts, "INIT")
	}
	if req.CopyOnly {
		opts = append(opts, "COPY_ONLY")
	}
	if req.NoRecovery {
		opts = append(opts, "NORECOVERY")
	}
	opts = append(opts, d.urlOptions(req.Credential, "BACKUP_OPTIONS")...)
	opts = append(opts, "STATS = 10")
	return stmt + quoteIdent(req.Database) + " TO " + d.clause() + " WITH " + strings.Join(opts, ", ")
}

// Describe reads a backup file's header: RESTORE HEADERONLY FROM DISK|URL = N'path'.
func (s *session) Describe(ctx context.Context, serverPath string) (artifact.Header, error) {
	d := deviceOf(serverPath)
	h, set, err := s.headerOnly(ctx, s.db, d, "")
	if err == nil {
		err = s.describeTimes(ctx, &h, set, d)
	}
	if err != nil {
		return artifact.Header{}, s.fail(ctx, "describe "+serverPath, err)
	}
	return h, nil
}

// describeTimes converts a described file's local dates to UTC: with the
// offset msdb recorded beside the backup set (on the server that took it,
// or one that restored it), else (no record, or 127) with today's offset,
// the only one left — off by the daylight saving change for a file written
// on the other side of one.
func (s *session) describeTimes(ctx context.Context, h *artifact.Header, set string, d device) error {
	start, finish, ok, err := msdbTimes(ctx, s.db, set, d.path, *h)
	if err != nil {
		return err
	}
	if ok {
		h.Start, h.Finish = start, finish
		return nil
	}
	offset, err := s.serverOffset(ctx)
	if err != nil {
		return err
	}
	h.Start, h.Finish = toUTC(h.Start, offset), toUTC(h.Finish, offset)
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// headerOnly runs RESTORE HEADERONLY and maps the first backup set's columns
// by name (the column set grows with versions). Start and Finish are left
// as the server's local wall clock (the caller converts them: times.go);
// set is the BackupSetGUID.
func (s *session) headerOnly(ctx context.Context, q queryer, d device, credential string) (h artifact.Header, set string, err error) {
	row, err := firstRow(ctx, q, infoStatement("HEADERONLY", d, credential))
	if err != nil {
		return h, "", err
	}
	if row == nil {
		return h, "", errors.New("RESTORE HEADERONLY returned no backup set")
	}
	h, err = row.header()
	return h, row.guid("BackupSetGUID"), err
}

// infoStatement is RESTORE HEADERONLY|FILELISTONLY FROM the device, with
// what a URL needs (credential, S3 region).
func infoStatement(what string, d device, credential string) string {
	stmt := "RESTORE " + what + " FROM " + d.clause()
	if opts := d.urlOptions(credential, "RESTORE_OPTIONS"); len(opts) > 0 {
		stmt += " WITH " + strings.Join(opts, ", ")
	}
	return stmt
}

// ---- result rows by column name ----

// namedRow is one result row, its values by lower-case column name.
type namedRow map[string]any

// firstRow runs a query and returns its first row (nil if none), reading
// the others to the end.
func firstRow(ctx context.Context, q queryer, stmt string, args ...any) (namedRow, error) {
	rows, err := allRows(ctx, q, stmt, args...)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

func allRows(ctx context.Context, q queryer, stmt string, args ...any) ([]namedRow, error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []namedRow
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := namedRow{}
		for i, c := range cols {
			r[strings.ToLower(c)] = vals[i]
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// header maps HEADERONLY's columns; Start and Finish stay local wall clock.
func (r namedRow) header() (artifact.Header, error) {
	var h artifact.Header
	switch t, _ := r.int("BackupType"); t {
	case 1:
		h.Kind = artifact.Full
	case 2:
		h.Kind = artifact.Log
	case 5:
		return h, errors.New("the file holds a differential backup, which drsctl does not use")
	default:
		return h, fmt.Errorf("the file holds a backup of type %d, which drsctl does not use", t)
	}
	h.Database = r.string("DatabaseName")
	var err error
	for _, f := range []struct {
		col string
		dst *artifact.LSN
	}{
		{"FirstLSN", &h.FirstLSN},
		{"LastLSN", &h.LastLSN},
		{"CheckpointLSN", &h.CheckpointLSN},
		{"DatabaseBackupLSN", &h.DatabaseBackupLSN},
	} {
		if *f.dst, err = r.lsn(f.col); err != nil {
			return h, err
		}
	}
	if h.FirstLSN.IsZero() || h.LastLSN.IsZero() {
		return h, errors.New("RESTORE HEADERONLY gave no FirstLSN or LastLSN")
	}
	h.Start = wallClock(r.time("BackupStartDate"))
	h.Finish = wallClock(r.time("BackupFinishDate"))
	h.CopyOnly = r.bool("IsCopyOnly")
	h.FamilyGUID = r.guid("FamilyGUID")
	return h, nil
}

func (r namedRow) string(col string) string {
	switch v := r[strings.ToLower(col)].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (r namedRow) int(col string) (int64, bool) {
	switch v := r[strings.ToLower(col)].(type) {
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case int16:
		return int64(v), true
	case int8:
		return int64(v), true
	case uint8:
		return int64(v), true
	case []byte:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// lsn reads a numeric(25,0) column (a decimal string from the driver,
// never an int64); NULL is the zero LSN.
func (r namedRow) lsn(col string) (artifact.LSN, error) {
	v := r[strings.ToLower(col)]
	if v == nil {
		return "", nil
	}
	l, err := artifact.ParseLSN(r.string(col))
	if err != nil {
		return "", fmt.Errorf("%s: %w", col, err)
	}
	return l, nil
}

func (r namedRow) time(col string) time.Time {
	t, _ := r[strings.ToLower(col)].(time.Time)
	return t
}

func (r namedRow) bool(col string) bool {
	switch v := r[strings.ToLower(col)].(type) {
	case bool:
		return v
	case int64:
		return v != 0
	}
	return false
}

func (r namedRow) guid(col string) string {
	switch v := r[strings.ToLower(col)].(type) {
	case []byte:
		var u mssql.UniqueIdentifier
		if err := u.Scan(v); err == nil {
			return u.String()
		}
	case string:
		return strings.ToUpper(v)
	}
	return ""
}

// hasNumber reports whether err carries SQL Server error number n.
func hasNumber(err error, n int32) bool {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Has(n)
	}
	var me mssql.Error
	if !errors.As(err, &me) {
		return false
	}
	if me.Number == n {
		return true
	}
	for _, e := range me.All {
		if e.Number == n {
			return true
		}
	}
	return false
}

// ---- devices ----

// device is where a backup is written or read, as the server sees it: a
// disk path, or a URL (https:// Azure Blob, s3:// S3-compatible storage).
type device struct {
	path string
	url  bool
	s3   bool
	// stripes are the URLs of a striped backup, path the first (stripes.go);
	// nil for one file.
	stripes []string
}

func deviceOf(path string) device {
	l := strings.ToLower(path)
	s3 := strings.HasPrefix(l, "s3://")
	return device{path: path, url: s3 || strings.HasPrefix(l, "https://"), s3: s3}
}

// clause is DISK = N'…' or URL = N'…'[, URL = N'…']… (every stripe).
func (d device) clause() string {
	if d.url {
		urls := []string{"URL = " + quoteString(d.path)}
		for _, u := range d.stripes[min(1, len(d.stripes)):] {
			urls = append(urls, "URL = "+quoteString(u))
		}
		return strings.Join(urls, ", ")
	}
	return "DISK = " + quoteString(d.path)
}

// urlOptions are the WITH options a URL device needs. SQL Server finds a
// credential named after the URL's container or bucket (SAS, S3 access
// key) by itself; any other credential name (a storage-account-key
// credential, for Azure page blobs) is passed as CREDENTIAL. An s3:// URL
// on an AWS regional endpoint gets its region through BACKUP_OPTIONS or
// RESTORE_OPTIONS (optionsName) — RESTORE HEADERONLY and FILELISTONLY
// included, which sign their requests too.
func (d device) urlOptions(credential, optionsName string) []string {
	if !d.url {
		return nil
	}
	var out []string
	if credential != "" && !credentialMatches(credential, d.path) {
		out = append(out, "CREDENTIAL = "+quoteString(credential))
	}
	if d.s3 && optionsName != "" {
		if region := s3Region(d.path); region != "" {
			out = append(out, optionsName+" = "+quoteString(`{"s3": {"region": "`+region+`"}}`))
		}
	}
	return out
}

// urlBackupOptions are a URL backup's transfer options. An Azure block blob
// (a SAS credential, found by the container's name) holds 50,000 blocks of
// MAXTRANSFERSIZE: 4 MB blocks (the largest) and a 64 KB BLOCKSIZE, as
// Microsoft recommends, make that ≈195 GB instead of ≈48 GB at the 1 MB
// default. A storage-account-key credential (CREDENTIAL =) writes a page
// blob, which takes neither. S3 keeps its 10 MB default part size
// (10,000 parts: ≈97 GB per URL); changing it would need COMPRESSION.
func urlBackupOptions(d device, credential string) []string {
	if d.s3 || (credential != "" && !credentialMatches(credential, d.path)) {
		return nil
	}
	return []string{"MAXTRANSFERSIZE = 4194304", "BLOCKSIZE = 65536"}
}

// credentialMatches reports whether a credential named name is the one SQL
// Server picks for path by itself (its name is a prefix of the URL).
func credentialMatches(name, path string) bool {
	n := strings.ToLower(strings.TrimRight(name, "/"))
	p := strings.ToLower(path)
	return strings.Contains(n, "://") && strings.HasPrefix(p, n+"/")
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// s3Region finds the AWS region in an s3:// URL's host
// (s3.us-east-1.amazonaws.com, bucket.s3.eu-west-3.amazonaws.com,
// s3-us-west-2.amazonaws.com, s3.dualstack.…); "" when there is none.
func s3Region(path string) string {
	u, err := url.Parse(path)
	if err != nil {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if !strings.HasSuffix(host, ".amazonaws.com") {
		return ""
	}
	labels := strings.Split(strings.TrimSuffix(host, ".amazonaws.com"), ".")
	for i, l := range labels {
		var cand string
		switch {
		case l == "s3" && i+1 < len(labels):
			cand = labels[i+1]
			if cand == "dualstack" && i+2 < len(labels) {
				cand = labels[i+2]
			}
		case strings.HasPrefix(l, "s3-"):
			cand = strings.TrimPrefix(l, "s3-")
		}
		if regionRE.MatchString(cand) {
			return cand
		}
	}
	return ""
}
