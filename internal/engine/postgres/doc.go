// Package postgres is drsctl's PostgreSQL engine: base backups and WAL
// taken from a primary through the replication protocol, carried by drsctl,
// and replayed by hot standbys drsctl builds and runs on the target's host.
//
// Section numbers below are those of the PostgreSQL 15 documentation;
// where a section's number is not certain, its page and anchor are given.
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
package postgres
