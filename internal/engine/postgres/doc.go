// Package postgres is drsctl's PostgreSQL engine: base backups and WAL
// taken from a primary through the replication protocol, carried by drsctl,
// and replayed by hot standbys drsctl builds and runs on the target's host.
//
// Section numbers below are those of the PostgreSQL 15 documentation;
// where a section's number is not certain, its page and anchor are given.
//
// # Primary
//
// One cluster, one pseudo-database. A primary protects a whole cluster
// (a base backup and WAL are cluster-wide, 26.3 "Continuous Archiving and
// Point-in-Time Recovery"); the core names it with one database name
// (the configuration's "cluster"), echoed back in every report and header.
//
// Identity. A primary's identity is its system identifier
// (pg_control_system(), "Control Data Functions",
// functions-info.html#FUNCTIONS-INFO-CONTROLDATA) and the timeline
// it writes on (the first eight hex digits of
// pg_walfile_name(pg_current_wal_lsn()), 9.27.3 "Backup Control
// Functions"): a promotion (27.3 "Failover") starts a new timeline at
// once, while pg_control_checkpoint().timeline_id follows only at the next
// checkpoint. A server in recovery (pg_is_in_recovery(), 9.27.4 "Recovery
// Control Functions") is reported IN RECOVERY with no log chain.
//
// The slot holds, the ledger decides. drsctl keeps one physical
// replication slot, "drsctl" (27.2.6 "Replication Slots";
// pg_replication_slots, view-pg-replication-slots.html), created with CREATE_REPLICATION_SLOT …
// PHYSICAL RESERVE_WAL (55.4 "Streaming Replication Protocol") before a
// base backup starts, so the WAL from the backup's start is held. A log
// backup takes WAL from the position the ledger gives (BackupRequest.From)
// and confirms nothing to the server while it streams: its standby status
// updates carry position 0 (InvalidXLogRecPtr), which the walsender
// ignores for the slot (src/backend/replication/walsender.c,
// ProcessStandbyReplyMessage calls PhysicalConfirmReceivedLocation only for
// a valid flush position, and that sets restart_lsn to whatever was sent).
// The next log backup moves the slot to its own From with
// pg_replication_slot_advance (9.27.6 "Replication Management Functions"):
// the ledger recorded everything before it. A log backup whose record was
// lost is therefore taken again with the same bytes, and a From before
// what the slot holds (or a lost slot: wal_status "lost" once
// max_slot_wal_keep_size, 20.6.1, was exceeded) asks for a new full backup.
// Whole segments end at a pg_switch_wal() boundary (9.27.3), so the RPO is
// the log backup interval. A log backup the primary can no longer serve
// (slot missing or lost, WAL released before From) fails with an error
// wrapping engine.ErrChain: only a new base backup helps.
//
// Idle primary. An idle primary still writes background records (a
// running-transactions snapshot after each switch, 27.4 "Hot Standby"; a
// checkpoint), so closing the open segment on every run would ship a
// segment of them each time (about 20 KB gzipped) and cause the next. When
// everything before the open segment was taken, a log backup first reads
// the open segment up to the flushed end (a replication connection without
// the slot) and leaves it open — an empty log, FirstLSN = LastLSN — when
// every record in it carries no transaction ID and comes from the XLOG or
// standby resource managers (src/include/access/xlogrecord.h,
// rmgrlist.h). Unflushed WAL is waited for three times wal_writer_delay,
// the bound on an asynchronous commit's flush (30.4 "Asynchronous
// Commit"); a synchronous commit is flushed before it is acknowledged. Any
// doubt closes the segment as usual; a switchover always closes it.
//
// Base backups. BASE_BACKUP (55.4) with a fast checkpoint, a manifest with
// SHA-256 checksums, and WAIT false: drsctl takes the WAL from its slot,
// not from archive_command, so it does not wait for an archiver it does
// not use (a failing archive_command would otherwise stall the backup).
// A slot that lost its WAL is dropped and created again: a new base backup
// starts a new chain anyway. Start and Finish in headers are drsctl's
// clock (UTC), not the server's.
//
// Planned switchover. The last log backup (BackupRequest.NoRecovery) first
// makes the primary read-only: ALTER SYSTEM SET
// default_transaction_read_only = on and pg_reload_conf() (20.1.2
// "Parameter Interaction via the Configuration File", 20.11.1 "Statement
// Behavior"); the reload reaches every backend before its next command.
// With DisconnectUsers, the other client sessions are ended
// (pg_terminate_backend, 9.27.2 "Server Signaling Functions"); without it,
// a session holding a transaction begun before the primary became
// read-only (pg_stat_activity backend_xid, xact_start, 28.2.3) may still
// write, so the switchover fails with ErrInUse and the setting is undone.
// Then pg_switch_wal and the WAL up to it, as any log backup. The old
// primary stays up, read-only (ObservePrimary says READ ONLY; its chain
// is intact): the operator stops it, or makes it writable again with
// ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf().
// A switchover whose log backup fails undoes the read-only setting, as a
// failed tail-log backup leaves a SQL Server database online — unless the
// primary was read-only already (a retried switchover: then only sessions
// holding a transaction ID count as writers, and a failure leaves it
// read-only). A run killed midway leaves it read-only; the retry carries on.
//
// Advice. A login without REPLICATION (22.2 "Role Attributes"), without
// EXECUTE on pg_switch_wal, without ALTER SYSTEM on
// default_transaction_read_only (GRANT … ON PARAMETER, PostgreSQL 15) or
// pg_signal_backend (22.5 "Predefined Roles"); wal_level minimal,
// max_wal_senders 0 or no free max_replication_slots (20.6); and
// max_slot_wal_keep_size = -1 (unbounded: a stalled drsctl fills pg_wal).
// drsctl's replication connections name a database (replication=database),
// so pg_hba.conf matches them by that database's lines, not by
// "replication" ones (21.1 "The pg_hba.conf File").
//
// # Standby
//
// A target's cluster runs from data_dir on the host drsctl runs on.
// drsctl keeps its own area beside it, <data_dir>.drsctl/: standby.json
// (the marker: this cluster is drsctl's, and its restore history, which
// PostgreSQL does not keep), wal/ (the inbox of shipped segments) and
// postgres.log. A data directory with files but no marker is someone
// else's cluster and is never replaced.
//
//   - Seeding follows "Setting Up a Standby Server" (27.2.4) and
//     "Recovering Using a Continuous Archive Backup" (26.3.4): the base backup is unpacked into an
//     empty directory, checked against its backup_manifest ("Backup Manifest
//     Format", whose WAL-Ranges give the WAL the backup needs: from the
//     checkpoint's redo point to the backup's end), postmaster.pid and
//     postmaster.opts removed, standby.signal created, and
//     postgresql.auto.conf — read after postgresql.conf ("Parameter
//     Interaction via the Configuration File", 20.1.2) — made to override
//     what the primary's configuration, carried in the backup, says: port
//     and listen_addresses from the target's connection; hot_standby = on
//     ("Hot Standby", 27.4); archive_mode = off; primary_conninfo
//     empty (WAL comes only through restore_command); restore_command ("Archive
//     Recovery", runtime-config-wal.html#RUNTIME-CONFIG-WAL-ARCHIVE-RECOVERY);
//     recovery_target_timeline = 'latest' ("Recovery Target",
//     runtime-config-wal.html#RUNTIME-CONFIG-WAL-RECOVERY-TARGET: the default since PostgreSQL 12, written out so the
//     primary's configuration cannot change it); wal_retrieve_retry_interval
//     = '1s' ("Standby Servers", 20.6.3: how long the standby waits before
//     asking restore_command again for a segment not there yet; the default
//     5 s adds to every log restore's confirmation); and
//     unix_socket_directories set to drsctl's area when none of the
//     directories the primary's configuration names exist here ("Connection
//     Settings", 20.3.1; the effective value is read with `postgres -C`,
//     see the postgres reference page). The WAL segment size and system
//     identifier come from pg_controldata.
//   - The cluster runs as the postgres OS user when drsctl runs as root
//     ("The PostgreSQL User Account", 19.1: the server refuses root), through
//     runuser, with the data directory mode 0700 ("Creating a Database
//     Cluster", 19.2). It is started with `pg_ctl start -W` (pg_ctl
//     reference page): a standby accepts connections only once it reached a
//     consistent state ("Hot Standby", 27.4.1), which needs WAL up to the
//     backup's end, shipped by the next log restore; so drsctl checks only
//     that the postmaster stays up. It is stopped with `pg_ctl stop -m fast`
//     ("Shutting Down the Server", 19.5) before a standby is replaced.
//   - restore_command is `drsctl wal-fetch -dir <inbox> %f %p`. Exit 0 when
//     the file was copied, non-zero when not there (the standby then tries
//     pg_wal and waits wal_retrieve_retry_interval: "Standby Server
//     Operation", 27.2.2); never a code above 125, which would end recovery
//     ("Recovering Using a Continuous Archive Backup", 26.3.4). Timeline
//     history files (XXXXXXXX.history) are asked for while looking for newer
//     timelines; not there, they are simply not found.
//   - A log restore puts each segment in the inbox (a new name only:
//     different bytes under a name already there are refused) and is done
//     when the standby replayed them: wal-fetch records in wal/.wanted the
//     newest segment it was asked for and did not have, and the standby asks
//     for the segment after the last one shipped only once it needs WAL
//     beyond it; then pg_last_wal_replay_lsn() ("Recovery Control
//     Functions", 9.27.4) must be inside or past the last segment (recovery_prefetch,
//     runtime-config-wal.html#RUNTIME-CONFIG-WAL-RECOVERY, reads WAL ahead
//     of replay, hence both). That position is recorded. Segments before the one replay is in
//     are removed from the inbox: the standby keeps the segments it restored
//     in its own pg_wal until its next restartpoint (not documented; the
//     server's xlogarchive.c, KeepFileRestoredFromArchive), so a restart
//     needs nothing older from the inbox.
//   - ObserveStandby reads pg_is_in_recovery() ("Recovery Control
//     Functions", 9.27.4): true is a hot standby, false a promoted one. A
//     stopped cluster (no live postmaster.pid, as pg_ctl status checks),
//     one with no listener yet, or one answering SQLSTATE 57P03
//     (cannot_connect_now: starting up, not yet consistent; "PostgreSQL
//     Error Codes", Appendix A) is restoring, never an error.
//   - Recover promotes with pg_promote(true, 60) ("Recovery Control
//     Functions", 9.27.4; "Failover", 27.3). Before it finishes recovery the
//     standby replays whatever WAL is already in the archive — here the
//     inbox — or pg_wal ("Standby Server Operation", 27.2.2). Readers never
//     block promotion.
//
// # Worst week
//
//   - A postmaster.pid left by a crash or a power cut names a PID that,
//     after a reboot, may be another process's. PostgreSQL itself checks the
//     PID only with kill(pid, 0) (the server's miscinit.c, CreateLockFile;
//     "Starting the Database Server", 19.3, on a stale lock file), which
//     drsctl, running as root, would always see succeed. The postmaster
//     changes into its data directory at start ("Creating a Database
//     Cluster", 19.2, and the postgres reference page: -D), so a process
//     whose working directory (/proc/PID/cwd, proc(5)) is elsewhere is not
//     the standby's postmaster: the standby is stopped (and never signalled
//     through pg_ctl stop, which would signal that process), and the next
//     log restore removes the stale postmaster.pid — the server refuses to
//     start over one naming a live process of its own user — and starts it.
//   - A promotion ends standby mode ("Failover", 27.3; "Standby Server
//     Operation", 27.2.2) and removes standby.signal (not documented in
//     those words; the server's xlog.c, StartupXLOG, at the end of archive
//     recovery). A stopped cluster of drsctl's without it, or one drsctl
//     promoted, would start as a primary: it is reported ONLINE (the plan
//     leaves it alone until `drsctl promote` and `drsctl reprotect`), and a
//     log restore refuses it without shipping WAL or starting it.
//   - Every connection is bounded: connect_timeout from the connection
//     string ("Parameter Key Words", 34.1.2), else ConnectTimeout (30 s).
//     libpq's default is to wait forever, and a server that accepts the TCP
//     connection but never answers would hold apply and its state lock.
//   - Two configurations protecting one primary share the one slot: each
//     log backup moves it (pg_replication_slot_advance, "Replication
//     Management Functions", 9.27.6) to where its own chain continues, past
//     the other's. The other's next log backup is refused as a broken chain
//     (never taken with a gap) and the refusal names that cause: one
//     primary, one configuration.
package postgres
