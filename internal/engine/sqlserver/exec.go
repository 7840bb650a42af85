package sqlserver

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-sql/sqlexp"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/engine"
)

// SQL Server error numbers the engine acts on (SQLSERVER.md).
const (
	errTerminating     = 3013 // BACKUP/RESTORE is terminating abnormally
	errRestorePlanning = 3119 // problems identified while planning; previous messages say which
	errExclusive       = 3101 // database in use
	errNotReady        = 3117 // no files are ready to rollforward
	errLogTooRecent    = 4305
	errLogTooEarly     = 4326
	errRecoveryPath    = 4330
	errInterrupted     = 4319 // a previous restore was interrupted (the database is left mid-restore)
	errLogNotRestored  = 4333 // RECOVERY of a database whose restore was interrupted
	errDeviceOpen      = 3201 // cannot open backup device
	errDeviceRead      = 3203 // read on a backup device failed
	errRestorePage     = 3183 // RESTORE detected an error on a page
	errBackupDamaged   = 3189 // damage to the backup set was detected
	errMediaFamily     = 3241 // the media family on the device is incorrectly formed
	errNewerVersion    = 3169 // the backup comes from a newer SQL Server version
	errStandbyUpgrade  = 3180 // STANDBY of a backup the restore must upgrade (older version)
	errSingleUser      = 924  // the database is single-user and another session is in it
	errSingleUserBusy  = 5064 // no change while a single-user database has a user
	errStateInUse      = 5070 // no state change while others use the database (NO_WAIT)
	msgPercent         = 3211 // "N percent processed."
)

// ServerError is a statement SQL Server refused. Its message names the
// statement's target and the real causes (never only the generic 3013):
//
//	restore log [Sales] from /x/y.trn: SQL Server error 4305: The log in this backup set begins at LSN …
//
// It wraps engine.ErrInUse or engine.ErrChain when the causes say so, and
// the driver's mssql.Error.
type ServerError struct {
	Target string        // "restore log [Sales] from /x/y.trn"
	Causes []mssql.Error // in the order the server sent them, 3013 left out
	Hint   string        // what to do, when the causes alone do not say
	kind   error
	err    mssql.Error
}

func (e *ServerError) Error() string {
	parts := make([]string, len(e.Causes))
	for i, c := range e.Causes {
		parts[i] = fmt.Sprintf("SQL Server error %d: %s", c.Number, c.Message)
		if c.Class >= severityFatal {
			parts[i] += fmt.Sprintf(" (severity %d: the server ended the connection)", c.Class)
		}
	}
	msg := e.Target + ": " + strings.Join(parts, "; ")
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *ServerError) Unwrap() []error {
	if e.kind != nil {
		return []error{e.kind, e.err}
	}
	return []error{e.err}
}

// Has reports whether the server sent error number n.
func (e *ServerError) Has(n int32) bool {
	for _, c := range e.Causes {
		if c.Number == n {
			return true
		}
	}
	return false
}

// newServerError keeps the causes of a failure: every message but the
// closing 3013 (and the 3119 summary) unless nothing else was sent.
func newServerError(target string, all []mssql.Error) *ServerError {
	var causes []mssql.Error
	for _, m := range all {
		if m.Number != errTerminating && m.Number != errRestorePlanning {
			causes = append(causes, m)
		}
	}
	if len(causes) == 0 {
		causes = all
	}
	last := all[len(all)-1]
	last.All = all
	e := &ServerError{Target: target, Causes: causes, err: last}
	switch {
	case e.Has(errNewerVersion):
		e.kind = engine.ErrIncompatible
		e.Hint = "the backup was taken by a newer SQL Server major version than the target's, and SQL Server restores a backup only on the same or a newer major version: " +
			"upgrade the target's SQL Server to at least the primary's major version, or use a target server that runs it; retrying changes nothing"
	case e.Has(errStandbyUpgrade):
		e.kind = engine.ErrIncompatible
		e.Hint = "the backup was taken by an older SQL Server major version than the target's, so restoring it upgrades the database, which a STANDBY (readable) restore cannot do: " +
			"set restore_mode = \"norecovery\" on this target (the database is then not readable until it is promoted), or run the same major version on the primary and the target; retrying changes nothing"
	case e.Has(errExclusive), e.Has(errSingleUser), e.Has(errSingleUserBusy), e.Has(errStateInUse):
		e.kind = engine.ErrInUse
	case e.Has(errInterrupted), e.Has(errLogNotRestored):
		// RESTORE … WITH RESTART only resumes the interrupted backup set
		// (restoring it again without RESTART starts it over); a new
		// sequence needs a full WITH REPLACE. Which is right depends on who
		// started the restore, which only the ledger knows: the planner
		// reseeds a seed drsctl started (RestoreFull with Replace).
		e.kind = engine.ErrChain
		e.Hint = "a previous RESTORE DATABASE of it was interrupted and left it mid-restore with nothing to roll forward: " +
			"restore the full backup that was interrupted again, or another full WITH REPLACE; drsctl reseeds it when it started that restore, " +
			"otherwise finish or drop it on the server"
	case e.Has(errLogTooEarly) && !e.Has(errLogTooRecent) && !e.Has(errRecoveryPath):
		// The database is already past this log's end: behind it, not a
		// gap. The caller moves on to the next log.
		e.kind = engine.ErrAlreadyRestored
	case e.Has(errLogTooRecent), e.Has(errRecoveryPath), e.Has(errNotReady):
		e.kind = engine.ErrChain
	case e.Has(errDeviceOpen), e.Has(errDeviceRead), e.Has(errRestorePage), e.Has(errBackupDamaged), e.Has(errMediaFamily):
		e.kind = engine.ErrDamaged
	}
	return e
}

// fail describes err from a statement on target: a ServerError for what the
// server refused, engine.ErrUnreachable for a lost connection or a timeout,
// the context's error for a cancellation.
func (s *session) fail(ctx context.Context, target string, err error) error {
	var se *ServerError
	if errors.As(err, &se) {
		return err
	}
	var me mssql.Error
	if errors.As(err, &me) {
		all := me.All
		if len(all) == 0 {
			all = []mssql.Error{me}
		}
		e := newServerError(target, all)
		e.addGrantHints(s.login)
		return e
	}
	if errors.Is(err, engine.ErrUnreachable) {
		if !strings.Contains(err.Error(), s.server) {
			// "connection lost" alone does not say which server.
			return fmt.Errorf("%s: %w (SQL Server at %s)", target, err, s.server)
		}
		return fmt.Errorf("%s: %w", target, err)
	}
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return fmt.Errorf("%s: %w: no answer from %s in time: %w", target, engine.ErrUnreachable, s.server, ctx.Err())
	case context.Canceled:
		return fmt.Errorf("%s: %w", target, ctx.Err())
	}
	if unreachable(err) {
		if strings.Contains(target+err.Error(), s.server) {
			return fmt.Errorf("%s: %w: %w", target, engine.ErrUnreachable, err)
		}
		return fmt.Errorf("%s: %w: %s: %w", target, engine.ErrUnreachable, s.server, err)
	}
	return fmt.Errorf("%s: %w", target, err)
}

// unreachable reports whether err means the server could not be reached or
// the connection broke.
func unreachable(err error) bool {
	var ne net.Error
	var stream mssql.StreamError
	switch {
	case errors.Is(err, sqldriver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne), errors.As(err, &stream):
		return true
	}
	return false
}

var errConnectionLost = errors.New("connection lost")

// run sends one BACKUP or RESTORE on a dedicated connection, passing its
// STATS messages (3211) to progress, and returns every error the server
// sent, cause first. lost is the connection's watch (see dedicated).
func run(ctx context.Context, c *sql.Conn, lost <-chan struct{}, stmt string, progress engine.Progress) error {
	if progress == nil {
		progress = engine.NoProgress
	}
	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var connLost atomic.Bool
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-lost:
			connLost.Store(true)
			cancel()
		case <-stop:
		}
	}()

	retmsg := &sqlexp.ReturnMessage{}
	rows, err := c.QueryContext(loopCtx, stmt, retmsg)
	if err != nil {
		if connLost.Load() {
			return errConnLost(err)
		}
		return err
	}
	defer rows.Close()
	var errs []mssql.Error
	var transport error
	for active := true; active; {
		switch m := retmsg.Message(loopCtx).(type) {
		case sqlexp.MsgNotice:
			if e, ok := m.Message.(mssql.Error); ok && e.Number == msgPercent {
				// "N percent processed." says no more than N: no words,
				// or apply's lines read "10% 10 percent processed.".
				if n := percentOf(e.Message); n >= 0 {
					progress.Step(n, "")
				} else {
					progress.Step(n, e.Message)
				}
			}
		case sqlexp.MsgError:
			var me mssql.Error
			if errors.As(m.Error, &me) {
				errs = append(errs, me)
			} else {
				transport = m.Error
				active = false
			}
		case sqlexp.MsgNext:
			for rows.Next() {
			}
		case sqlexp.MsgNextResultSet:
			if loopCtx.Err() != nil {
				active = false
				break
			}
			active = rows.NextResultSet()
		}
	}
	// The watcher goroutine may not have run yet: a connection that broke
	// before the first reply ends go-mssqldb's message queue as if the
	// statement had finished, with no error. lost is closed before the
	// driver sees the failed read, so it is checked here once more.
	select {
	case <-lost:
		connLost.Store(true)
	default:
	}
	if connLost.Load() || transport != nil {
		// A server that ends the connection after an error of severity 20
		// or more (see severityFatal) said why: its messages, queued before the
		// read that failed, are the failure, not the lost connection.
		errs = append(errs, drain(retmsg)...)
		if fatal(errs) {
			last := errs[len(errs)-1]
			last.All = errs
			return last
		}
		return errConnLost(transport)
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	}
	if err := rows.Err(); err != nil && len(errs) == 0 {
		return err
	}
	if len(errs) > 0 {
		last := errs[len(errs)-1]
		last.All = errs
		return last
	}
	return nil
}

// severityFatal is the lowest severity of the errors after which SQL
// Server ends the connection ("Database Engine error severities": 20-24
// are fatal; the task ends and, in most cases, so does the connection).
const severityFatal = 20

// fatal reports whether the server sent an error of severity 20 or more.
func fatal(errs []mssql.Error) bool {
	for _, e := range errs {
		if e.Class >= severityFatal {
			return true
		}
	}
	return false
}

// drain takes the server errors go-mssqldb had queued when the loop ended
// (the connection's loss can be seen before the messages read ahead of it).
func drain(retmsg *sqlexp.ReturnMessage) []mssql.Error {
	var errs []mssql.Error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		m := retmsg.Message(ctx)
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			if _, ok := m.(sqlexp.MsgNextResultSet); ok {
				return errs // nothing queued: Message gave up
			}
		}
		if me, ok := m.(sqlexp.MsgError); ok {
			var e mssql.Error
			if errors.As(me.Error, &e) {
				errs = append(errs, e)
			}
		}
	}
}

func errConnLost(cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: %w", engine.ErrUnreachable, errConnectionLost)
	}
	return fmt.Errorf("%w: %w: %w", engine.ErrUnreachable, errConnectionLost, cause)
}

// percentOf reads N from "N percent processed."; -1 if there is none.
func percentOf(msg string) int {
	f := strings.Fields(msg)
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 || n > 100 {
		return -1
	}
	return n
}

// ---- the server's clock ----

// serverOffset is how far the server's local time (which msdb and RESTORE
// HEADERONLY use) is ahead of UTC, now.
func (s *session) serverOffset(ctx context.Context) (time.Duration, error) {
	var local, utc time.Time
	if err := s.db.QueryRowContext(ctx, "SELECT GETDATE(), GETUTCDATE()").Scan(&local, &utc); err != nil {
		return 0, err
	}
	return wallClock(local).Sub(wallClock(utc)).Round(time.Minute), nil
}

// wallClock reads t's wall clock as if it were UTC (go-mssqldb returns
// datetime values without a zone in UTC already; this makes it explicit).
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// toUTC turns a server-local datetime into UTC; zero stays zero.
func toUTC(t time.Time, offset time.Duration) time.Time {
	if t.IsZero() {
		return t
	}
	return wallClock(t).Add(-offset)
}

// toServerLocal turns t into the server's local wall clock, as a datetime
// parameter (msdb's dates are local).
func toServerLocal(t time.Time, offset time.Duration) mssql.DateTime1 {
	floor := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	if t.Before(floor) {
		return mssql.DateTime1(floor)
	}
	return mssql.DateTime1(t.UTC().Add(offset))
}
