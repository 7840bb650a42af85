// Package sqlsim is a TDS-speaking SQL Server simulator: the test double the
// sqlserver engine is tested against, since no SQL Server can run on the
// machines drsctl is built on. go-mssqldb (and FreeTDS's tsql) connect to it
// over TCP as to SQL Server 2022 (16.0.4135.4).
//
// # What it models
//
// Protocol: TDS 7.4, without TLS unless Options.Certificate is set
// (PRELOGIN then answers ENCRYPT_NOT_SUP; see "TLS" below); LOGIN7 for
// login "sa" (any password when Options.Password is empty) and
// Options.Logins, with the login database; SQLBatch and RPC
// sp_executesql (by name or id 10) with typed parameters (nvarchar, varchar,
// int/bigint/smallint/tinyint, bit, float/real, decimal/numeric, datetime,
// smalldatetime, datetime2, datetimeoffset, date, uniqueidentifier,
// varbinary, including PLP (max) values); COLMETADATA/ROW/DONE,
// DONEINPROC/DONEPROC, INFO and ERROR tokens with SQL Server's numbers,
// states, classes and texts; ATTENTION (cancel) acknowledged with DONE(ATTN)
// between statements, during WAITFOR and between BACKUP/RESTORE progress
// steps; RESETCONNECTION (the session returns to its login database). Each
// connection is a session with an SPID from 51 and a current database.
//
// SQL: statements are recognised by shape (a small recursive-descent parser,
// not a SQL engine). Identifiers are [bracketed] (]] is ]), "quoted", or
// regular and not reserved; strings are '…' or N'…' (” is '); parameters are
// typed values, never text; as in T-SQL, CREATE/DROP/ALTER DATABASE and KILL
// take no variables, BACKUP/RESTORE do, and a USE inside sp_executesql ends
// with it. A batch is parsed whole first: a syntax error or
// an unknown statement (error 102, naming the statement; EXEC gives 2812)
// runs nothing. At run time an error ends the batch. Understood:
//
//   - SELECT [TOP n] items [FROM t [AS a] {[INNER] JOIN t [AS a] ON …}]
//     [WHERE p {AND p}] [ORDER BY …] over the virtual tables sys.databases,
//     sys.master_files, sys.database_recovery_status, sys.dm_exec_sessions,
//     msdb.dbo.backupset, msdb.dbo.backupmediafamily, msdb.dbo.restorehistory
//     and [db.]dbo.drs_probe; items are columns, literals, @params,
//     @@SPID/@@VERSION/@@SERVERNAME, DB_ID(), DB_NAME(), SERVERPROPERTY(),
//     GETDATE(), COUNT(*), MAX(), MIN(); predicates =, <>, <, <=, >, >=,
//     IS [NOT] NULL. Columns carry SQL Server's real names and types.
//     Joins are nested loops; WHERE's leading conjuncts are tested as soon
//     as the sources they name are bound, and WHERE again on the joined
//     rows, so answers and errors are those of testing the whole join
//     (except an ON that cannot be evaluated on a row WHERE rejects).
//   - USE; CREATE DATABASE (FULL recovery, table dbo.drs_probe(id int NOT NULL,
//     note nvarchar(200)), files x (D) and x_log (L) under DataDir/data);
//     DROP DATABASE [IF EXISTS]; ALTER DATABASE x SET RECOVERY
//     FULL|SIMPLE|BULK_LOGGED; INSERT [INTO] dbo.drs_probe [(cols)] VALUES
//     (…)[, (…)]; KILL n; WAITFOR DELAY 'hh:mm:ss'; SET NOCOUNT|XACT_ABORT|…
//     ON|OFF and SET TEXTSIZE n.
//   - BACKUP DATABASE|LOG x TO DISK = … [WITH CHECKSUM, COMPRESSION, FORMAT,
//     INIT, STATS[=n], COPY_ONLY, NAME, DESCRIPTION, NORECOVERY (log), …].
//   - RESTORE HEADERONLY|FILELISTONLY|LABELONLY|VERIFYONLY FROM DISK = …;
//     RESTORE DATABASE|LOG x FROM DISK = … WITH NORECOVERY|STANDBY = …|RECOVERY,
//     MOVE … TO …, REPLACE, STATS, CHECKSUM, and STOPAT = 'datetime' on
//     RESTORE LOG; RESTORE DATABASE|LOG x WITH RECOVERY|STANDBY = ….
//   - DBCC CHECKDB (x) [WITH NO_INFOMSGS, ALL_ERRORMSGS]; other options and
//     other DBCC commands are refused.
//
// Databases have LSNs (decimal numeric(25,0), math/big, never int64),
// starting at Options.LSNBase; each inserted row, checkpoint, recovery-model
// change and end of recovery writes a log record, and so does a full backup
// (its checkpoint, then, once the data is copied, the commit of the new
// differential base after its LastLSN; a COPY_ONLY full only its checkpoint).
// A log backup writes none of its own: it holds the log from the chain point
// to the current end of the log, so a log backup of a database where nothing
// was logged since the previous one is empty, FirstLSN = LastLSN = the
// previous log backup's LastLSN, in HEADERONLY and msdb alike; it keeps the
// chain, and RESTORE LOG of it fails with 4326 (its LastLSN is not past the
// redo point: already applied) then 3013. The first log backup after a full
// is never empty. Sources: BACKUP (Transact-SQL), "LOG … The log is backed up
// from the last successfully executed log backup to the current end of the
// log" (https://learn.microsoft.com/sql/t-sql/statements/backup-transact-sql);
// backupset.last_lsn / SMO BackupSet.LastLsn, "Log sequence number of the
// next log record after the backup set"
// (https://learn.microsoft.com/dotnet/api/microsoft.sqlserver.management.smo.backupset.lastlsn);
// error 4326's text (https://learn.microsoft.com/sql/relational-databases/errors-events/database-engine-events-and-errors-4000-to-4999);
// and well-known behaviour that tools work around: dbatools skips "empty"
// log backups, "FirstLSN is equal to LastLSN, no LSNs means no changes
// recorded" (https://github.com/dataplat/dbatools/issues/2228, PRs #1140 and
// #2712: empty log backups in a restore sequence made restores fail;
// Select-DbaBackupInformation keeps only logs with FirstLSN -ne LastLSN), and
// the first log to restore after a full is the one whose LastLSN is past the
// full's LastLSN (https://github.com/dataplat/dbatools/issues/2374). That a
// full backup logs records after its LastLSN (so the next log is not empty)
// and that an idle tail-log backup WITH NORECOVERY is empty too are the
// simulator's best knowledge, not documented.
//
// BACKUP writes a real file (a header carrying every HEADERONLY field, the
// rows or the log records, a SHA-256), atomically
// (temporary name, then rename), records msdb history, sends 3211/4035/3014,
// and follows SQL Server's chain rules: consecutive log backups chain
// (next.FirstLSN = previous.LastLSN), the first log after a full covers it,
// a full does not break the chain, COPY_ONLY neither starts nor moves it,
// SIMPLE recovery breaks it (4208, then 4214 until a new full), a tail-log
// backup WITH NORECOVERY leaves the database RESTORING. RESTORE applies rows,
// enforces 3101/3102 (exclusive access), 3117, 3118, 3135, 3153, 3154, 3159,
// 3187, 3201, 3234, 3241, 3441, 4305, 4326, 4330 (families and recovery
// forks: RESTORE … WITH RECOVERY starts a new fork, and a log backup taken on
// that fork can still be restored onto a copy that stopped exactly at the
// fork point, as in a planned role reversal), 5133/3156/1834/3119 for file
// placement, each followed by 3013; STANDBY leaves the database readable and
// read-only (3906 on writes) and writes the undo file; NORECOVERY leaves it
// RESTORING (927 on use).
//
// Restoring under a new name (a restore drill's scratch database): the
// files go where the backup's file list says unless MOVE names another
// place, so a restore of a standby's backup under another name on the
// standby's server, without MOVE, would write over the standby's files and
// is refused with 1834 ("The file '…' cannot be overwritten. It is being
// used by database '…'") and 3156 ("… Use WITH MOVE to identify a valid
// location for the file") for each such file, then 3119 and 3013; a MOVE
// into a directory that does not exist gives 5133 and 3156. Sources:
// "Restore a Database to a New Location (SQL Server)", "if you restore to
// a different name on the same server instance … you must use MOVE"
// (https://learn.microsoft.com/sql/relational-databases/backup-restore/restore-a-database-to-a-new-location-sql-server),
// RESTORE Arguments, MOVE
// (https://learn.microsoft.com/sql/t-sql/statements/restore-statements-arguments-transact-sql),
// and errors 1834, 3156, 3119 in Database Engine events and errors. The
// default places for new files are SERVERPROPERTY('InstanceDefaultDataPath')
// and ('InstanceDefaultLogPath') (https://learn.microsoft.com/sql/t-sql/functions/serverproperty-transact-sql),
// here DataDir/data/ with its trailing separator, as SQL Server answers.
//
// Point in time (STOPAT on RESTORE LOG): each inserted row's log record
// keeps the server's clock; a log restore WITH STOPAT applies the records
// written at or before the point and stops before the first one after it
// ("the database is restored to the state it was in as of the date and time
// specified", RESTORE Arguments, STOPAT). A point earlier than what the
// database already holds (the finish of the backup restored last, or an
// earlier STOPAT) is refused with 4335 then 3013; a point after the log
// backup's finish applies the whole log and leaves the database RESTORING
// whatever recovery was asked ("if the specified time is after the end of
// the log backup, … the database remains unrecovered", with message 4339,
// "This log file contains records logged before the designated
// point-in-time …"; the number is the simulator's best knowledge). STOPAT
// on RESTORE DATABASE is refused (SQL Server accepts it to reject a full
// taken after the point; drsctl never sends it). Source:
// "Restore a SQL Server Database to a Point in Time (Full Recovery Model)"
// (https://learn.microsoft.com/sql/relational-databases/backup-restore/restore-a-sql-server-database-to-a-point-in-time-full-recovery-model).
//
// DBCC CHECKDB (x) WITH NO_INFOMSGS succeeds silently on a database that
// can be opened (the simulator has no pages to damage); without
// NO_INFOMSGS it sends 8989 ("CHECKDB found 0 allocation errors and 0
// consistency errors in database '…'") and 2528; a missing database is
// 2520, one in the middle of a restore 927
// (https://learn.microsoft.com/sql/t-sql/database-console-commands/dbcc-checkdb-transact-sql).
// Server.Dropped tells a test what each dropped database held. Everything (databases, rows, log, msdb) persists
// as JSON in DataDir. Options.StepDelay slows BACKUP/RESTORE into ten steps
// so tests can watch live STATS progress and cancel mid-way (no file, no
// history is left).
//
// Text lengths are SQL Server's: nvarchar(n), sysname (nvarchar(128)), an
// identifier's 128 (error 103, from the lexer) and every TDS character count
// are UTF-16 code units, so a character outside the Basic Multilingual
// Plane (an emoji) counts two. A result value longer than its column's
// declared type, which SQL Server never sends and which breaks the client's
// decoding, is refused with an sqlsim error instead; so is CREATE DATABASE
// of a name over 123 units (SQL Server's limit when it names the log file).
//
// # Faults
//
// A full disk: BACKUP whose file cannot be written for lack of space fails
// as SQL Server does, with 3202 "Write on "<path>" failed: 112(There is not
// enough space on the disk.)" then 3013, and leaves neither a file nor msdb
// history, so the chain is as before. Sources: error 3202's text, "Write on
// "%ls" failed: %ls", in Database Engine events and errors (3000 to 3999)
// (https://learn.microsoft.com/sql/relational-databases/errors-events/database-engine-events-and-errors-3000-to-3999),
// and Windows system error 112, ERROR_DISK_FULL, "There is not enough space
// on the disk." (https://learn.microsoft.com/windows/win32/debug/system-error-codes--0-499-),
// which SQL Server on Linux reports too. That no partial file stays behind
// is the simulator's simplification (it writes atomically); drsctl never
// reuses a backup file name. The disk is either really full (a small tmpfs)
// or limited by Server.LimitSpace where a test cannot mount one.
//
// A server that stops answering without closing anything (Server.SetStall):
// StallLongOps holds BACKUP and RESTORE silent between progress steps while
// everything else answers (a real server creating and zeroing files, or
// between the progress messages of a large restore, is silent for minutes);
// StallRequests also holds every request after login (all workers
// blocked); StallAll answers nothing at all, not even PRELOGIN, though TCP
// connections are accepted (a frozen host or process). What is held goes on
// when the stall ends, unless its connection closed meanwhile: then a BACKUP
// or RESTORE is abandoned as after an attention (no file, no history).
// Server.Stalled tells a test when something is being held.
//
// A fatal error (Server.FailFatal): the next statement that begins as
// given fails with an error of severity 20 or more, sent in an ERROR token,
// and the server closes the connection without a DONE. Errors of severity
// 20 to 24 "indicate system problems and are fatal errors, which means that
// the Database Engine task that is executing a statement or batch is no
// longer running. The task records information about what occurred and then
// terminates. In most cases, the application connection to the instance of
// the Database Engine might also terminate." Source: Database Engine error
// severities (https://learn.microsoft.com/sql/relational-databases/errors-events/database-engine-error-severities);
// and RAISERROR: "Severity levels from 20 through 25 are considered fatal.
// If a fatal severity level is encountered, the client connection is
// terminated after receiving the message"
// (https://learn.microsoft.com/sql/t-sql/language-elements/raiserror-transact-sql).
// That no DONE follows the ERROR token is the simulator's choice of the
// harder case for a client (the message arrives, then the connection ends).
//
// An interrupted restore: a RESTORE DATABASE stopped during its data copy
// (an attention, or its connection closed, e.g. Options.StepDelay and a
// cancelled context) leaves the database RESTORING with the backup's files,
// no data, nothing to roll forward (redo_start_lsn NULL) and no msdb
// history. Then RESTORE LOG fails with 4319 "A previous restore operation
// was interrupted and did not complete processing on file '…'. Either
// restore the backup set that was interrupted or restart the restore
// sequence.", and so does RESTORE DATABASE of another backup set without
// REPLACE; RESTORE … WITH RECOVERY fails with 4333 "The database cannot be
// recovered because the log was not restored."; the interrupted backup set
// restores again (from its beginning, or WITH RESTART, which is accepted),
// and a full WITH REPLACE begins a new sequence. Sources: the messages'
// texts (https://learn.microsoft.com/sql/relational-databases/errors-events/database-engine-events-and-errors-4000-to-4999);
// RESTORE's RESTART argument, "restart a restore operation that has been
// interrupted … at the point it was interrupted"
// (https://learn.microsoft.com/sql/t-sql/statements/restore-statements-arguments-transact-sql)
// and SMO's BackupRestoreBase.Restart, "If False (default), SQL Server
// restarts an interrupted backup or restore operation at the beginning of
// the backup set" (https://learn.microsoft.com/previous-versions/sql/sql-server-2008-r2/ms215629(v=sql.105)).
// Which statements real servers refuse with 4319 beyond RESTORE LOG is the
// simulator's best reading of the message, not documented.
//
// # Time zones
//
// The server has a time zone (Options.TimeZone, an IANA name; UTC when
// empty) with its daylight saving rules. As on SQL Server, dates without a
// zone are the server's local wall clock at the moment they were written:
// GETDATE() and SYSDATETIME(), msdb.dbo.backupset.backup_start_date and
// backup_finish_date, restorehistory.restore_date, sys.databases.create_date,
// login_time and HEADERONLY's BackupStartDate/BackupFinishDate; GETUTCDATE()
// and SYSUTCDATETIME() are UTC. A local value therefore says nothing of the
// offset it was written with, and two instants an hour apart on the night
// of an autumn change read the same. msdb.dbo.backupset.time_zone (smallint)
// is "the difference between local time (where the backup operation is
// taking place) and Coordinated Universal Time (UTC) in 15-minute
// intervals … A value of 127 indicates unknown"
// (https://learn.microsoft.com/sql/relational-databases/system-tables/backupset-transact-sql):
// the offset in force when the backup finished, in the backup's header, so
// a server that restores the backup records the same value; 127 with
// Options.UnknownTimeZone, and for backup files or history written before
// the simulator kept it.
//
// HEADERONLY's TimeZone column, nvarchar(32), is in the result set only
// when Options.MajorVersion is 16 (SQL Server 2022; the RESTORE HEADERONLY
// page lists it for 2022 and later and does not say what it holds:
// https://learn.microsoft.com/sql/t-sql/statements/restore-statements-headeronly-transact-sql).
// Real servers have been seen returning values that are not the offset of
// the backup (drsctl issue 10); the simulator's value is
// Options.HeaderTimeZone when set, otherwise the UTC offset in force when
// the server started, "+HH:MM" — right until the next daylight saving
// change, an hour wrong after it. What real servers put there is not
// documented: this is the simulator's model of "not to be trusted".
// MajorVersion 15 (SQL Server 2019) leaves the column out and reports
// 15.x in SERVERPROPERTY('ProductVersion'/'ProductMajorVersion'); what
// else changes with the version is under "Versions" below.
//
// sys.database_recovery_status.recovery_fork_guid, "the current recovery
// fork on which the database is currently active", is NULL while a database
// is RESTORING ("NULL = Database is offline, or the database will not
// start",
// https://learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-database-recovery-status-transact-sql);
// a new fork begins at CREATE DATABASE and at every recovery.
//
// # Backups to URL
//
// BACKUP … TO URL and RESTORE … FROM URL (HEADERONLY, FILELISTONLY,
// LABELONLY, VERIFYONLY, DATABASE, LOG) write and read real object stores:
// Azure Blob Storage for https:// URLs and S3-compatible storage for s3://
// URLs (path style, s3://host:port/bucket/key). The objects hold the same
// bytes the simulator writes to DISK; a backup to several URLs (up to 64,
// 3205 beyond) is a striped media set, the file cut in as many pieces, each
// behind a small stripe header naming the media set and its family number.
// What the real server does and the simulator follows:
//   - Credentials (CREATE CREDENTIAL / DROP CREDENTIAL, sys.credentials;
//     15151 dropping one that does not exist; 15025 creating one that
//     exists, the simulator's choice of number and words). Azure block blobs use a
//     credential "named exactly after the container URL" with IDENTITY =
//     'SHARED ACCESS SIGNATURE' and the SAS token (no leading '?') as
//     SECRET, found by name, never passed as CREDENTIAL =; CREDENTIAL =
//     names the legacy storage-account-key credential (IDENTITY = the
//     account, SECRET = the key), one URL only. A SAS credential named in
//     CREDENTIAL = is taken for a key and fails to authenticate (3201,
//     "Operating system error 86"). S3 uses a credential whose name
//     prefixes the URL (s3://host:port/bucket) with IDENTITY = 'S3 Access
//     Key', SECRET = 'access key id:secret key'; CREDENTIAL = is refused
//     (3032). The longest name that prefixes the URL at a '/' wins. No
//     credential: 3201 "Operating system error 50(The request is not
//     supported.)", the error the S3 troubleshooting page shows for a
//     malformed URL or missing bucket
//     (https://learn.microsoft.com/sql/relational-databases/backup-restore/sql-server-backup-to-url-s3-compatible-object-storage-best-practices-and-troubleshooting;
//     https://learn.microsoft.com/sql/relational-databases/backup-restore/sql-server-backup-to-url;
//     the credential table in https://techcommunity.microsoft.com/t5/DataCAT/SQL-Server-Backup-to-URL-a-cheat-sheet/ba-p/346358).
//     A missing object on RESTORE is 3201 with error 2, as for a file.
//   - "Appending to existing blobs isn't supported": INIT/NOINIT are
//     refused (3032, the stricter reading: the pages say to use FORMAT),
//     and a URL that already holds an object is refused without FORMAT
//     (3271 … "(409) Conflict"; the words after the status are the
//     simulator's). FORMAT overwrites.
//   - Sizes: an Azure block blob holds 50,000 blocks of MAXTRANSFERSIZE
//     (multiples of 64 KB up to 4 MB, 1 MB by default: ≈195 GB per blob at
//     4 MB, "up to 64 blobs … ~12 TB" in the cheat sheet above); an S3
//     object 10,000 parts of MAXTRANSFERSIZE (5 MB to 20 MB, 10 MB by
//     default: "the maximum supported size of a single file is the result
//     of 10,000 parts * MAXTRANSFERSIZE … stripe up to 64 URLs",
//     https://learn.microsoft.com/sql/relational-databases/backup-restore/sql-server-backup-to-url-s3-compatible-object-storage).
//     Past it the write fails with 3202 "… 1117(The request could not be
//     performed because of an I/O device error.)". The size judged is the
//     backup's BackupSize (HEADERONLY), not the simulator's few bytes;
//     Options.URLMaxChunks and URLBlobLimit lower the blocks or bytes one
//     URL may hold so tests can need striping or a larger MAXTRANSFERSIZE. A
//     MAXTRANSFERSIZE out of range is refused (50000: the real number and
//     words were not found). A failed S3 backup leaves its multipart upload
//     incomplete, neither completed nor aborted, as the real connector does.
//   - A striped backup is "written across the devices in equal chunks"
//     (https://learn.microsoft.com/previous-versions/sql/sql-server-2005/ms134980(v=sql.90)),
//     side by side: when it outgrows its URLs every family's write fails,
//     and on S3 each leaves its multipart upload incomplete (the stricter
//     reading; the 3202 names the first URL).
//   - A striped media set restores only with all its families: 3132 "The
//     media set has N media families but only M are provided. All members
//     must be provided."; in any order. backupmediafamily gets one row per
//     URL with device_type 9.
//   - BACKUP_OPTIONS/RESTORE_OPTIONS {"s3": {"region": "…"}} set the region
//     the S3 requests are signed for (us-east-1 when absent).
//
// Deviations: "s3:// URLs always assume the underlying protocol is https"
// and Azure URLs are https; the test environment's Azurite and S3 server
// speak http, so Options.URLPlainHTTP makes the simulator use http for
// both. The key credential writes a block blob (the real server a page
// blob). MAXTRANSFERSIZE on S3 is not refused without COMPRESSION.
//
// # Log space
//
// sys.dm_db_log_space_usage has one row for the session's current database
// (a three-part name does not change which: the stricter reading) with
// database_id, total_log_size_in_bytes (the log files' allocated size),
// used_log_space_in_bytes, used_log_space_in_percent and
// log_space_in_bytes_since_last_backup, "the amount of space used since
// the last log backup" (SQL Server 2014 and later): here the pages the
// next log backup would carry. It needs VIEW SERVER STATE (SQL Server 2022
// names it VIEW SERVER PERFORMANCE STATE, which VIEW SERVER STATE covers);
// without it 300 "VIEW SERVER STATE permission was denied on object
// 'server', database 'master'." then 297 "The user does not have permission
// to perform this action."
// (https://learn.microsoft.com/sql/relational-databases/system-dynamic-management-views/sys-dm-db-log-space-usage-transact-sql).
//
// An added file's SIZE = n[KB|MB|GB|TB] ("the default is MB") is its size
// in sys.master_files (8 MB when absent), so a large pre-allocated log file
// can be modelled
// (https://learn.microsoft.com/sql/t-sql/statements/create-database-transact-sql,
// "size").
//
// # Files added on the primary
//
// ALTER DATABASE x ADD FILE (NAME = n, FILENAME = 'path'[, SIZE = …,
// MAXSIZE = …, FILEGROWTH = …])[, (…)] [TO FILEGROUP fg], ADD LOG FILE
// (…) and REMOVE FILE n are understood. NAME and FILENAME are literals (no
// variables, as in T-SQL); the file's directory must exist (5133 then 5009
// "One or more files listed in the statement could not be found or could
// not be initialized."), its path must be no other file's on this server
// (5170 "Cannot create file '…' because it already exists…", 5009), its
// logical name new in the database (1828); TO FILEGROUP names PRIMARY or a
// filegroup the database's files already use (5014 otherwise: sqlsim has no
// ADD FILEGROUP). REMOVE FILE of the primary data or log file is 5020, of
// an unknown one 5041, and succeeds with 5044 (the simulator's files hold no
// data, so every file is empty). Each change writes a log record, so a log
// backup carries it: RESTORE FILELISTONLY of a log backup lists the
// database's files as of the backup plus those the backup's log range
// removes, with CreateLSN (0 for the files CREATE DATABASE made) and
// DropLSN (NULL unless removed); sys.master_files has create_lsn (NULL for
// the first files) and is visible for RESTORING and STANDBY databases.
// RESTORE LOG creates the files the log adds — those in the backup's list
// that the database does not have and that were created after its redo
// point — at the backup's physical path unless MOVE names another, and
// refuses as for a full: 5133 and 3156 when the directory does not exist
// on this host, 1834 and 3156 when another database here has a file at
// that path, each then 3119 and 3013; a MOVE naming a file not in the
// backup is 3234, 3119, 3013. It drops the files the log removes. Sources:
// ALTER DATABASE File and Filegroup Options
// (https://learn.microsoft.com/sql/t-sql/statements/alter-database-transact-sql-file-and-filegroup-options);
// RESTORE (Transact-SQL), whose RESTORE LOG syntax takes the general WITH
// options, MOVE among them, and "RESTORE LOG can include a file list to
// allow for creation of files during roll forward. This is used when the
// log backup contains log records written when a file was added to the
// database" (https://learn.microsoft.com/sql/t-sql/statements/restore-statements-transact-sql);
// RESTORE FILELISTONLY's CreateLSN and DropLSN columns
// (https://learn.microsoft.com/sql/t-sql/statements/restore-statements-filelistonly-transact-sql);
// sys.master_files (https://learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-master-files-transact-sql);
// errors 1828, 5009, 5014, 5020, 5041, 5044, 5133, 5170 in Database Engine
// events and errors. The simulator's best knowledge, not documented: that
// a file the log adds and removes again needs a valid place too (its
// creation is redone), and a MOVE of a file the database already has on
// RESTORE LOG, which it refuses with an sqlsim error.
//
// # Versions
//
// A backup records the major version of the server that took it
// (Options.MajorVersion): HEADERONLY's SoftwareVersionMajor,
// SoftwareVersionBuild, DatabaseVersion (904 for 2019, 957 for 2022) and
// CompatibilityLevel. RESTORE DATABASE|LOG of a backup from a newer major
// version fails with 3169 "The database was backed up on a server running
// version 16.00.4135. That version is incompatible with this server, which
// is running version 15.00.4355. Either restore the database on a server
// that supports the backup, or use a backup that is compatible with this
// server." then 3013. A backup from an older version restores, and the
// database is upgraded when it is recovered; until then STANDBY is refused
// with 3180 (state 2) "This backup cannot be restored using WITH STANDBY
// because a database upgrade is needed. Reissue the RESTORE without WITH
// STANDBY." then 3013: on RESTORE DATABASE or LOG of such a backup, and on
// RESTORE … WITH STANDBY of a database restored from one. NORECOVERY and
// RECOVERY work. Sources: RESTORE (Transact-SQL), Compatibility support,
// "No SQL Server backup can be restored to an earlier version of SQL
// Server than the version on which the backup was created", and a database
// of an earlier version is upgraded automatically when restored
// (https://learn.microsoft.com/sql/t-sql/statements/restore-statements-transact-sql);
// RESTORE Arguments, STANDBY, "STANDBY is also not allowed when a
// database upgrade is necessary"
// (https://learn.microsoft.com/sql/t-sql/statements/restore-statements-arguments-transact-sql);
// the texts of 3169 and 3180 in Database Engine events and errors
// (https://learn.microsoft.com/sql/relational-databases/errors-events/database-engine-events-and-errors-3000-to-3999,
// https://learn.microsoft.com/sql/relational-databases/errors-events/mssqlserver-3169-database-engine-error),
// with 3180's state as a public repro shows it (SQL Server 2014 backup on
// 2017: "Msg 3180, Level 16, State 2"), and the version format of 3169 as
// SMO reports it ("… running version 14.00.1000 … running version
// 13.00.4224"). That a log restore WITH STANDBY onto a database still to be
// upgraded is refused as well is the simulator's stricter reading.
//
// # Logins and permissions
//
// sa (Options.Password) is sysadmin. Options.Logins adds logins, each with
// fixed server roles (sysadmin, dbcreator, processadmin), server
// permissions (CREATE ANY DATABASE, VIEW SERVER STATE, ALTER ANY
// CONNECTION, ALTER ANY DATABASE, VIEW ANY DEFINITION) and fixed database
// roles per database (db_owner, db_backupoperator, db_datareader); a
// wrong password or an unknown login is 18456. Each statement checks what
// SQL Server checks, with its numbers and words (severity 14):
//   - BACKUP DATABASE / BACKUP LOG: sysadmin, db_owner or db_backupoperator
//     in the database, else 262 "BACKUP DATABASE permission denied in
//     database 'x'." then 3013 ("BACKUP DATABASE and BACKUP LOG permissions
//     default to members of the sysadmin fixed server role and the db_owner
//     and db_backupoperator fixed database roles",
//     https://learn.microsoft.com/sql/t-sql/statements/backup-transact-sql#permissions).
//   - RESTORE HEADERONLY, FILELISTONLY, LABELONLY, VERIFYONLY: CREATE
//     DATABASE permission (CREATE ANY DATABASE, dbcreator), else 262
//     "CREATE DATABASE permission denied in database 'master'." then 3013
//     ("in SQL Server 2008 (10.0.x) and later versions these statements
//     require CREATE DATABASE permission",
//     https://learn.microsoft.com/sql/t-sql/statements/restore-statements-for-restoring-recovering-and-managing-backups-transact-sql).
//   - RESTORE DATABASE / LOG (and WITH RECOVERY): a database that does not
//     exist needs CREATE DATABASE (262); one that exists needs sysadmin,
//     dbcreator or its owner — the login whose CREATE or RESTORE created it
//     — else 3110 "User does not have permission to RESTORE database 'x'."
//     (db_owner does not count: "members of the db_owner fixed database
//     role do not have RESTORE permissions",
//     https://learn.microsoft.com/sql/t-sql/statements/restore-statements-transact-sql#permissions).
//   - KILL: ALTER ANY CONNECTION (sysadmin, processadmin), else 6102 "User
//     does not have permission to use the KILL statement."
//     (https://learn.microsoft.com/sql/t-sql/language-elements/kill-transact-sql#permissions).
//   - msdb.dbo.backupset, backupmediafamily, restorehistory: sysadmin or
//     db_owner/db_datareader in msdb, else 229 "The SELECT permission was
//     denied on the object 'backupset', database 'msdb', schema 'dbo'."
//     (guest, enabled in msdb, has no SELECT on them: the stricter reading,
//     the docs of these tables name no permission).
//   - sys.master_files: rows only with CREATE DATABASE, ALTER ANY DATABASE
//     or VIEW ANY DEFINITION; without, no rows and no error ("The minimum
//     permissions that are required to see the corresponding row are CREATE
//     DATABASE, ALTER ANY DATABASE, or VIEW ANY DEFINITION",
//     https://learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-master-files-transact-sql#permissions).
//   - CREATE DATABASE: CREATE ANY DATABASE (262); DROP and ALTER DATABASE
//     (SET SINGLE_USER among them): sysadmin, dbcreator, ALTER ANY
//     DATABASE, db_owner or the database's owner (3701, 5011).
//
// sys.databases and sys.database_recovery_status are visible to every
// login (VIEW ANY DATABASE is granted to public by default); which
// sessions sys.dm_exec_sessions shows depends on VIEW SERVER STATE (below). CREATE LOGIN, GRANT and ALTER ROLE are not parsed: logins come from
// Options.
//
// # TLS
//
// With Options.Certificate the server negotiates encryption as MS-TDS's
// PRELOGIN table says (2.2.6.5, ENCRYPTION: ENCRYPT_OFF 0, ENCRYPT_ON 1,
// ENCRYPT_NOT_SUP 2, ENCRYPT_REQ 3,
// https://learn.microsoft.com/openspecs/windows_protocols/ms-tds/60f56408-0188-4cd5-8b90-25c6f2423868):
// a client that is off (go-mssqldb's encrypt=false, or encrypt unset) gets
// ENCRYPT_OFF and only its LOGIN7 travels encrypted, then the connection
// is plain; a client that is on (encrypt=true) gets ENCRYPT_ON and
// everything is encrypted; a client that cannot encrypt (encrypt=disable)
// gets ENCRYPT_NOT_SUP. Options.ForceEncryption answers ENCRYPT_REQ to all
// (everything encrypted) and cuts off the client that cannot encrypt after
// its answer ("Connection terminated" in the spec's table). Without a
// certificate every client gets ENCRYPT_NOT_SUP (real servers make a
// self-signed one at startup; the simulator does not). In TDS 7.x the TLS
// handshake travels inside PRELOGIN packets (type 0x12), one TDS message
// per flight, and the TLS records go bare on the TCP connection afterwards
// (go-mssqldb's tds.go connect, tlsHandshakeConn and passthroughConn); TLS
// 1.2 at most there. A client that starts with a TLS handshake record
// (0x16) speaks TDS 8.0 (encrypt=strict, SQL Server 2022): TLS first, ALPN
// "tds/8.0", then PRELOGIN and LOGIN7 inside it
// (https://learn.microsoft.com/sql/relational-databases/security/networking/tds-8);
// Options.Strict refuses every other client, as Force Strict Encryption
// does. NewTestCertificate makes a CA and a certificate for tests; clients
// name the CA with certificate=.
//
// # Readers
//
// Who holds a database: a session whose current database it is, and a
// session elsewhere (in master, say) that read it by a three-part name
// ([db].dbo.drs_probe) inside a transaction that is still open (BEGIN
// TRAN[SACTION] … COMMIT | ROLLBACK [TRAN[SACTION] | WORK]; the simulator
// counts transactions and nothing else about them, and
// sys.dm_exec_sessions.open_transaction_count shows the count). Such a
// session appears in master in sys.dm_exec_sessions.database_id, yet a
// RESTORE of the database it read fails with 3101 until its transaction
// ends: SQL Server keeps a shared lock on a database a transaction touched
// (sys.dm_tran_locks, resource_type DATABASE,
// https://learn.microsoft.com/sql/relational-databases/system-dynamic-management-views/sys-dm-tran-locks-transact-sql);
// holding it to the end of the transaction (not only of the statement) is
// the stricter reading. A statement outside a transaction holds nothing
// once it ends.
//
// KILL takes time (Server.SetKillDelay): the session rolls back, stays in
// sys.dm_exec_sessions and keeps holding its databases until the delay has
// passed, then its connection is closed; KILL itself returns at once
// ("KILL … can take a long time … to roll back", KILL (Transact-SQL),
// https://learn.microsoft.com/sql/t-sql/language-elements/kill-transact-sql).
// A RESTORE meanwhile fails with 3101; the killed session's next request
// gets 596 "Cannot continue the execution because the session is in the
// kill state." (severity 21) and its connection ends; a second KILL of it
// answers message 6120 (rollback in progress; the simulator's best
// knowledge of the text, as WITH STATUSONLY reports it).
//
// VIEW SERVER STATE (Server.DenyViewServerState): without it
// sys.dm_exec_sessions shows a session only its own row, with no error,
// so a KILL loop over it silently finds nobody ("Everyone can see their own
// session information"; VIEW SERVER STATE to see all,
// https://learn.microsoft.com/sql/relational-databases/system-dynamic-management-views/sys-dm-exec-sessions-transact-sql).
// A login holds it by its permissions (Options.Logins; sa is sysadmin);
// the switch takes it from every login at once.
//
// ALTER DATABASE x SET SINGLE_USER | RESTRICTED_USER | MULTI_USER [WITH
// ROLLBACK IMMEDIATE | ROLLBACK AFTER n [SECONDS] | NO_WAIT]
// (https://learn.microsoft.com/sql/t-sql/statements/alter-database-transact-sql-set-options,
// "Set a Database to Single-user Mode",
// https://learn.microsoft.com/sql/relational-databases/databases/set-a-database-to-single-user-mode):
// with other sessions using the database, ROLLBACK IMMEDIATE ends them (as
// KILL does, with its delay) and returns only once they are gone; ROLLBACK
// AFTER n waits n seconds for them to leave, then does the same; NO_WAIT
// fails at once with 5070 "Database state cannot be changed while other
// users are using the database '…'"; without a clause it waits for them
// (an attention stops it). The new access applies before the wait, so
// nobody enters a SINGLE_USER database meanwhile. MULTI_USER needs nobody
// out, but a SINGLE_USER database another session is in refuses any
// change without ROLLBACK with 5064 ("… The database is in single-user
// mode, and a user is currently connected to it."). A SINGLE_USER database
// lets one session in: another USE, three-part read or login naming it
// gets 924 "Database '…' is already open and can only have one user at a
// time." (at login, then 4060 and 18456). The session that ran the ALTER
// from master does not take the slot: the one user may be anyone, which is
// why tools run the ALTER and the RESTORE in one batch
// (https://github.com/dataplat/dbatools/issues/468). RESTRICTED_USER
// admits sysadmin, dbcreator and db_owner, and sa is sysadmin, so it
// admits everyone here. Refused: a database RESTORING, 5052 "ALTER
// DATABASE is not permitted while a database is in the Restoring state.";
// a missing one, 5011; a system database, 5058; each followed by 5069
// "ALTER DATABASE statement failed." A database in STANDBY accepts it:
// trimble-oss/sql-log-shipping-service sets SINGLE_USER WITH ROLLBACK
// AFTER n on a database where DATABASEPROPERTYEX(…, 'IsInStandBy') = 1 in
// the batch that restores it (LogShipping.cs, KillUserConnections). A
// RESTORE of a backup gives the database the user access it brings
// (MULTI_USER here: the simulator does not record the primary's), so a
// standby set SINGLE_USER is MULTI_USER again after its next RESTORE LOG …
// WITH STANDBY, as users of sp_DatabaseRestore found
// (https://github.com/BrentOzarULTD/SQL-Server-First-Responder-Kit/issues/2275);
// RESTORE … WITH RECOVERY without a backup, and BACKUP LOG … WITH
// NORECOVERY, keep what was set. sys.databases.user_access and
// user_access_desc show it.
//
// RESTORE DATABASE x WITH NORECOVERY without FROM takes a STANDBY database
// back to RESTORING (it needs the database alone, 3101), as a log restore
// onto a standby does first; trimble-oss/sql-log-shipping-service sends it
// right after the ALTER so that readers cannot reconnect while logs are
// restored (its pull request 33). WITH STANDBY = … makes it readable again.
//
// Where a restoring database stands. sys.master_files.redo_start_lsn, the
// "LSN at which the next roll forward must start", "is NULL unless state =
// RESTORING or state = RECOVERY_PENDING"
// (https://learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-master-files-transact-sql);
// the files of a database in STANDBY are ONLINE (it is read-only, with
// is_in_standby = 1), so, stricter reading, the simulator gives NULL there
// and fills it only while the database is RESTORING. Tools are reported to
// read it in STANDBY too; Options.RedoStartLSNInStandby fills it there, so
// tests can cover both. msdb keeps the documented record: one
// restorehistory row per restore operation, with restore_date (server-local,
// no offset), destination_database_name, backup_set_id and restore_type (D
// database, L log, V verify-only: RESTORE VERIFYONLY … WITH LOADHISTORY,
// which "loads the information into the msdb history tables", writes a V row
// and a backupset row) beside a backupset row for the backup set restored
// (https://learn.microsoft.com/sql/relational-databases/system-tables/restorehistory-transact-sql,
// https://learn.microsoft.com/sql/t-sql/statements/restore-statements-arguments-transact-sql).
// DROP DATABASE leaves msdb's history alone (only
// sp_delete_database_backuphistory removes a database's rows,
// https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-delete-database-backuphistory-transact-sql),
// so the rows of a dropped database stay under its name, beside those of
// any database created or restored under that name later. A restored
// database's create_date is the time of the restore.
//
// # What it does not model
//
// Transactions (beyond their count, see Readers), other tables, UPDATE/DELETE, differential/file/filegroup
// backups, several backup sets or stripes per device (an existing file needs
// INIT or FORMAT), striping across DISK devices, STOPATMARK/STOPBEFOREMARK,
// page blobs and virtual-host S3 URLs (see "Backups to URL"), encryption,
// real data pages (page counts in messages are invented),
// Windows/Kerberos logins, MARS, system database backups. Some edge-case
// texts (3118 for a log restore onto a missing database, 3153) are the
// simulator's best knowledge of SQL Server's. A runtime error ends the batch (SQL Server continues after some
// statement-level errors).
//
// # For tests
//
// Options.Now replaces the clock (nil: time.Now), an instant that the
// server's time zone turns into local dates: every date the simulator
// produces comes from it — backup start and finish dates (HEADERONLY,
// msdb.dbo.backupset), restorehistory.restore_date, create_date, login_time,
// GETDATE(), GETUTCDATE(), SYSDATETIME(), SYSUTCDATETIME() and the seconds in
// message 3014 — so a test can run hours of schedule in seconds. Pauses
// (StepDelay, WAITFOR DELAY) stay in real time. Server.BackupHistory and
// Server.RestoreHistory return msdb's backupset and restorehistory rows
// without T-SQL.
//
// Server.DeleteBackupHistory empties backupset, backupmediafamily and
// restorehistory, as msdb.dbo.sp_delete_backuphistory with an
// @oldest_date of now does (a maintenance plan's History Cleanup Task
// runs it on a schedule), leaving the databases as they are
// (https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-delete-backuphistory-transact-sql).
package sqlsim
