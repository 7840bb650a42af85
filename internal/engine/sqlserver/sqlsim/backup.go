package sqlsim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// opts is a checked WITH clause.
type opts struct {
	flags map[string]bool
	vals  map[string]value
	moves []move
}

type move struct{ logical, physical string }

func (o *opts) has(name string) bool { return o.flags[name] }

// parseOpts evaluates a WITH clause, accepting only the named options.
// Each allowed entry is "NAME" (flag), "NAME=" (needs a value) or "NAME?"
// (value optional).
func (x *execCtx) parseOpts(list []option, allowed []string, stmtName string) (*opts, *sqlError) {
	o := &opts{flags: map[string]bool{}, vals: map[string]value{}}
	spec := map[string]byte{}
	for _, a := range allowed {
		switch {
		case strings.HasSuffix(a, "="):
			spec[strings.TrimSuffix(a, "=")] = '='
		case strings.HasSuffix(a, "?"):
			spec[strings.TrimSuffix(a, "?")] = '?'
		default:
			spec[a] = 0
		}
	}
	for _, op := range list {
		kind, ok := spec[op.name]
		if !ok {
			switch op.name {
			case "DIFFERENTIAL", "ENCRYPTION", "STOPAT", "STOPATMARK", "STOPBEFOREMARK", "PARTIAL", "FILESTREAM", "NO_TRUNCATE", "CONTINUE_AFTER_ERROR", "KEEP_REPLICATION", "KEEP_CDC", "ENABLE_BROKER", "NEW_BROKER", "ERROR_BROKER_CONVERSATIONS", "RESTRICTED_USER", "STANDBY", "NORECOVERY", "MOVE", "REPLACE", "COPY_ONLY":
				return nil, errUnsupported("%s WITH %s is not supported", stmtName, op.name)
			}
			return nil, errSyntax(op.name)
		}
		if op.name == "MOVE" {
			l, err := x.evalLocked(op.val)
			if err != nil {
				return nil, err
			}
			p, err := x.evalLocked(op.to)
			if err != nil {
				return nil, err
			}
			o.moves = append(o.moves, move{logical: toString(l), physical: toString(p)})
			o.flags["MOVE"] = true
			continue
		}
		if o.flags[op.name] {
			return nil, newErr(3032, 16, "One or more of the options (%s) are not supported for this statement, or are specified more than once.", strings.ToLower(op.name))
		}
		o.flags[op.name] = true
		switch {
		case op.val == nil && kind == '=':
			return nil, errSyntax(op.name)
		case op.val != nil && kind == 0:
			return nil, errSyntax("=")
		case op.val != nil:
			v, err := x.evalLocked(op.val)
			if err != nil {
				return nil, err
			}
			o.vals[op.name] = v
		}
	}
	return o, nil
}

// stats returns the progress percentages STATS asks for (nil without STATS).
func (o *opts) stats() []int {
	if !o.has("STATS") {
		return nil
	}
	step := 10
	if v, ok := o.vals["STATS"]; ok {
		step = int(toInt64(v))
	}
	if step <= 0 || step > 100 {
		step = 10
	}
	var out []int
	for p := step; p < 100; p += step {
		out = append(out, p)
	}
	return out
}

func (o *opts) str(name string) string {
	if v, ok := o.vals[name]; ok && !v.isNull() {
		return toString(v)
	}
	return ""
}

// progress emits the STATS steps below 100% (pausing StepDelay after each),
// and returns false when an attention signal stopped it.
func (x *execCtx) progress(percents []int) bool {
	srv := x.s.srv
	if !srv.hold(StallLongOps, x.s.gone) {
		x.s.takeAttn()
		return false
	}
	delay := srv.opts.StepDelay
	steps := len(percents)
	if steps == 0 && delay > 0 {
		steps = 10
	}
	for i := 0; i < steps; i++ {
		if i < len(percents) {
			x.emitInfo(info(3211, 10, "%d percent processed.", percents[i]))
			x.flushNow()
		}
		if delay > 0 && !x.s.sleep(delay) {
			x.s.takeAttn()
			return false
		}
		if !srv.hold(StallLongOps, x.s.gone) {
			x.s.takeAttn()
			return false
		}
	}
	return !x.s.takeAttn()
}

func (x *execCtx) finishMessages(op string, db string, h *bakHeader, files []dbFile, stats bool, start time.Time) {
	total := int64(0)
	for i, f := range files {
		if h.BackupType == 2 && f.Type != "L" {
			continue
		}
		n := int64(0)
		if i < len(h.Pages) {
			n = h.Pages[i]
		}
		total += n
		x.emitInfo(info(4035, 0, "Processed %d pages for database '%s', file '%s' on file 1.", n, db, f.Logical))
	}
	if stats {
		x.emitInfo(info(3211, 10, "100 percent processed."))
	}
	x.emitSuccess(op, total, start)
}

func (x *execCtx) emitSuccess(op string, pages int64, start time.Time) {
	secs := x.s.srv.clock().Sub(start).Seconds()
	if secs < 0.001 {
		secs = 0.001
	}
	mb := float64(pages) * 8192 / 1048576 / secs
	x.emitInfo(info(3014, 0, "%s successfully processed %d pages in %.3f seconds (%.3f MB/sec).", op, pages, secs, mb))
}

// ---- BACKUP ----

var backupOptions = []string{"CHECKSUM", "NO_CHECKSUM", "COMPRESSION", "NO_COMPRESSION", "FORMAT", "NOFORMAT",
	"INIT", "NOINIT", "SKIP", "NOSKIP", "STATS?", "COPY_ONLY", "NAME=", "DESCRIPTION=", "MEDIANAME=",
	"MEDIADESCRIPTION=", "BUFFERCOUNT=", "MAXTRANSFERSIZE=", "BLOCKSIZE=", "CREDENTIAL=", "BACKUP_OPTIONS=",
	"STOP_ON_ERROR", "REWIND", "NOREWIND", "UNLOAD", "NOUNLOAD", "RETAINDAYS=", "EXPIREDATE="}

func (x *execCtx) devicePath(d device) (string, *sqlError) {
	v, err := x.evalLocked(d.path)
	if err != nil {
		return "", err
	}
	if v.isNull() || !isStringKind(v.t.k) {
		return "", errSyntax(v.display())
	}
	return toString(v), nil
}

func (x *execCtx) execBackup(s *backupStmt) (result, *sqlError) {
	op := "BACKUP DATABASE"
	allowed := backupOptions
	if s.log {
		op = "BACKUP LOG"
		allowed = append(append([]string(nil), allowed...), "NORECOVERY")
	}
	start := x.s.srv.clock()
	name, err := x.nameArg(s.db)
	if err != nil {
		return result{}, err
	}
	path, err := x.devicePath(s.device)
	if err != nil {
		return result{}, err
	}
	o, err := x.parseOpts(s.opts, allowed, op)
	if err != nil {
		return result{}, err
	}
	if s.device.kind == "URL" {
		return x.execBackupURL(s, op, name, path, o, start)
	}
	srv := x.s.srv
	srv.mu.Lock()
	_, verr := x.checkBackup(s.log, name, path, o)
	if verr == nil {
		verr = x.denyBackup(s.log, name)
	}
	srv.mu.Unlock()
	if verr != nil {
		return result{}, verr.terminating(op)
	}
	if !x.progress(o.stats()) {
		return result{}, attnErr
	}

	srv.mu.Lock()
	d, verr := x.checkBackup(s.log, name, path, o)
	if verr != nil {
		srv.mu.Unlock()
		return result{}, verr.terminating(op)
	}
	h, files, berr := x.takeBackup(d, s.log, path, o, start, nil)
	srv.mu.Unlock()
	if berr != nil {
		return result{}, berr.terminating(op)
	}
	x.finishMessages(op, h.DatabaseName, h, files, o.has("STATS"), start)
	return result{}, nil
}

// checkBackup validates a BACKUP; callers hold srv.mu.
func (x *execCtx) checkBackup(log bool, name, path string, o *opts) (*database, *sqlError) {
	srv := x.s.srv
	if _, _, ok := systemDB(name); ok {
		return nil, errSystemDB("BACKUP", name)
	}
	d := srv.st.db(name)
	if d == nil {
		return nil, errDBNotExist(name)
	}
	if d.State == "RESTORING" {
		return nil, errDBRestoring(d.Name)
	}
	if d.Standby {
		return nil, errStandbyBackup(d.Name, d.ID)
	}
	if log {
		if d.Recovery == "SIMPLE" {
			return nil, errBackupLogSimple()
		}
		if d.ChainLSN == "" {
			return nil, errNoCurrentBackup()
		}
		if o.has("NORECOVERY") {
			if strings.EqualFold(x.s.curDB, d.Name) {
				return nil, errInUseBySelf("BACKUP LOG", d.Name)
			}
			if len(x.othersUsing(d.Name)) > 0 {
				return nil, errExclusive()
			}
		}
	}
	if path == "" {
		return d, nil // a URL: url.go checks it
	}
	if err := checkDir(path); err != nil {
		return nil, errDeviceOpen(path, "3(The system cannot find the path specified.)")
	}
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return nil, errDeviceOpen(path, "5(Access is denied.)")
		}
		if !o.has("INIT") && !o.has("FORMAT") {
			return nil, errUnsupported("backup device '%s' already holds a backup; appending a backup set (NOINIT) is not supported: use INIT or FORMAT", path)
		}
	}
	return d, nil
}

func pagesFor(rows int) int64 { return 328 + int64(rows)/40 }

// takeBackup writes the backup file (to disk at path, or with write when
// set) and records it; callers hold srv.mu.
func (x *execCtx) takeBackup(d *database, log bool, path string, o *opts, start time.Time, write func(*bakHeader, []byte) *sqlError) (*bakHeader, []dbFile, *sqlError) {
	srv := x.s.srv
	copyOnly := o.has("COPY_ONLY")
	h := &bakHeader{
		BackupName:           o.str("NAME"),
		BackupDescription:    o.str("DESCRIPTION"),
		UserName:             x.s.user,
		ServerName:           srv.opts.Name,
		MachineName:          srv.opts.Name,
		DatabaseName:         d.Name,
		DatabaseCreationDate: d.CreateDate,
		RecoveryModel:        d.Recovery,
		Compressed:           o.has("COMPRESSION"),
		HasBackupChecksums:   o.has("CHECKSUM"),
		IsCopyOnly:           copyOnly,
		BackupSetGUID:        newGUID(),
		FamilyGUID:           d.FamilyGUID,
		DatabaseGUID:         d.GUID,
		Forks:                append([]fork(nil), d.Forks...),
		Files:                append([]dbFile(nil), d.Files...),
		BackupStartDate:      roundDateTime(srv.local(start)),
		HeaderTimeZone:       srv.hdrZone,
		SoftwareVersionMajor: srv.opts.MajorVersion,
	}
	p := &bakPayload{}
	// Work out the LSNs without changing the database until the file is written.
	nextLSN := d.NextLSN
	var newChain, newFullCkpt string
	if !log {
		h.BackupType = 1
		ckpt := nextLSN // the backup's checkpoint is its first log record
		nextLSN = lsnAdd(nextLSN, 1)
		h.FirstLSN, h.CheckpointLSN, h.LastLSN = ckpt, ckpt, nextLSN
		if !copyOnly {
			// Once the data is copied, the backup commits the database's
			// new differential base and log archive point: log records
			// after its LastLSN, so the first log backup after a full
			// always ends after it (F.LastLSN < L.LastLSN), even on an
			// idle database. A COPY_ONLY backup changes neither.
			nextLSN = lsnAdd(nextLSN, 1)
		}
		h.DatabaseBackupLSN = d.LastFullCheckpoint
		if h.DatabaseBackupLSN == "" {
			h.DatabaseBackupLSN = "0"
		}
		newChain, newFullCkpt = d.ChainLSN, d.LastFullCheckpoint
		if !copyOnly {
			newFullCkpt = ckpt
			if d.Recovery != "SIMPLE" && d.ChainLSN == "" {
				newChain = ckpt
				h.BeginsLogChain = true
			}
		}
		p.Rows = cloneRows(d.Rows)
		h.Pages = []int64{pagesFor(len(d.Rows)), 2}
	} else {
		h.BackupType = 2
		// The log from the chain point to the current end of the log
		// (LastLSN is the next log record's LSN). A log backup writes no
		// record of its own: with nothing logged since the previous log
		// backup it is empty, FirstLSN = LastLSN = that backup's LastLSN.
		h.FirstLSN, h.LastLSN = d.ChainLSN, nextLSN
		h.CheckpointLSN = d.Checkpoint
		h.DatabaseBackupLSN = d.LastFullCheckpoint
		if h.DatabaseBackupLSN == "" {
			h.DatabaseBackupLSN = "0"
		}
		newChain, newFullCkpt = d.ChainLSN, d.LastFullCheckpoint
		if !copyOnly {
			newChain = h.LastLSN
		}
		for _, r := range d.Log {
			if lsnCmp(r.LSN, h.FirstLSN) >= 0 && lsnCmp(r.LSN, h.LastLSN) < 0 {
				p.Log = append(p.Log, r)
			}
		}
		// The log backup's file list is the database's files as of the
		// backup and those the log range removes (with their DropLSN).
		h.Files = append(h.Files, droppedIn(p.Log)...)
		h.IsForceOffline = o.has("NORECOVERY")
		h.Pages = []int64{0, 1 + int64(len(p.Log))/40 + 1}
	}
	cur := d.currentFork()
	h.RecoveryForkID = cur.ID
	first := forkAt(d.Forks, h.FirstLSN)
	h.FirstRecoveryForkID = first.ID
	if first.ID != cur.ID {
		h.ForkPointLSN = cur.StartLSN
	}
	finish := srv.clock()
	h.BackupFinishDate = roundDateTime(srv.local(finish))
	tz := srv.zoneQuarters(finish)
	h.TimeZone = &tz
	if h.BackupFinishDate.Before(h.BackupStartDate) {
		h.BackupFinishDate = h.BackupStartDate
	}
	total := int64(0)
	for _, n := range h.Pages {
		total += n
	}
	h.BackupSize = (total + 2) * 8192
	data, err := encodeBackup(h, p)
	if err != nil {
		return nil, nil, errUnsupported("encoding the backup: %v", err)
	}
	if write != nil {
		if err := write(h, data); err != nil {
			return nil, nil, err
		}
	}
	var werr error
	if write == nil {
		werr = srv.takeSpace(path, int64(len(data)))
	}
	if werr == nil && write == nil {
		if werr = writeFileAtomic(path, data); werr != nil {
			srv.takeSpace(path, -int64(len(data)))
		}
	}
	if werr != nil {
		var pe *fs.PathError
		if errors.As(werr, &pe) {
			werr = pe.Err
		}
		if errors.Is(werr, syscall.ENOSPC) {
			// The device opened; writing it ran out of space.
			return nil, nil, errDeviceWrite(path, osError(werr))
		}
		return nil, nil, errDeviceOpen(path, osError(werr))
	}

	// Commit.
	d.NextLSN = nextLSN
	if !log {
		d.Checkpoint = h.CheckpointLSN
	}
	d.ChainLSN, d.LastFullCheckpoint = newChain, newFullCkpt
	d.trimLog()
	if log && o.has("NORECOVERY") {
		d.State = "RESTORING"
		d.Standby, d.ReadOnly = false, false
		d.RedoLSN = h.LastLSN
	}
	compressed := int64(len(data))
	srv.recordBackup(h, path, compressed)
	srv.persist()
	srv.logf("sqlsim: %s of %q to %s: FirstLSN %s LastLSN %s", map[bool]string{false: "BACKUP DATABASE", true: "BACKUP LOG"}[log], d.Name, path, h.FirstLSN, h.LastLSN)
	return h, h.Files, nil
}

// recordBackup adds msdb.dbo.backupset and backupmediafamily rows for a
// backup taken or restored here; callers hold srv.mu.
func (srv *Server) recordBackup(h *bakHeader, path string, compressed int64) int {
	st := srv.st
	id, media := st.NextBackupSetID, st.NextMediaSetID
	st.NextBackupSetID++
	st.NextMediaSetID++
	typ := "D"
	if h.BackupType == 2 {
		typ = "L"
	}
	st.BackupSets = append(st.BackupSets, &backupSetRow{
		BackupSetID: id, BackupSetUUID: h.BackupSetGUID, MediaSetID: media,
		Name: h.BackupName, Description: h.BackupDescription, UserName: h.UserName,
		ServerName: h.ServerName, MachineName: h.MachineName, DatabaseName: h.DatabaseName,
		DatabaseCreateDate: h.DatabaseCreationDate, BackupStartDate: h.BackupStartDate,
		BackupFinishDate: h.BackupFinishDate, Type: typ, FirstLSN: h.FirstLSN, LastLSN: h.LastLSN,
		CheckpointLSN: h.CheckpointLSN, DatabaseBackupLSN: h.DatabaseBackupLSN,
		RecoveryModel: h.RecoveryModel, IsCopyOnly: h.IsCopyOnly, HasChecksums: h.HasBackupChecksums,
		BeginsLogChain: h.BeginsLogChain, FamilyGUID: h.FamilyGUID, DatabaseGUID: h.DatabaseGUID,
		FirstForkGUID: h.FirstRecoveryForkID, LastForkGUID: h.RecoveryForkID, ForkPointLSN: h.ForkPointLSN,
		BackupSize: h.BackupSize, CompressedSize: compressed, TimeZone: h.TimeZone,
	})
	st.MediaFamilies = append(st.MediaFamilies, &mediaFamilyRow{
		MediaSetID: media, FamilySequence: 1, MediaFamilyID: newGUID(), PhysicalDeviceName: path, DeviceType: 2,
	})
	return id
}

// ---- RESTORE ----

var restoreOptions = []string{"NORECOVERY", "RECOVERY", "STANDBY=", "MOVE", "REPLACE", "STATS?", "CHECKSUM", "STOPAT=",
	"NO_CHECKSUM", "FILE=", "BUFFERCOUNT=", "MAXTRANSFERSIZE=", "BLOCKSIZE=", "CREDENTIAL=", "RESTORE_OPTIONS=",
	"STOP_ON_ERROR", "REWIND", "NOREWIND", "UNLOAD", "NOUNLOAD", "LOADHISTORY", "RESTART"}

var restoreInfoOptions = []string{"FILE=", "CHECKSUM", "NO_CHECKSUM", "STATS?", "LOADHISTORY", "CREDENTIAL=",
	"RESTORE_OPTIONS=", "REWIND", "NOREWIND", "UNLOAD", "NOUNLOAD", "BUFFERCOUNT=", "MAXTRANSFERSIZE=", "BLOCKSIZE=",
	"STOP_ON_ERROR", "MEDIANAME=", "MEDIAPASSWORD=", "PASSWORD="}

func restoreOp(what string) string {
	switch what {
	case "VERIFYONLY":
		return "VERIFY DATABASE"
	case "FILELISTONLY":
		return "RESTORE FILELIST"
	case "HEADERONLY":
		return "RESTORE HEADERONLY"
	case "LABELONLY":
		return "RESTORE LABELONLY"
	case "LOG":
		return "RESTORE LOG"
	}
	return "RESTORE DATABASE"
}

func (x *execCtx) execRestore(s *restoreStmt) (result, *sqlError) {
	op := restoreOp(s.what)
	start := x.s.srv.clock()
	allowed := restoreOptions
	if s.device != nil && s.what != "DATABASE" && s.what != "LOG" {
		allowed = restoreInfoOptions
	}
	o, err := x.parseOpts(s.opts, allowed, "RESTORE "+s.what)
	if err != nil {
		return result{}, err
	}
	var path string
	if s.device != nil {
		path, err = x.devicePath(*s.device)
		if err != nil {
			return result{}, err
		}
		if v, ok := o.vals["FILE"]; ok && toInt64(v) != 1 {
			return result{}, errFileID(toInt64(v), path).terminating(op)
		}
	}
	if s.what != "DATABASE" && s.what != "LOG" {
		if perr := x.denyRestoreInfo(); perr != nil {
			return result{}, perr.terminating(op)
		}
	}
	switch s.what {
	case "HEADERONLY", "FILELISTONLY", "LABELONLY":
		h, _, rerr := x.readDevice(s.device, path, o, false)
		if rerr != nil {
			return result{}, rerr.terminating(op)
		}
		var cols []column
		var rows [][]value
		switch s.what {
		case "HEADERONLY":
			cols, rows = headerOnly(h, path, x.s.srv.opts.MajorVersion)
		case "FILELISTONLY":
			cols, rows = fileListOnly(h)
		default:
			cols, rows = labelOnly(h, path)
		}
		if err := x.emitResult(cols, rows); err != nil {
			return result{}, err
		}
		return result{cmd: cmdSelect, count: true, rows: uint64(len(rows))}, nil
	case "VERIFYONLY":
		h, _, rerr := x.readDevice(s.device, path, o, true)
		if rerr != nil {
			return result{}, rerr.terminating(op)
		}
		if o.has("CHECKSUM") && !h.HasBackupChecksums {
			return result{}, newErr(3187, 16, "RESTORE WITH CHECKSUM cannot be specified because the backup set does not contain checksum information.").terminating(op)
		}
		if !x.progress(o.stats()) {
			return result{}, attnErr
		}
		if o.has("STATS") {
			x.emitInfo(info(3211, 10, "100 percent processed."))
		}
		if o.has("LOADHISTORY") {
			// "LOADHISTORY … the restore operation loads the information
			// into the msdb history tables" (doc.go): a backupset row and a
			// restorehistory row of type V, which is no restore at all.
			srv := x.s.srv
			srv.mu.Lock()
			id := srv.recordBackup(h, path, h.BackupSize)
			srv.st.RestoreHistory = append(srv.st.RestoreHistory, &restoreHistRow{
				RestoreHistoryID: srv.st.NextRestoreHistoryID, RestoreDate: srv.now(), Destination: h.DatabaseName,
				UserName: x.s.user, BackupSetID: id, RestoreType: "V",
			})
			srv.st.NextRestoreHistoryID++
			srv.persist()
			srv.mu.Unlock()
		}
		x.emitInfo(info(3262, 0, "The backup set on file 1 is valid."))
		return result{}, nil
	}

	name, err := x.nameArg(s.db)
	if err != nil {
		return result{}, err
	}
	modes := 0
	for _, m := range []string{"RECOVERY", "NORECOVERY", "STANDBY"} {
		if o.has(m) {
			modes++
		}
	}
	if modes > 1 {
		return result{}, newErr(3032, 16, "One or more of the options (recovery, norecovery, standby) are not supported for this statement, or are mutually exclusive.").terminating(op)
	}
	srv := x.s.srv
	srv.mu.Lock()
	perr := x.denyRestore(name)
	srv.mu.Unlock()
	if perr != nil {
		return result{}, perr.terminating(op)
	}
	if s.device == nil {
		return x.recoverOnly(name, o, op, start)
	}
	if o.has("STOPAT") && s.what != "LOG" {
		// SQL Server also takes STOPAT on RESTORE DATABASE (to refuse a
		// full taken after the point); drsctl never sends it there.
		return result{}, errUnsupported("RESTORE DATABASE WITH STOPAT is not supported (only RESTORE LOG … FROM … WITH STOPAT)")
	}
	stop, serr := stopAtOf(o)
	if serr != nil {
		return result{}, serr.terminating(op)
	}
	h, p, rerr := x.readDevice(s.device, path, o, true)
	if rerr != nil {
		return result{}, rerr.terminating(op)
	}
	if s.what == "DATABASE" && h.BackupType != 1 {
		return result{}, errWrongBackupKind(path, "BACKUP LOG").terminating(op)
	}
	if s.what == "LOG" && h.BackupType != 2 {
		return result{}, errWrongBackupKind(path, "BACKUP DATABASE").terminating(op)
	}
	if o.has("CHECKSUM") && !h.HasBackupChecksums {
		return result{}, newErr(3187, 16, "RESTORE WITH CHECKSUM cannot be specified because the backup set does not contain checksum information.").terminating(op)
	}
	srv.mu.Lock()
	first, verr := x.checkRestore(s.what, name, h, o, stop)
	srv.mu.Unlock()
	if verr != nil {
		return result{}, verr.terminating(op)
	}
	if !x.progress(o.stats()) {
		if s.what == "DATABASE" {
			srv.mu.Lock()
			x.interruptRestore(first, h)
			srv.mu.Unlock()
		}
		return result{}, attnErr
	}
	srv.mu.Lock()
	pl, verr := x.checkRestore(s.what, name, h, o, stop)
	if verr == nil {
		verr = x.applyRestore(pl, h, p, path, o)
	}
	srv.mu.Unlock()
	if verr != nil {
		return result{}, verr.terminating(op)
	}
	if pl.notReached {
		x.emitInfo(info(4339, 10, "This log file contains records logged before the designated point-in-time. The database is being left in the Restoring state so you can apply another log file."))
	}
	x.finishMessages(op, pl.name, h, pl.files, o.has("STATS"), start)
	return result{}, nil
}

// restorePlan is what a validated RESTORE will do.
type restorePlan struct {
	what  string
	name  string    // target database name
	d     *database // nil: a new database
	files []dbFile
	added map[string]dbFile // RESTORE LOG: where the files the log creates go, by lower-case logical name
	undo  string
	// stop is the STOPAT point (zero: none); notReached is set when the
	// log ends before it, so the database stays RESTORING.
	stop       time.Time
	notReached bool
}

// stopAtOf reads STOPAT: a datetime, or a string in a form SQL Server
// converts whatever the session's language (ISO 8601), in server-local time.
func stopAtOf(o *opts) (time.Time, *sqlError) {
	v, ok := o.vals["STOPAT"]
	if !ok || v.isNull() {
		return time.Time{}, nil
	}
	if isTimeKind(v.t.k) {
		return v.instant(), nil
	}
	if !isStringKind(v.t.k) {
		return time.Time{}, newErr(206, 16, "Operand type clash: %s is incompatible with datetime", v.t)
	}
	t, err := parseDateString(toString(v))
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
}

// exclusive checks that no session uses the database (RESTORE needs it
// alone); callers hold srv.mu.
func (x *execCtx) exclusive(d *database) *sqlError {
	if strings.EqualFold(x.s.curDB, d.Name) {
		return errInUseBySelf("RESTORE", d.Name)
	}
	if len(x.othersUsing(d.Name)) > 0 {
		return errExclusive()
	}
	return nil
}

// checkRestore validates a RESTORE DATABASE|LOG FROM; callers hold srv.mu.
func (x *execCtx) checkRestore(what, name string, h *bakHeader, o *opts, stop time.Time) (*restorePlan, *sqlError) {
	srv := x.s.srv
	if _, _, ok := systemDB(name); ok {
		return nil, errSystemDB("RESTORE", name)
	}
	pl := &restorePlan{what: what, name: name, undo: o.str("STANDBY"), stop: stop}
	d := srv.st.db(name)
	pl.d = d
	if err := srv.checkVersion(h, d, what, pl.undo != ""); err != nil {
		return nil, err
	}
	if what == "LOG" {
		if d == nil {
			return nil, errLogRestoreNoDB(name)
		}
		pl.name = d.Name
		if d.Interrupted != "" {
			return nil, errInterruptedRestore(d.primaryFile())
		}
		if d.State != "RESTORING" && !d.Standby {
			return nil, errNotReadyToRollforward()
		}
		if err := x.exclusive(d); err != nil {
			return nil, err
		}
		if err := checkPath(d, h); err != nil {
			return nil, err
		}
		if lsnCmp(h.FirstLSN, d.RedoLSN) > 0 {
			return nil, errLogTooRecent(h.FirstLSN, d.RedoLSN)
		}
		if lsnCmp(h.LastLSN, d.RedoLSN) <= 0 {
			return nil, errLogTooEarly(h.LastLSN, d.RedoLSN)
		}
		if !stop.IsZero() && !d.RedoTime.IsZero() && stop.Before(d.RedoTime) {
			return nil, newErr(4335, 16, "The specified STOPAT time is too early. All or part of the database is already rolled forward beyond that point.")
		}
		added, err := x.planLogFiles(d, h, o)
		if err != nil {
			return nil, err
		}
		pl.files, pl.added = d.Files, added
	} else {
		if d != nil {
			pl.name = d.Name
			if err := x.exclusive(d); err != nil {
				return nil, err
			}
			if d.Interrupted != "" && d.Interrupted != h.BackupSetGUID && !o.has("REPLACE") {
				// Another backup set than the one interrupted: only a new
				// restore sequence (REPLACE) may begin over it.
				return nil, errInterruptedRestore(d.primaryFile())
			}
			if !o.has("REPLACE") {
				if d.FamilyGUID != h.FamilyGUID || !strings.EqualFold(d.Name, h.DatabaseName) {
					return nil, errOtherDatabase(d.Name)
				}
				if d.State == "ONLINE" && !d.Standby && d.Recovery != "SIMPLE" {
					return nil, errTailNotBackedUp(d.Name)
				}
			}
		}
		files, err := x.planFiles(pl.name, d, h, o)
		if err != nil {
			return nil, err
		}
		pl.files = files
	}
	if pl.undo != "" {
		if err := checkDir(pl.undo); err != nil {
			id := 0
			if d != nil {
				id = d.ID
			} else {
				id = srv.st.NextDatabaseID
			}
			return nil, errStandbyFile(pl.name, id, pl.undo, osError(err))
		}
	}
	return pl, nil
}

// checkPath refuses a log backup that is not on the database's recovery
// path: another database (family), or a fork the database did not follow.
func checkPath(d *database, h *bakHeader) *sqlError {
	if d.FamilyGUID != h.FamilyGUID {
		return errRecoveryPath()
	}
	cur := d.currentFork()
	for i, f := range h.Forks {
		if f.ID != cur.ID {
			continue
		}
		if i == len(h.Forks)-1 {
			return nil
		}
		// The backup continues on a later fork: the database must not
		// have gone past the point where that fork began.
		if lsnCmp(d.RedoLSN, h.Forks[i+1].StartLSN) <= 0 {
			return nil
		}
		return errRecoveryPath()
	}
	return errRecoveryPath()
}

// planFiles works out where each file of a full backup goes (MOVE), with
// SQL Server's planning errors; callers hold srv.mu.
func (x *execCtx) planFiles(target string, d *database, h *bakHeader, o *opts) ([]dbFile, *sqlError) {
	files := append([]dbFile(nil), h.Files...)
	for _, m := range o.moves {
		found := false
		for i := range files {
			if strings.EqualFold(files[i].Logical, m.logical) {
				files[i].Physical = m.physical
				found = true
			}
		}
		if !found {
			return nil, errLogicalFile(m.logical, h.DatabaseName).then(errRestorePlanning())
		}
	}
	var problems *sqlError
	add := func(e *sqlError) {
		if problems == nil {
			problems = e
		} else {
			problems = problems.then(e)
		}
	}
	for _, f := range files {
		if err := checkDir(f.Physical); err != nil {
			add(errDirLookup(f.Physical, osError(err)))
			add(errCannotRestoreFile(f.Logical, f.Physical))
			continue
		}
		for _, other := range x.s.srv.st.Databases {
			if other == d {
				continue
			}
			for _, of := range other.Files {
				if samePath(of.Physical, f.Physical) {
					add(errFileInUse(f.Physical, other.Name))
					add(errCannotRestoreFile(f.Logical, f.Physical))
				}
			}
		}
	}
	if problems != nil {
		return nil, problems.then(errRestorePlanning())
	}
	return files, nil
}

func samePath(a, b string) bool {
	return strings.EqualFold(filepath.Clean(a), filepath.Clean(b))
}

// applyRestore changes the database; callers hold srv.mu.
func (x *execCtx) applyRestore(pl *restorePlan, h *bakHeader, p *bakPayload, path string, o *opts) *sqlError {
	srv := x.s.srv
	d := pl.d
	if pl.undo != "" {
		if err := writeUndoFile(pl.undo, pl.name, h); err != nil {
			id := srv.st.NextDatabaseID
			if d != nil {
				id = d.ID
			}
			return errStandbyFile(pl.name, id, pl.undo, osError(err))
		}
	}
	now := srv.now()
	if pl.what == "DATABASE" {
		if d == nil {
			d = &database{Name: pl.name, ID: srv.st.NextDatabaseID, Owner: x.s.who.ownerName()}
			srv.st.NextDatabaseID++
			srv.st.Databases = append(srv.st.Databases, d)
		}
		d.Recovery = h.RecoveryModel
		d.CreateDate = now
		d.GUID = newGUID()
		d.FamilyGUID = h.FamilyGUID
		d.Forks = append([]fork(nil), h.Forks...)
		d.Files = pl.files
		d.Rows = cloneRows(p.Rows)
		d.Log = nil
		d.NextLSN = h.LastLSN
		d.Checkpoint = h.CheckpointLSN
		d.ChainLSN = ""
		d.LastFullCheckpoint = h.CheckpointLSN
		d.RedoLSN = h.LastLSN
		d.RedoTime = h.BackupFinishDate
		d.Interrupted = ""
		d.UpgradeFrom = 0
		if m := backupMajor(h); m < srv.opts.MajorVersion {
			d.UpgradeFrom = m
		}
	} else {
		// STOPAT: records written up to the point are applied, and the
		// restore stops before the first one written after it.
		end := h.LastLSN
		for _, r := range p.Log {
			if lsnCmp(r.LSN, d.RedoLSN) < 0 || lsnCmp(r.LSN, h.LastLSN) >= 0 {
				continue
			}
			if !pl.stop.IsZero() && r.Time.After(pl.stop) {
				end = r.LSN
				break
			}
			if r.File != nil {
				applyFileRec(d, r.File, pl.added)
				continue
			}
			d.Rows = append(d.Rows, r.Row)
		}
		d.RedoTime = h.BackupFinishDate
		switch {
		case pl.stop.IsZero():
		case end != h.LastLSN:
			d.RedoTime = pl.stop
		case pl.stop.After(h.BackupFinishDate):
			// The log ends before the point: everything is applied and
			// the database waits for the next log, whatever was asked.
			pl.notReached = true
		default:
			d.RedoTime = pl.stop
		}
		d.RedoLSN = end
		d.NextLSN = end
		d.Checkpoint = h.CheckpointLSN
		if lsnCmp(h.DatabaseBackupLSN, "0") > 0 {
			d.LastFullCheckpoint = h.DatabaseBackupLSN
		}
		if len(h.Forks) > 0 && h.Forks[len(h.Forks)-1].ID != d.currentFork().ID {
			d.Forks = append([]fork(nil), h.Forks...)
		}
	}
	// The restored database's user access comes with it (readers.go).
	d.UserAccess = ""
	switch {
	case o.has("NORECOVERY"), pl.notReached:
		d.State, d.Standby, d.ReadOnly, d.UndoFile = "RESTORING", false, false, ""
	case pl.undo != "":
		d.State, d.Standby, d.ReadOnly, d.UndoFile = "ONLINE", true, true, pl.undo
	default:
		recoverDB(d)
	}
	backupSetID := srv.recordBackup(h, path, h.BackupSize)
	typ := "D"
	if pl.what == "LOG" {
		typ = "L"
	}
	srv.st.RestoreHistory = append(srv.st.RestoreHistory, &restoreHistRow{
		RestoreHistoryID: srv.st.NextRestoreHistoryID, RestoreDate: now, Destination: d.Name,
		UserName: x.s.user, BackupSetID: backupSetID, RestoreType: typ, Replace: o.has("REPLACE"),
		Recovery: d.State == "ONLINE" && !d.Standby, StopAt: pl.stop,
	})
	srv.st.NextRestoreHistoryID++
	srv.persist()
	srv.logf("sqlsim: RESTORE %s %q from %s (FirstLSN %s LastLSN %s): %s", pl.what, d.Name, path, h.FirstLSN, h.LastLSN, describeState(d))
	return nil
}

func describeState(d *database) string {
	if d.Standby {
		return "STANDBY"
	}
	return d.State
}

// recoverDB brings a restored database online: a new recovery fork begins
// where the restores stopped, and the log chain continues from there.
func recoverDB(d *database) {
	redo := d.RedoLSN
	if redo == "" {
		redo = d.NextLSN
	}
	d.State, d.Standby, d.ReadOnly, d.UndoFile = "ONLINE", false, false, ""
	d.Forks = append(d.Forks, fork{ID: newGUID(), StartLSN: redo})
	d.NextLSN = redo
	d.takeLSN() // the end-of-recovery record
	d.Checkpoint = redo
	if d.Recovery != "SIMPLE" {
		d.ChainLSN = redo
	} else {
		d.ChainLSN = ""
	}
	d.Log = nil
	d.RedoLSN = ""
	d.RedoTime = time.Time{}
	d.UpgradeFrom = 0 // recovery upgraded it
}

func writeUndoFile(path, db string, h *bakHeader) error {
	content := fmt.Sprintf("sqlsim standby undo file\ndatabase: %s\nredo_lsn: %s\n", db, h.LastLSN)
	return writeFileAtomic(path, []byte(content))
}

// recoverOnly is RESTORE DATABASE|LOG [x] WITH RECOVERY | STANDBY |
// NORECOVERY (no FROM). NORECOVERY takes a STANDBY database back to
// RESTORING (its undo file applied), as before a log restore; readers.go.
func (x *execCtx) recoverOnly(name string, o *opts, op string, start time.Time) (result, *sqlError) {
	if o.has("MOVE") || (o.has("NORECOVERY") && (o.has("STANDBY") || o.has("RECOVERY"))) {
		return result{}, errUnsupported("RESTORE without FROM only supports WITH RECOVERY, STANDBY or NORECOVERY").terminating(op)
	}
	srv := x.s.srv
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if _, _, ok := systemDB(name); ok {
		return result{}, errSystemDB("RESTORE", name).terminating(op)
	}
	d := srv.st.db(name)
	if d == nil {
		return result{}, errDBNotExist(name).terminating(op)
	}
	if d.State == "ONLINE" && !d.Standby {
		return result{}, errAlreadyRecovered().terminating(op)
	}
	if d.Interrupted != "" {
		return result{}, errLogNotRestored().terminating(op)
	}
	if err := x.exclusive(d); err != nil {
		return result{}, err.terminating(op)
	}
	if o.has("NORECOVERY") {
		d.State, d.Standby, d.ReadOnly, d.UndoFile = "RESTORING", false, false, ""
	} else if undo := o.str("STANDBY"); undo != "" {
		if d.UpgradeFrom != 0 {
			return result{}, errStandbyUpgrade().terminating(op)
		}
		if err := writeUndoFile(undo, d.Name, &bakHeader{LastLSN: d.RedoLSN}); err != nil {
			return result{}, errStandbyFile(d.Name, d.ID, undo, osError(err)).terminating(op)
		}
		d.State, d.Standby, d.ReadOnly, d.UndoFile = "ONLINE", true, true, undo
	} else {
		recoverDB(d)
	}
	srv.persist()
	srv.logf("sqlsim: %q recovered: %s", d.Name, describeState(d))
	x.emitSuccess(op, 0, start)
	return result{}, nil
}

// ---- HEADERONLY, FILELISTONLY, LABELONLY ----

func optStrVal(s string, t sqlType) value {
	if s == "" {
		return null(t)
	}
	return value{t: t, v: s}
}

func headerOnly(h *bakHeader, path string, major int) ([]column, [][]value) {
	typeDesc := "Database"
	if h.BackupType == 2 {
		typeDesc = "Transaction Log"
	}
	flags := int64(512) // has checksums flag set below
	if !h.HasBackupChecksums {
		flags = 0
	}
	if h.IsCopyOnly {
		flags |= 1024
	}
	compressedSize := h.BackupSize
	if h.Compressed {
		compressedSize = h.BackupSize / 4
	}
	fp := null(tLSN)
	if h.ForkPointLSN != "" {
		fp = lsnVal(h.ForkPointLSN)
	}
	defs := []struct {
		c column
		v value
	}{
		{col("BackupName", tNVarChar(128), true), optStrVal(h.BackupName, tNVarChar(128))},
		{col("BackupDescription", tNVarChar(255), true), optStrVal(h.BackupDescription, tNVarChar(255))},
		{col("BackupType", tSmallInt, true), value{t: tSmallInt, v: int64(h.BackupType)}},
		{col("ExpirationDate", tDateTime, true), null(tDateTime)},
		{col("Compressed", tBit, true), bitVal(h.Compressed)},
		{col("Position", tSmallInt, true), value{t: tSmallInt, v: int64(1)}},
		{col("DeviceType", tTinyInt, true), value{t: tTinyInt, v: int64(2)}},
		{col("UserName", tNVarChar(128), true), strVal(h.UserName)},
		{col("ServerName", tNVarChar(128), true), strVal(h.ServerName)},
		{col("DatabaseName", tNVarChar(128), true), strVal(h.DatabaseName)},
		{col("DatabaseVersion", tInt, true), intVal(int64(versionOf(backupMajor(h)).database))},
		{col("DatabaseCreationDate", tDateTime, true), timeVal(h.DatabaseCreationDate)},
		{col("BackupSize", tNum20, true), numVal(h.BackupSize)},
		{col("FirstLSN", tLSN, true), lsnVal(h.FirstLSN)},
		{col("LastLSN", tLSN, true), lsnVal(h.LastLSN)},
		{col("CheckpointLSN", tLSN, true), lsnVal(h.CheckpointLSN)},
		{col("DatabaseBackupLSN", tLSN, true), lsnVal(h.DatabaseBackupLSN)},
		{col("BackupStartDate", tDateTime, true), timeVal(h.BackupStartDate)},
		{col("BackupFinishDate", tDateTime, true), timeVal(h.BackupFinishDate)},
		{col("SortOrder", tSmallInt, true), value{t: tSmallInt, v: int64(52)}},
		{col("CodePage", tSmallInt, true), value{t: tSmallInt, v: int64(1252)}},
		{col("UnicodeLocaleId", tInt, true), intVal(1033)},
		{col("UnicodeComparisonStyle", tInt, true), intVal(196609)},
		{col("CompatibilityLevel", tTinyInt, true), value{t: tTinyInt, v: int64(backupMajor(h) * 10)}},
		{col("SoftwareVendorId", tInt, true), intVal(4608)},
		{col("SoftwareVersionMajor", tInt, true), intVal(int64(backupMajor(h)))},
		{col("SoftwareVersionMinor", tInt, true), intVal(0)},
		{col("SoftwareVersionBuild", tInt, true), intVal(int64(versionOf(backupMajor(h)).build))},
		{col("MachineName", tNVarChar(128), true), strVal(h.MachineName)},
		{col("Flags", tInt, true), intVal(flags)},
		{col("BindingID", tGUID, true), guidVal(h.DatabaseGUID)},
		{col("RecoveryForkID", tGUID, true), guidVal(h.RecoveryForkID)},
		{col("Collation", tNVarChar(128), true), strVal("SQL_Latin1_General_CP1_CI_AS")},
		{col("FamilyGUID", tGUID, true), guidVal(h.FamilyGUID)},
		{col("HasBulkLoggedData", tBit, true), bitVal(false)},
		{col("IsSnapshot", tBit, true), bitVal(false)},
		{col("IsReadOnly", tBit, true), bitVal(false)},
		{col("IsSingleUser", tBit, true), bitVal(false)},
		{col("HasBackupChecksums", tBit, true), bitVal(h.HasBackupChecksums)},
		{col("IsDamaged", tBit, true), bitVal(false)},
		{col("BeginsLogChain", tBit, true), bitVal(h.BeginsLogChain)},
		{col("HasIncompleteMetaData", tBit, true), bitVal(false)},
		{col("IsForceOffline", tBit, true), bitVal(h.IsForceOffline)},
		{col("IsCopyOnly", tBit, true), bitVal(h.IsCopyOnly)},
		{col("FirstRecoveryForkID", tGUID, true), guidVal(h.FirstRecoveryForkID)},
		{col("ForkPointLSN", tLSN, true), fp},
		{col("RecoveryModel", tNVarChar(60), true), strVal(h.RecoveryModel)},
		{col("DifferentialBaseLSN", tLSN, true), null(tLSN)},
		{col("DifferentialBaseGUID", tGUID, true), null(tGUID)},
		{col("BackupTypeDescription", tNVarChar(60), true), strVal(typeDesc)},
		{col("BackupSetGUID", tGUID, true), guidVal(h.BackupSetGUID)},
		{col("CompressedBackupSize", tBigInt, true), value{t: tBigInt, v: compressedSize}},
		{col("Containment", tTinyInt, true), value{t: tTinyInt, v: int64(0)}},
		{col("KeyAlgorithm", tNVarChar(32), true), null(tNVarChar(32))},
		{col("EncryptorThumbprint", sqlType{k: kVarBinary, size: 20}, true), null(sqlType{k: kVarBinary, size: 20})},
		{col("EncryptorType", tNVarChar(32), true), null(tNVarChar(32))},
		{col("LastValidRestoreTime", tDateTime, true), null(tDateTime)},
		{col("TimeZone", tNVarChar(32), true), optStrVal(h.HeaderTimeZone, tNVarChar(32))},
		{col("CompressionAlgorithm", tNVarChar(32), true), optStrVal(map[bool]string{true: "MS_XPRESS"}[h.Compressed], tNVarChar(32))},
	}
	var cols []column
	var row []value
	for _, d := range defs {
		if d.c.name == "TimeZone" && major < 16 {
			continue // SQL Server 2022 and later only
		}
		cols, row = append(cols, d.c), append(row, d.v)
	}
	_ = path
	return cols, [][]value{row}
}

func fileListOnly(h *bakHeader) ([]column, [][]value) {
	cols := []column{
		col("LogicalName", tNVarChar(128), true),
		col("PhysicalName", tNVarChar(260), true),
		col("Type", tChar1, true),
		col("FileGroupName", tNVarChar(128), true),
		col("Size", tNum20, true),
		col("MaxSize", tNum20, true),
		col("FileID", tBigInt, true),
		col("CreateLSN", tLSN, true),
		col("DropLSN", tLSN, true),
		col("UniqueID", tGUID, true),
		col("ReadOnlyLSN", tLSN, true),
		col("ReadWriteLSN", tLSN, true),
		col("BackupSizeInBytes", tBigInt, true),
		col("SourceBlockSize", tInt, true),
		col("FileGroupID", tInt, true),
		col("LogGroupGUID", tGUID, true),
		col("DifferentialBaseLSN", tLSN, true),
		col("DifferentialBaseGUID", tGUID, true),
		col("IsReadOnly", tBit, true),
		col("IsPresent", tBit, true),
		col("TDEThumbprint", sqlType{k: kVarBinary, size: 32}, true),
		col("SnapshotURL", tNVarChar(360), true),
	}
	var rows [][]value
	for i, f := range h.Files {
		fg := optStrVal(f.FileGroup, tNVarChar(128))
		fgID := int64(1)
		if f.Type == "L" {
			fgID = 0
		}
		pages := int64(0)
		if i < len(h.Pages) {
			pages = h.Pages[i]
		}
		rows = append(rows, []value{
			strVal(f.Logical), {t: tNVarChar(260), v: f.Physical}, {t: tChar1, v: f.Type}, fg,
			numVal(f.Size), numVal(2199023255552), {t: tBigInt, v: int64(f.FileID)}, lsnVal(orZero(f.CreateLSN)), optLSN(f.DropLSN),
			null(tGUID), null(tLSN), null(tLSN), {t: tBigInt, v: pages * 8192}, intVal(4096), intVal(fgID),
			null(tGUID), null(tLSN), null(tGUID), bitVal(false), bitVal(true),
			null(sqlType{k: kVarBinary, size: 32}), null(tNVarChar(360)),
		})
	}
	return cols, rows
}

func labelOnly(h *bakHeader, path string) ([]column, [][]value) {
	cols := []column{
		col("MediaName", tNVarChar(128), true),
		col("MediaSetId", tGUID, true),
		col("FamilyCount", tInt, true),
		col("FamilySequenceNumber", tInt, true),
		col("MediaFamilyId", tGUID, true),
		col("MediaSequenceNumber", tInt, true),
		col("MediaLabelPresent", tTinyInt, true),
		col("MediaDescription", tNVarChar(255), true),
		col("SoftwareName", tNVarChar(128), true),
		col("SoftwareVendorId", tInt, true),
		col("MediaDate", tDateTime, true),
		col("MirrorCount", tInt, true),
		col("IsCompressed", tBit, true),
	}
	_ = path
	return cols, [][]value{{
		null(tNVarChar(128)), guidVal(h.BackupSetGUID), intVal(1), intVal(1), guidVal(h.BackupSetGUID), intVal(1),
		{t: tTinyInt, v: int64(0)}, null(tNVarChar(255)), strVal("Microsoft SQL Server"), intVal(4608),
		timeVal(h.BackupStartDate), intVal(1), bitVal(h.Compressed),
	}}
}

// interruptRestore leaves what an interrupted RESTORE DATABASE leaves: the
// database (created, or the one REPLACE was overwriting) RESTORING with the
// backup's files, no data and nothing to roll forward (redo_start_lsn
// NULL), and no msdb history; callers hold srv.mu.
func (x *execCtx) interruptRestore(pl *restorePlan, h *bakHeader) {
	srv := x.s.srv
	d := srv.st.db(pl.name)
	if d == nil {
		d = &database{Name: pl.name, ID: srv.st.NextDatabaseID, Owner: x.s.who.ownerName()}
		srv.st.NextDatabaseID++
		srv.st.Databases = append(srv.st.Databases, d)
	}
	*d = database{Name: d.Name, ID: d.ID, Owner: d.Owner, State: "RESTORING", Recovery: h.RecoveryModel, CreateDate: srv.now(),
		GUID: newGUID(), FamilyGUID: h.FamilyGUID, Forks: append([]fork(nil), h.Forks...), Files: pl.files,
		NextLSN: h.FirstLSN, Interrupted: h.BackupSetGUID}
	srv.persist()
	srv.logf("sqlsim: RESTORE DATABASE %q from backup set %s interrupted: RESTORING, nothing to roll forward", d.Name, h.BackupSetGUID)
}

// primaryFile is the logical name of the database's first data file.
func (d *database) primaryFile() string {
	for _, f := range d.Files {
		if f.Type == "D" {
			return f.Logical
		}
	}
	return d.Name
}
