// Package sqlsim is a TDS-speaking SQL Server simulator: the test double the
// sqlserver engine is tested against, since no SQL Server can run on the
// machines drsctl is built on. go-mssqldb (and FreeTDS's tsql) connect to it
// over TCP as to SQL Server 2022 (16.0.4135.4).
//
// # What it models
//
// Protocol: TDS 7.4 without TLS (PRELOGIN answers ENCRYPT_NOT_SUP; clients use
// encrypt=disable); LOGIN7 for login "sa" (any password when
// Options.Password is empty), with the login database; SQLBatch and RPC
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
//     MOVE … TO …, REPLACE, STATS, CHECKSUM; RESTORE DATABASE|LOG x WITH
//     RECOVERY|STANDBY = ….
//
// Databases have LSNs (decimal numeric(25,0), math/big, never int64),
// starting at Options.LSNBase; each inserted row, checkpoint and backup
// writes a log record. BACKUP writes a real file (a header carrying every
// HEADERONLY field, the rows or the log records, a SHA-256), atomically
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
// RESTORING (927 on use). Everything (databases, rows, log, msdb) persists
// as JSON in DataDir. Options.StepDelay slows BACKUP/RESTORE into ten steps
// so tests can watch live STATS progress and cancel mid-way (no file, no
// history is left).
//
// # What it does not model
//
// Transactions, other tables, UPDATE/DELETE, differential/file/filegroup
// backups, several backup sets or stripes per device (an existing file needs
// INIT or FORMAT), point-in-time restore (STOPAT), backups TO URL (Azure or
// S3: always 3201 "Operating system error 50 … sqlsim has no URL backup"),
// encryption, real data pages (page counts in messages are invented), TLS,
// Windows/Kerberos logins, MARS, system database backups. Some edge-case
// texts (3118 for a log restore onto a missing database, 3153) are the
// simulator's best knowledge of SQL Server's. Dates are UTC (SQL Server uses
// its local time for msdb dates). A runtime error ends the batch (SQL Server
// continues after some statement-level errors).
package sqlsim
