package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/drsctl/drsctl/internal/engine"
)

// Readers. A RESTORE, a RESTORE … WITH RECOVERY and a tail-log BACKUP LOG
// … WITH NORECOVERY need the database alone (3101 otherwise). Ending the
// sessions that use it one KILL at a time does not work:
//   - a session in another database that read this one by a three-part
//     name inside an open transaction holds it, and its current database
//     (sys.dm_exec_sessions.database_id) is not this one;
//   - KILL returns before the session has rolled back and gone;
//   - a pooled reader reconnects within milliseconds;
//   - without VIEW SERVER STATE sys.dm_exec_sessions shows only the
//     caller's own session, so the loop finds nobody and says nothing.
//
// So, as the tools that do this against real servers do (SQL Server's
// "Fail Over to a Log Shipping Secondary": set the database to single-user
// mode before the restore and back to multi-user after it;
// trimble-oss/sql-log-shipping-service; dbatools issue 468), the statement
// runs in one batch behind
//
//	ALTER DATABASE [db] SET SINGLE_USER WITH ROLLBACK IMMEDIATE
//
// which ends every session holding the database, however it holds it,
// returns only once they are gone, needs ALTER on the database rather than
// VIEW SERVER STATE and processadmin, and leaves no gap between batches for
// a reconnecting reader to take the one place. The session that ran it
// from master does not hold that place, though: a reader reconnecting at
// once can take it between the ALTER and the moment the RESTORE locks the
// database, and the RESTORE fails with 3101. How long that moment is
// depends on what RESTORE does before it locks (opening a backup on a
// share or a URL can take seconds), which the documentation does not say.
// So a restore onto a standby first takes the database back
// to RESTORING, where nobody can enter (927), with a statement that opens
// no device,
//
//	RESTORE DATABASE [db] WITH NORECOVERY
//
// as trimble-oss/sql-log-shipping-service does ("put DB into RESTORING
// state. This will prevent sessions re-connecting", its PR 33), and only
// then restores the backup; should that fail, RESTORE DATABASE [db] WITH
// STANDBY = N'undo' makes the database readable again as it was. RECOVERY
// and a tail-log backup open nothing before they take the database. Then,
// when the statement leaves the database ONLINE (a STANDBY restore,
// RECOVERY),
//
//	ALTER DATABASE [db] SET MULTI_USER
//
// in the same batch. When it leaves the database RESTORING (a NORECOVERY
// restore, the tail-log backup) that statement is refused (5052: ALTER
// DATABASE is not permitted while a database is in the Restoring state),
// and not needed: nobody can use a RESTORING database, and the restore
// that brings it back ONLINE brings the user access of the database it
// restores. The ALTER is sent only to a database that can have readers
// and that the statement may take from them: a standby (ONLINE and
// read-only; SQL Server accepts the ALTER there) for a restore or RECOVERY,
// the ONLINE primary for a tail-log backup. A RESTORING database has no
// readers and refuses it, an absent one has neither, and an ONLINE
// database that is not a standby is not drsctl's to empty for a restore
// (the restore then fails with 3101 or for its own reasons).
//
// If the batch stops between the two (a failed RESTORE, a runner killed
// mid-batch), the database would stay SINGLE_USER and readers would be
// locked out: after every attempt the engine reads user_access_desc and
// sets MULTI_USER back on an ONLINE database it set to SINGLE_USER, and on
// a standby or a database being recovered (drsctl's to keep) whatever set
// it, so the next run repairs what an interrupted one left. Nothing later
// repairs a primary, so when a tail-log backup's run is stopped or loses
// its connection after the ALTER, MULTI_USER is set back at once on
// another connection (multiUserElsewhere).
const queryAccess = `SELECT state_desc, is_in_standby, user_access_desc FROM sys.databases WHERE name = @p1`

// disconnectAttempts bounds how often a statement with DisconnectUsers is
// tried again when a session took the database between the ALTER and the
// statement (3101).
const disconnectAttempts = 3

// exclusive is a statement that needs its database alone.
type exclusive struct {
	database   string
	stmt       string
	disconnect bool // end the sessions using the database first
	// primary: the database is an ONLINE primary (a tail-log backup), not
	// a standby.
	primary bool
	// onlineAfter: the statement leaves the database ONLINE when it
	// succeeds, so MULTI_USER can follow it in the batch.
	onlineAfter bool
	// keep: the database's user access is drsctl's to keep (a standby, a
	// database being recovered): a SINGLE_USER left by an interrupted run
	// is undone even when this run did not set it.
	keep bool
	// undo, for a restore from a backup onto a standby: the standby is
	// taken back to RESTORING before the backup is opened, and made a
	// standby again with this undo file if the restore fails.
	undo string
	// repairOn, for a primary: a pool the user access is set back through
	// when the run was stopped or lost its connection after SET
	// SINGLE_USER (see multiUserElsewhere).
	repairOn *sql.DB
}

type access struct {
	exists  bool
	state   string // ONLINE, RESTORING…
	standby bool
	user    string // MULTI_USER, SINGLE_USER, RESTRICTED_USER
}

func readAccess(ctx context.Context, c *sql.Conn, database string) (access, error) {
	var a access
	var user sql.NullString
	var standby sql.NullBool
	err := c.QueryRowContext(ctx, queryAccess, database).Scan(&a.state, &standby, &user)
	if errors.Is(err, sql.ErrNoRows) {
		return access{}, nil
	}
	if err != nil {
		return access{}, err
	}
	a.exists, a.standby, a.user = true, standby.Bool, user.String
	return a, nil
}

// runExclusive runs x.stmt on c (parked in master), ending the database's
// sessions first when x.disconnect, and leaves the database MULTI_USER.
func runExclusive(ctx context.Context, c *sql.Conn, lost <-chan struct{}, x exclusive, progress engine.Progress) error {
	db := quoteIdent(x.database)
	if !x.disconnect && !x.keep {
		return run(ctx, c, lost, x.stmt, progress)
	}
	for attempt := 1; ; attempt++ {
		before, err := readAccess(ctx, c, x.database)
		if err != nil {
			return err
		}
		single := x.disconnect && before.state == "ONLINE" && before.standby != x.primary
		park := single && x.undo != ""
		batch := x.stmt
		if park {
			batch = "RESTORE DATABASE " + db + " WITH NORECOVERY;\n" + batch
		}
		if single {
			batch = "ALTER DATABASE " + db + " SET SINGLE_USER WITH ROLLBACK IMMEDIATE;\n" + batch
			if x.onlineAfter {
				batch += ";\nALTER DATABASE " + db + " SET MULTI_USER"
			}
		}
		err = run(ctx, c, lost, batch, progress)
		if err != nil && park {
			unpark(ctx, c, lost, x.database, x.undo)
		}
		if single || x.keep {
			// After a failure the statement's own error is the one to
			// report; the next run repairs what this one could not.
			if rerr := multiUser(ctx, c, lost, x.database); rerr != nil && err == nil {
				return rerr
			}
		}
		if err != nil && single && x.primary && x.repairOn != nil && gone(ctx, lost) {
			if rerr := multiUserElsewhere(ctx, x.repairOn, x.database); rerr != nil {
				err = fmt.Errorf("%w; %v", err, rerr)
			}
		}
		if err != nil && x.disconnect && attempt < disconnectAttempts && hasNumber(err, errExclusive) {
			continue
		}
		return err
	}
}

// unpark makes a standby that a failed restore left RESTORING (after
// RESTORE … WITH NORECOVERY) a readable standby again. A failure here
// leaves it RESTORING, which the next restore continues from; the
// restore's own error is the one reported.
func unpark(ctx context.Context, c *sql.Conn, lost <-chan struct{}, database, undo string) {
	if gone(ctx, lost) {
		return
	}
	if a, err := readAccess(ctx, c, database); err != nil || a.state != "RESTORING" {
		return
	}
	_ = run(ctx, c, lost, "RESTORE DATABASE "+quoteIdent(database)+" WITH STANDBY = "+quoteString(undo), engine.NoProgress)
}

// multiUser sets an ONLINE database left SINGLE_USER back to MULTI_USER.
func multiUser(ctx context.Context, c *sql.Conn, lost <-chan struct{}, database string) error {
	if gone(ctx, lost) {
		return nil // the statement's own error says why
	}
	a, err := readAccess(ctx, c, database)
	if err != nil || a.state != "ONLINE" || a.user != "SINGLE_USER" {
		return err
	}
	stmt := "ALTER DATABASE " + quoteIdent(database) + " SET MULTI_USER"
	if err := run(ctx, c, lost, stmt, engine.NoProgress); err != nil {
		return fmt.Errorf("%s is left SINGLE_USER (only one session may use it); %s: %w", quoteIdent(database), stmt, err)
	}
	return nil
}

// gone: the connection was lost, or the run was cancelled (a runner
// stopped). Nothing more is sent then: a cancelled statement's connection
// may still wait for the server to acknowledge the attention, and a query
// on it blocks until the server answers, which a silent server never does
// (the runner would never stop). The next run repairs what is left.
func gone(ctx context.Context, lost <-chan struct{}) bool {
	select {
	case <-lost:
		return true
	default:
	}
	return ctx.Err() != nil
}

// repairTimeout bounds the repair of a primary's user access after a
// stopped run.
const repairTimeout = 30 * time.Second

// multiUserElsewhere sets a primary that a stopped or disconnected run
// left SINGLE_USER (after its ALTER, before the tail-log backup ended)
// back to MULTI_USER, on another connection and past the run's
// cancellation: the run's own connection may wait for the server's
// attention ack, and nothing later repairs a primary (its backups never
// touch its user access; only a standby is drsctl's to keep), so its
// applications would be held to one session at a time until someone
// noticed.
func multiUserElsewhere(ctx context.Context, pool *sql.DB, database string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), repairTimeout)
	defer cancel()
	stmt := "ALTER DATABASE " + quoteIdent(database) + " SET MULTI_USER"
	fail := func(err error) error {
		return fmt.Errorf("%s may be left SINGLE_USER (only one session may use it): run %s on the server: %w", quoteIdent(database), stmt, err)
	}
	c, err := pool.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	a, err := readAccess(ctx, c, database)
	if err != nil {
		return fail(err)
	}
	if a.state != "ONLINE" || a.user != "SINGLE_USER" {
		return nil
	}
	if _, err := c.ExecContext(ctx, stmt); err != nil {
		return fail(err)
	}
	return nil
}
