// Package enginetest is an in-memory engine.Driver for tests of drsctl's
// core (planner, apply, observe). Servers are named by "mem://NAME". It
// writes real backup files (JSON) at the paths it is given, so the storage
// side of apply (checksums, shipping) is exercised for real, and Describe
// reads them back.
//
// It is not SQL Server: there is no T-SQL and no TDS (the sqlserver engine
// is tested against the TDS simulator in internal/engine/sqlserver/sqlsim).
// But a double is only worth what it refuses, so every rule below follows
// SQL Server's documented behaviour, and the error texts carry SQL Server's
// error numbers. Where Microsoft's documentation is silent, the double takes
// the stricter reading and says so ("stricter reading" below).
//
// # Sources
//
//	[BACKUP]     BACKUP (Transact-SQL)
//	             https://learn.microsoft.com/en-us/sql/t-sql/statements/backup-transact-sql
//	[RESTORE]    RESTORE Statements (Transact-SQL), sections "REPLACE option impact" and "Redo a restore"
//	             https://learn.microsoft.com/en-us/sql/t-sql/statements/restore-statements-transact-sql
//	[RESTARGS]   RESTORE Statements - Arguments (Transact-SQL) (NORECOVERY, STANDBY, RECOVERY, REPLACE)
//	             https://learn.microsoft.com/en-us/sql/t-sql/statements/restore-statements-arguments-transact-sql
//	[LOGBACKUPS] Transaction log backups (SQL Server)
//	             https://learn.microsoft.com/en-us/sql/relational-databases/backup-restore/transaction-log-backups-sql-server
//	[APPLYLOG]   Apply transaction log backups (SQL Server)
//	             https://learn.microsoft.com/en-us/sql/relational-databases/backup-restore/apply-transaction-log-backups-sql-server
//	[PATHS]      Recovery Paths (SQL Server 2008 Books Online; the fork model is unchanged since)
//	             https://learn.microsoft.com/en-us/previous-versions/sql/sql-server-2008/ms175078(v=sql.100)
//	[COPYONLY]   Copy-only backups (SQL Server)
//	             https://learn.microsoft.com/en-us/sql/relational-databases/backup-restore/copy-only-backups-sql-server
//	[TAIL]       Tail-log backups (SQL Server)
//	             https://learn.microsoft.com/en-us/sql/relational-databases/backup-restore/tail-log-backups-sql-server
//	[COPYDB]     Copy databases with backup and restore
//	             https://learn.microsoft.com/en-us/sql/relational-databases/databases/copy-databases-with-backup-and-restore
//	[BACKUPSET]  backupset (Transact-SQL): first_lsn, last_lsn ("the next log record after the backup set"),
//	             database_backup_lsn, first/last_recovery_fork_guid, fork_point_lsn
//	             https://learn.microsoft.com/en-us/sql/relational-databases/system-tables/backupset-transact-sql
//	[HEADERONLY] RESTORE HEADERONLY (Transact-SQL)
//	             https://learn.microsoft.com/en-us/sql/t-sql/statements/restore-statements-headeronly-transact-sql
//	[HISTORY]    Backup history and header information ("When a restore is performed, backup history
//	             tables and restore history tables are modified.")
//	             https://learn.microsoft.com/en-us/sql/relational-databases/backup-restore/backup-history-and-header-information-sql-server
//	[RESTHIST]   restorehistory (Transact-SQL)
//	             https://learn.microsoft.com/en-us/sql/relational-databases/system-tables/restorehistory-transact-sql
//	[RECSTATUS]  sys.database_recovery_status (Transact-SQL): recovery_fork_guid ("the current recovery
//	             fork on which the database is currently active"; NULL when the database will not start),
//	             last_log_backup_lsn ("the starting log sequence number of the next log backup")
//	             https://learn.microsoft.com/en-us/sql/relational-databases/system-catalog-views/sys-database-recovery-status-transact-sql
//	[SYSDB]      sys.databases (Transact-SQL): create_date, state_desc
//	             https://learn.microsoft.com/en-us/sql/relational-databases/system-catalog-views/sys-databases-transact-sql
//	[ERR0]       Database Engine events and errors 0 to 999 (911 database does not exist, 927 in the middle of a restore)
//	             https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/database-engine-events-and-errors-0-to-999
//	[ERR3000]    Database Engine events and errors 3000 to 3999 (3036, 3101, 3117, 3153, 3154, 3201, 3906)
//	             https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/database-engine-events-and-errors-3000-to-3999
//	[ERR3159]    MSSQLSERVER_3159
//	             https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/mssqlserver-3159-database-engine-error
//	[ERR4000]    Database Engine events and errors 4000 to 4999 (4208, 4214, 4305, 4319, 4326, 4330, 4333)
//	             https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/database-engine-events-and-errors-4000-to-4999
//
// # Rules modelled
//
// LSNs. LSNs are numeric(25,0), kept as decimal strings and math/big, never
// int64 [BACKUPSET]. Every log record gets the next LSN. A backup's LastLSN
// is "the next log record after the backup set" [BACKUPSET][HEADERONLY].
//
// Full backups. BACKUP DATABASE writes two log records: its checkpoint
// (FirstLSN = CheckpointLSN) and, after the data copy, the end of the backup
// (LastLSN). DatabaseBackupLSN is the checkpoint of the previous full that
// was not COPY_ONLY [BACKUPSET]. The first full after the FULL recovery model
// began starts the log chain; a later full does not break it and does not
// restart it [LOGBACKUPS] ("the sequence of transaction log backups is
// independent of data backups").
//
// Log backups. BACKUP LOG needs a log chain: refused with 4208 in SIMPLE
// recovery and 4214 when there is no current database backup [LOGBACKUPS]
// ("you must have created at least one full backup before you can create any
// log backups") [ERR4000]. A log backup covers [FirstLSN, LastLSN) where
// FirstLSN is where the previous log backup ended (last_log_backup_lsn
// [RECSTATUS]) and LastLSN the next LSN to be written. It writes no log
// record of its own, so a log backup of an idle database is empty: FirstLSN
// == LastLSN == the previous LastLSN (what msdb shows for an idle database;
// the docs do not say a log backup writes a record, so the double takes the
// reading that leaves such backups empty). Only writes (Insert, Write), full
// backups and recovery advance the LSN; the first log after a full is
// therefore never empty (it includes the full's end record). WITH
// NORECOVERY takes a tail-log backup and leaves the database RESTORING at its
// LastLSN [TAIL][ERR3159].
//
// COPY_ONLY. A copy-only full does not start a chain and does not change the
// differential base (DatabaseBackupLSN of later backups); a copy-only log
// "preserves the existing log archive point": the chain does not move
// [COPYONLY]. Both are recorded in the backup history with IsCopyOnly.
//
// Backup files and history. Every backup writes a real file at the path
// given (write to a temporary name, then rename) and a backupset row;
// Describe reads the header back. The file also carries, outside
// artifact.Header, the source's recovery fork history at backup time (from
// which backupset's first/last_recovery_fork_guid and fork_point_lsn
// follow [BACKUPSET]), its recovery model and create date. A backup that
// cannot write its file (3201) changes nothing. A database in STANDBY
// cannot be backed up (3036) [ERR3000], nor one that is restoring (927)
// [ERR0].
//
// Restore history. A successful RESTORE adds a restorehistory row (the
// standby's LastRestore) [RESTHIST] and also a backupset row for the backup
// set restored [HISTORY]: on a server that became a primary by restore,
// ObservePrimary lists the restored backups too, with the path they were
// restored from. History outlives Drop (msdb keeps it), but a database
// sees only its own, as the SQL Server engine reads msdb: LastRestore
// leaves out restores of another family (unless the database is
// RESTORING, when SQL Server does not say its family) and restores an hour
// or more older than the database; ObservePrimary lists only backups of
// its family.
//
// RESTORE LOG order. A log restore needs the database RESTORING or STANDBY
// (3117 otherwise: "no files are ready to rollforward") [ERR3000]; an
// online (recovered) database takes no more log backups [APPLYLOG]
// ("After rollback, the database goes online, and no more transaction log
// backups can be applied"). Logs apply in order with no gap [APPLYLOG]:
// FirstLSN > redo LSN is 4305 ("too recent"), LastLSN <= redo LSN is 4326
// ("too early") [ERR4000]. An empty log backup (LastLSN == FirstLSN ==
// redo) therefore fails with 4326; the docs do not say SQL Server skips
// it, so the double takes the stricter reading and refuses it. All three
// wrap engine.ErrChain; 4326 (the database is already past the log's end)
// wraps engine.ErrAlreadyRestored, which apply records as restored.
//
// Recovery forks (recovery paths). Recovering a database (RESTORE … WITH
// RECOVERY: Recover, RecoverByHand) begins a new recovery fork at its redo
// LSN, and so does creating a database; the fork history travels in every
// backup [PATHS][BACKUPSET]. Two forks may use the same range of LSNs
// [PATHS], so LSNs alone cannot place a log: RESTORE LOG refuses, with 4330
// ("on a recovery path that is inconsistent with the database") wrapping
// engine.ErrChain, a log whose fork at the standby's redo LSN differs from
// the standby's own fork there — a log from another world after a fork
// point — and a log of another database (another family GUID) [ERR4000]. A
// standby restored to exactly the fork point has written nothing of either
// branch and may continue on the new fork (the fork "at" an LSN is the one
// that wrote the log just before it). Recovery writes an end-of-recovery
// record at the fork point; the database is ONLINE and writable, and its log
// chain continues from the fork point: the first log backup after recovery
// begins at the old redo LSN. Recovering a database that is online fails
// with 3153, one whose full restore was torn with 4333 [ERR3000][ERR4000].
//
// Moving a primary. A database restored on another server from drsctl's
// backup files (RESTORE DATABASE and LOG WITH NORECOVERY, then RECOVERY)
// is an ordinary online database on a new fork [COPYDB][PATHS]; its LSNs
// continue from where the restores stopped, which may be LOWER than what
// the old primary reached.
//
// REPLACE. RESTORE DATABASE over an existing database of another family or
// name fails with 3154, over an online database in FULL or BULK_LOGGED
// recovery whose tail was not backed up with 3159 [RESTORE "REPLACE option
// impact"][ERR3159]. Over a database that is restoring, standby or torn,
// SQL Server needs no REPLACE when the family matches; the double takes the
// stricter reading and requires REPLACE for any existing database, so a test
// sees every overwrite asked for explicitly.
//
// Torn seed restores (TearNextRestore). A full restore interrupted midway
// (connection dropped during the data copy) leaves the database RESTORING
// and unusable: RESTORE LOG onto it fails with 4319 ("A previous restore
// operation was interrupted and did not complete processing … restart the
// restore sequence") wrapping engine.ErrChain [ERR4000]; the only way on is
// to restore the full again ("A restore sequence can be aborted and
// restarted by restoring the entire contents of the affected files"
// [RESTORE "Redo a restore"]), which the double, stricter, makes require
// REPLACE. Its redo LSN is reported empty and, stricter reading (the docs do
// not say when the restorehistory row is written), its restore history is
// unchanged: an observer reading history alone sees the OLD position. The
// caller gets an error wrapping engine.ErrUnreachable.
//
// Exclusive access. A restore needs the database alone: readers of a
// STANDBY database (SetReaders) make it fail with 3101 wrapping
// engine.ErrInUse unless DisconnectUsers is set [ERR3000]. STANDBY needs an
// undo file [RESTARGS]; a database in STANDBY is read-only (3906 on writes).
//
// Identity and create date. Observations report Identity as the current
// recovery fork GUID (sys.database_recovery_status.recovery_fork_guid
// [RECSTATUS]); it changes when a database is created, restored over and
// recovered, and is empty while the database is RESTORING (the column is
// NULL when the database will not start) or when HideIdentity is set.
// CreatedAt is sys.databases.create_date [SYSDB]: the time of CREATE
// DATABASE or of the RESTORE that made the database, on the server's clock
// (driver clock + SetClockOffset), at full precision in UTC;
// ShiftReportedCreateDate shifts only what observations report (a local
// time converted with the wrong offset).
//
// # Test hooks
//
// FailNext(op, db, after, err) fails the next "backup", "restore",
// "recover", "observe" or "describe" (after=true: the work is done and the
// reply lost). A cancelled context ends every call before it does any work.
// SetDown makes the server unreachable. Restores() is an audit log of
// every restore request made through a session (outcome, whether it took
// effect, and what it replaced); Calls counts session calls by op.
// Database, Exists, Rows and Backups are read-only oracles; Create, Insert,
// Write, SetRecovery, Drop, RecoverByHand and BackupOutOfBand… are what a
// DBA does outside drsctl (not counted by Calls, not subject to FailNext).
//
// # Not modelled
//
// Differential, file and partial backups; STOPAT; several backup sets per
// file; MOVE and file placement; transactions; T-SQL. Those live in sqlsim.
package enginetest
