package sqlsim

import (
	"fmt"
	"strings"
)

// sqlMsg is one ERROR or INFO token's content.
type sqlMsg struct {
	Number int32
	State  uint8
	Class  uint8
	Text   string
	Line   int32
}

// sqlError is what a failing statement returns: the messages SQL Server
// sends, in order (the cause first, 3013 last for BACKUP/RESTORE).
type sqlError struct {
	msgs []sqlMsg
}

func (e *sqlError) Error() string {
	parts := make([]string, len(e.msgs))
	for i, m := range e.msgs {
		parts[i] = fmt.Sprintf("mssql %d: %s", m.Number, m.Text)
	}
	return strings.Join(parts, "; ")
}

func newErr(number int32, class uint8, format string, args ...any) *sqlError {
	return &sqlError{msgs: []sqlMsg{{Number: number, State: 1, Class: class, Text: fmt.Sprintf(format, args...)}}}
}

// then appends another message (typically 3013) after the cause.
func (e *sqlError) then(o *sqlError) *sqlError {
	return &sqlError{msgs: append(append([]sqlMsg(nil), e.msgs...), o.msgs...)}
}

// terminating appends SQL Server's closing 3013 for op ("BACKUP DATABASE",
// "RESTORE LOG", "VERIFY DATABASE", ...).
func (e *sqlError) terminating(op string) *sqlError {
	return e.then(errTerminating(op))
}

func info(number int32, class uint8, format string, args ...any) sqlMsg {
	return sqlMsg{Number: number, State: 1, Class: class, Text: fmt.Sprintf(format, args...)}
}

// SQL Server's own numbers and texts (sys.messages), with the parameters
// filled in as the server does.

func errSyntax(near string) *sqlError {
	return newErr(102, 15, "Incorrect syntax near '%s'.", near)
}

func errNotUnderstood(near, stmt string) *sqlError {
	return newErr(102, 15, "Incorrect syntax near '%s'. (sqlsim does not understand the statement: %s)", near, stmt)
}

func errUnclosedQuote(s string) *sqlError {
	return newErr(105, 15, "Unclosed quotation mark after the character string '%s'.", s)
}

func errUnsupported(format string, args ...any) *sqlError {
	return newErr(50000, 16, "sqlsim: "+format, args...)
}

func errNoProc(name string) *sqlError {
	return newErr(2812, 16, "Could not find stored procedure '%s'.", name)
}

func errInvalidObject(name string) *sqlError {
	return newErr(208, 16, "Invalid object name '%s'.", name)
}

func errInvalidColumn(name string) *sqlError {
	return newErr(207, 16, "Invalid column name '%s'.", name)
}

func errAmbiguousColumn(name string) *sqlError {
	return newErr(209, 16, "Ambiguous column name '%s'.", name)
}

func errMustDeclare(name string) *sqlError {
	return newErr(137, 15, "Must declare the scalar variable \"%s\".", name)
}

func errConversion(val, from, to string) *sqlError {
	return newErr(245, 16, "Conversion failed when converting the %s value '%s' to data type %s.", from, val, to)
}

func errDBNotExist(name string) *sqlError {
	return newErr(911, 16, "Database '%s' does not exist. Make sure that the name is entered correctly.", name)
}

func errDBRestoring(name string) *sqlError {
	return newErr(927, 14, "Database '%s' cannot be opened. It is in the middle of a restore.", name)
}

func errReadOnly(name string) *sqlError {
	return newErr(3906, 16, "Failed to update database \"%s\" because the database is read-only.", name)
}

func errDBExists(name string) *sqlError {
	return newErr(1801, 16, "Database '%s' already exists. Choose a different database name.", name)
}

func errCannotDrop(name string) *sqlError {
	return newErr(3701, 11, "Cannot drop the database '%s', because it does not exist or you do not have permission.", name)
}

func errDropInUse(name string) *sqlError {
	return newErr(3702, 16, "Cannot drop database \"%s\" because it is currently in use.", name)
}

func errWarmStandby(name string) *sqlError {
	return newErr(5063, 16, "Database '%s' is in warm standby. A warm-standby database is read-only.", name)
}

func errSystemDB(op, name string) *sqlError {
	return errUnsupported("%s of the system database '%s' is not supported", op, name)
}

func errTerminating(op string) *sqlError {
	return newErr(3013, 16, "%s is terminating abnormally.", op)
}

func errDeviceOpen(device string, oserr string) *sqlError {
	return newErr(3201, 16, "Cannot open backup device '%s'. Operating system error %s.", device, oserr)
}

func errDeviceWrite(device string, oserr string) *sqlError {
	return newErr(3202, 16, "Write on \"%s\" failed: %s", device, oserr)
}

func errMediaFamily(device string) *sqlError {
	return newErr(3241, 16, "The media family on device '%s' is incorrectly formed. SQL Server cannot process this media family.", device)
}

func errBackupLogSimple() *sqlError {
	return newErr(4208, 16, "The statement BACKUP LOG is not allowed while the recovery model is SIMPLE. Use BACKUP DATABASE or change the recovery model using ALTER DATABASE.")
}

func errNoCurrentBackup() *sqlError {
	return newErr(4214, 16, "BACKUP LOG cannot be performed because there is no current database backup.")
}

func errStandbyBackup(name string, id int) *sqlError {
	return newErr(3036, 16, "The database \"%s\" is in warm-standby state (set by executing RESTORE WITH STANDBY) and cannot be backed up until the entire restore sequence is completed.", name)
}

func errExclusive() *sqlError {
	return newErr(3101, 16, "Exclusive access could not be obtained because the database is in use.")
}

func errInUseBySelf(op, name string) *sqlError {
	return newErr(3102, 16, "%s cannot process database '%s' because it is in use by this session. It is recommended that the master database be used when performing this operation.", op, name)
}

func errNotReadyToRollforward() *sqlError {
	return newErr(3117, 16, "The log or differential backup cannot be restored because no files are ready to rollforward.")
}

func errInterruptedRestore(file string) *sqlError {
	return newErr(4319, 16, "A previous restore operation was interrupted and did not complete processing on file '%s'. Either restore the backup set that was interrupted or restart the restore sequence.", file)
}

func errLogNotRestored() *sqlError {
	return newErr(4333, 16, "The database cannot be recovered because the log was not restored.")
}

func errLogRestoreNoDB(name string) *sqlError {
	return newErr(3118, 16, "The database \"%s\" does not exist. RESTORE can only create a database when restoring either a full backup or a file backup of the primary file.", name)
}

func errWrongBackupKind(device, createdBy string) *sqlError {
	return newErr(3135, 16, "The backup set in file '%s' was created by %s and cannot be used for this restore operation.", device, createdBy)
}

func errAlreadyRecovered() *sqlError {
	return newErr(3153, 16, "The database is already fully recovered.")
}

func errOtherDatabase(name string) *sqlError {
	return newErr(3154, 16, "The backup set holds a backup of a database other than the existing '%s' database.", name)
}

func errTailNotBackedUp(name string) *sqlError {
	return newErr(3159, 16, "The tail of the log for the database \"%s\" has not been backed up. Use BACKUP LOG WITH NORECOVERY to backup the log if it contains work you do not want to lose. Use the WITH REPLACE or WITH STOPAT clause of the RESTORE statement to just overwrite the contents of the log.", name)
}

func errLogTooRecent(first, redo string) *sqlError {
	return newErr(4305, 16, "The log in this backup set begins at LSN %s, which is too recent to apply to the database. An earlier log backup that includes LSN %s can be restored.", first, redo)
}

func errLogTooEarly(last, redo string) *sqlError {
	return newErr(4326, 16, "The log in this backup set terminates at LSN %s, which is too early to apply to the database. A more recent log backup that includes LSN %s can be restored.", last, redo)
}

func errRecoveryPath() *sqlError {
	return newErr(4330, 16, "This backup set cannot be applied because it is on a recovery path that is inconsistent with the database. The recovery path is the sequence of data and log backups that have brought the database to a particular recovery point. Find a compatible backup to restore, or restore the rest of the database to match a recovery point within this backup set, which will restore the database to a different point in time. For more information about recovery paths, see SQL Server Books Online.")
}

func errLogicalFile(logical, db string) *sqlError {
	return newErr(3234, 16, "Logical file '%s' is not part of database '%s'. Use RESTORE FILELISTONLY to list the logical file names.", logical, db)
}

func errDirLookup(path, oserr string) *sqlError {
	return newErr(5133, 16, "Directory lookup for the file \"%s\" failed with the operating system error %s.", path, oserr)
}

func errFileInUse(path, db string) *sqlError {
	return newErr(1834, 16, "The file '%s' cannot be overwritten.  It is being used by database '%s'.", path, db)
}

func errCannotRestoreFile(logical, path string) *sqlError {
	return newErr(3156, 16, "File '%s' cannot be restored to '%s'. Use WITH MOVE to identify a valid location for the file.", logical, path)
}

func errRestorePlanning() *sqlError {
	return newErr(3119, 16, "Problems were identified while planning for the RESTORE statement. Previous messages provide details.")
}

func errStandbyFile(db string, id int, path, oserr string) *sqlError {
	return newErr(3441, 17, "During startup of warm standby database '%s' (database ID %d), its standby file ('%s') was inaccessible to the RESTORE statement. The operating system error was '%s'.", db, id, path, oserr)
}

func errFileID(n int64, device string) *sqlError {
	return newErr(4038, 16, "Cannot find file ID %d on device '%s'.", n, device)
}

func errKillSelf() *sqlError {
	return newErr(6104, 16, "Cannot use KILL to kill your own process.")
}

func errKillNoSession(spid int64) *sqlError {
	return newErr(6106, 16, "Process ID %d is not an active process ID.", spid)
}

func errTruncation(table, column, value string) *sqlError {
	return newErr(2628, 16, "String or binary data would be truncated in table '%s', column '%s'. Truncated value: '%s'.", table, column, value)
}

func errOverflow(typ string) *sqlError {
	return newErr(8115, 16, "Arithmetic overflow error converting expression to data type %s.", typ)
}

func errNullInsert(column, table string) *sqlError {
	return newErr(515, 16, "Cannot insert the value NULL into column '%s', table '%s'; column does not allow nulls. INSERT fails.", column, table)
}

func errInsertColumnCount() *sqlError {
	return newErr(110, 15, "There are fewer columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.")
}

func errLoginFailed(user string) *sqlError {
	return newErr(18456, 14, "Login failed for user '%s'.", user)
}

func errLoginDB(name string) *sqlError {
	return newErr(4060, 11, "Cannot open database \"%s\" requested by the login. The login failed.", name)
}
