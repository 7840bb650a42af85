package sqlserver

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/drsctl/drsctl/internal/engine"
)

// A server can stop answering without closing anything: a frozen host or
// process, storage stalled under it, all its workers blocked, a path that
// drops packets. TCP keep-alives do not see that (the kernel still answers
// them), so every wait here has an end:
//
//   - a login (dial, PRELOGIN, LOGIN7) ends after the connection timeout;
//   - a short statement (every one but BACKUP and RESTORE, on the pool) ends
//     when no reply byte came for the command timeout;
//   - BACKUP and RESTORE may be silent for minutes on a real server
//     (creating and zeroing files, between the progress messages of a large
//     restore), so no reply deadline applies to them; instead, when their
//     connection has waited for the connection timeout, the server is asked
//     for a trivial answer on another connection (a liveness check), and
//     only when it gives none is the statement's connection closed.
const (
	defaultLoginTimeout   = 30 * time.Second
	defaultCommandTimeout = 60 * time.Second
	// commandTimeoutKey is SqlClient's connection string keyword (seconds),
	// which go-mssqldb leaves in Parameters.
	commandTimeoutKey = "command timeout"
)

type limits struct {
	login   time.Duration // dial + PRELOGIN + LOGIN7
	command time.Duration // longest wait for a reply to a short statement
}

// limitsOf reads `connection timeout` (go-mssqldb's ConnTimeout; ADO's
// Connect Timeout) and `command timeout`; unset or 0 takes the default: an
// unbounded wait is never what a scheduled run wants.
func limitsOf(cfg msdsn.Config) (limits, error) {
	l := limits{login: cfg.ConnTimeout, command: defaultCommandTimeout}
	if l.login <= 0 {
		l.login = defaultLoginTimeout
	}
	if v, ok := cfg.Parameters[commandTimeoutKey]; ok {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return l, fmt.Errorf("invalid command timeout %q: a number of seconds", v)
		}
		if n > 0 {
			l.command = time.Duration(n) * time.Second
		}
	}
	return l, nil
}

// ---- logins ----

// loginConnector bounds go-mssqldb's logins: its reads during PRELOGIN and
// LOGIN7 otherwise have no deadline once `connection timeout` is off, and
// it does not watch the context there.
type loginConnector struct {
	inner  *mssql.Connector
	lim    limits
	server string
}

type loginKey struct{}

// login collects the connections dialed for one login, so that its
// deadline can close them.
type login struct {
	mu    sync.Mutex
	conns []net.Conn
	ended bool
}

func (l *login) dialed(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		c.Close() // dialed just as the deadline passed
		return
	}
	l.conns = append(l.conns, c)
}

// loggedIn arms the reply deadline of a pool connection: the login had
// its own.
func (l *login) loggedIn() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if rc, ok := c.(*replyDeadlineConn); ok {
			rc.armed.Store(true)
		}
	}
}

func (l *login) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	for _, c := range l.conns {
		c.Close()
	}
}

func (c *loginConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	lctx, cancel := context.WithTimeout(ctx, c.lim.login)
	defer cancel()
	l := &login{}
	lctx = context.WithValue(lctx, loginKey{}, l)
	stop := context.AfterFunc(lctx, l.end)
	dc, err := c.inner.Connect(lctx)
	if stop() {
		if err == nil {
			l.loggedIn()
		}
		return dc, err
	}
	// The deadline or the caller's context ended the login; a connection
	// that made it anyway was closed under it.
	if err == nil { // on error dc may be a typed nil
		dc.Close()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, &noAnswerError{server: c.server, what: "to its login", after: c.lim.login, hint: "connection timeout"}
}

func (c *loginConnector) Driver() sqldriver.Driver { return c.inner.Driver() }

// ---- short statements ----

// replyDeadlineConn is a pool connection: once a request is sent, a reply
// must begin within d and keep coming, or the read fails (and go-mssqldb
// drops the connection). Unlike go-mssqldb's `connection timeout` this only
// ever applies to short statements.
type replyDeadlineConn struct {
	net.Conn
	d      time.Duration
	server string
	armed  atomic.Bool // once logged in
}

func (c *replyDeadlineConn) Read(b []byte) (int, error) {
	if !c.armed.Load() {
		return c.Conn.Read(b)
	}
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.d)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = &noAnswerError{server: c.server, what: "to a statement", after: c.d, hint: "command timeout", err: err}
	}
	return n, err
}

func (c *replyDeadlineConn) Write(b []byte) (int, error) {
	if !c.armed.Load() {
		return c.Conn.Write(b)
	}
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.d)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(b)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = &noAnswerError{server: c.server, what: "to a statement (it takes no more data)", after: c.d, hint: "command timeout", err: err}
	}
	return n, err
}

// noAnswerError is a server that stopped answering. It is a net.Error that
// timed out (so go-mssqldb treats the connection as broken) and wraps
// engine.ErrUnreachable.
type noAnswerError struct {
	server string
	what   string        // "to its login", "to a statement"
	after  time.Duration // how long it was given
	hint   string        // the connection string keyword that sets it
	err    error
}

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("no answer from %s %s within %s (%s)", e.server, e.what, e.after, e.hint)
}
func (e *noAnswerError) Unwrap() []error {
	if e.err != nil {
		return []error{engine.ErrUnreachable, e.err}
	}
	return []error{engine.ErrUnreachable}
}
func (e *noAnswerError) Timeout() bool   { return true }
func (e *noAnswerError) Temporary() bool { return false }

// ---- long statements ----

// watchdog watches a dedicated connection until the returned stop is
// called: whenever it has waited for the server for the connection timeout,
// the server must answer a trivial query on another connection (login and
// reply bounded as usual). If it does not, the connection is closed, and
// stop returns why.
func (s *session) watchdog(ctx context.Context, w *connWatch) (stop func() error) {
	quiet := s.lim.login
	done := make(chan struct{})
	exited := make(chan struct{})
	var hung error
	go func() {
		defer close(exited)
		t := time.NewTicker(min(quiet/4, time.Second))
		defer t.Stop()
		var answered time.Time // the last liveness check the server answered
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			c := w.current()
			if c == nil || c.waitingFor(time.Now()) < quiet || time.Since(answered) < quiet {
				continue
			}
			err := s.alive(ctx)
			if err == nil {
				answered = time.Now()
				continue
			}
			silent := c.waitingFor(time.Now())
			if ctx.Err() != nil || silent == 0 { // cancelled, or a reply came meanwhile
				continue
			}
			select {
			case <-done:
				return
			default:
			}
			hung = fmt.Errorf("%w: %s stopped answering: silent for %s, and a liveness check got no answer: %w",
				engine.ErrUnreachable, s.server, silent.Round(time.Second), err)
			c.Conn.Close()
			return
		}
	}()
	return func() error {
		close(done)
		<-exited
		return hung
	}
}

// alive asks the server for a trivial answer on the pool (a new connection
// if none is idle): nil when it answers, even with an error of its own
// (refusing a login is an answer).
func (s *session) alive(ctx context.Context) error {
	var one int
	err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	var me mssql.Error
	if err == nil || errors.As(err, &me) {
		return nil
	}
	return err
}
