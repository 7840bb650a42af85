// Package sqlserver is drsctl's SQL Server engine: it observes primaries and
// standbys, takes full and log backups, describes backup files and restores
// them, speaking T-SQL through github.com/microsoft/go-mssqldb.
//
// Every statement it sends is written out in this package's functions; names
// and paths enter statement text only through quoteIdent and quoteString,
// and queries take their values as parameters. LSNs stay decimal strings.
// See /work/shared/SQLSERVER.md for the facts it relies on.
package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/drsctl/drsctl/internal/engine"
)

// New returns the SQL Server driver, to be registered as "sqlserver".
func New() engine.Driver { return driver{} }

type driver struct{}

// Open parses a go-mssqldb connection string (URL or ADO form), connects and
// pings. Whatever database the string names, sessions log in to master: the
// engine works server-wide, and a session parked in a user database would
// stop that database from being restored. Errors never contain the
// connection string or its password.
//
// Nothing waits for ever on a server that stops answering (see deadline.go):
// logins end after `connection timeout` (default 30 s), short statements
// after `command timeout` (SqlClient's keyword; default 60 s) without a
// reply, and BACKUP/RESTORE, which a real server runs silently for minutes,
// are ended only when the server also fails a liveness check. TCP
// keep-alives (`keepalive`, default 30 s) find a peer that is gone.
func (driver) Open(ctx context.Context, connection string) (engine.Session, error) {
	if err := checkScheme(connection); err != nil {
		return nil, fmt.Errorf("open sqlserver: %w", err)
	}
	secrets := secretsOf(connection)
	cfg, err := msdsn.Parse(connection)
	if err != nil {
		return nil, fmt.Errorf("open sqlserver: parse connection string: %s", redact(err.Error(), secrets))
	}
	secrets = append(secrets, cfg.Password)
	cfg.Database = "master"
	if _, set := cfg.Parameters[msdsn.AppName]; !set {
		cfg.AppName = "drsctl"
	}
	keepAlive := cfg.KeepAlive
	if keepAlive <= 0 {
		keepAlive = 30 * time.Second
	}
	server := cfg.Host
	if cfg.Port != 0 {
		server = net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	}
	lim, err := limitsOf(cfg)
	if err != nil {
		return nil, fmt.Errorf("open sqlserver: %s", redact(err.Error(), secrets))
	}
	// go-mssqldb applies `connection timeout` to every socket read for the
	// connection's life, which kills a BACKUP or RESTORE silent for longer;
	// here it bounds logins only.
	cfg.ConnTimeout = 0
	inner := mssql.NewConnectorConfig(cfg)
	inner.Dialer = watchDialer{keepAlive: keepAlive, lim: lim, server: server}
	conn := &loginConnector{inner: inner, lim: lim, server: server}

	s := &session{
		server: server,
		login:  cfg.User,
		lim:    lim,
		db:     sql.OpenDB(conn),
		// Dedicated sessions (restores, backups) always dial a connection
		// of their own, so that its loss can be seen (see connWatch).
		dedicatedDB: sql.OpenDB(conn),
	}
	s.dedicatedDB.SetMaxIdleConns(0)
	// Observations ask about databases observeConcurrency at a time.
	s.db.SetMaxIdleConns(observeConcurrency)
	if err := s.db.PingContext(ctx); err != nil {
		s.Close()
		return nil, redactErr(withTLSHint(cfg, s.fail(ctx, "connect to SQL Server "+s.server, err)), secrets)
	}
	s.tlsWarning = tlsWarning(cfg)
	return s, nil
}

// session is one server. Its pools are safe for concurrent use, and it keeps
// no other mutable state.
type session struct {
	server      string // host[:port], for messages
	login       string // the login, for what-to-grant hints ("" integrated)
	tlsWarning  string // what the connection's TLS settings leave open (tls.go)
	lim         limits
	db          *sql.DB // short statements: replies within lim.command
	dedicatedDB *sql.DB // BACKUP/RESTORE sessions: no reply deadline, a liveness check
}

func (s *session) Close() error {
	return errors.Join(s.db.Close(), s.dedicatedDB.Close())
}

// dedicated runs fn on a connection dialed for it alone, logged in to
// master, and tells fn when that connection breaks: go-mssqldb's message
// queue (sqlexp.ReturnMessage) stays silent when a connection dies before
// the first reply, so a BACKUP or RESTORE would otherwise wait for ever.
// While fn waits for a reply, a watchdog checks that the server still
// answers others; when it does not, the connection is closed and fn's
// error is that the server stopped answering.
func (s *session) dedicated(ctx context.Context, fn func(c *sql.Conn, lost <-chan struct{}) error) error {
	w := &connWatch{}
	c, err := s.dedicatedDB.Conn(context.WithValue(ctx, watchKey{}, w))
	if err != nil {
		return err
	}
	defer c.Close()
	stop := s.watchdog(ctx, w)
	err = fn(c, w.lostChan())
	// A statement that succeeded stands, even if the watchdog gave up on
	// the connection as its reply arrived.
	if hung := stop(); hung != nil && err != nil {
		return hung
	}
	return err
}

// ---- connection watching ----

type watchKey struct{}

// watchDialer dials TCP as go-mssqldb would (with keep-alives). A
// connection for a dedicated session (the context carries a connWatch) is
// watched; any other is a pool connection, whose replies must come within
// the command timeout. A login in progress sees its dial (loginKey).
type watchDialer struct {
	keepAlive time.Duration
	lim       limits
	server    string
}

func (d watchDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	// Three unanswered keep-alives, not Linux's nine, end a connection
	// whose peer is gone: about 2 minutes at the default 30 s.
	nd := net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: d.keepAlive, Interval: d.keepAlive, Count: 3}}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if w, ok := ctx.Value(watchKey{}).(*connWatch); ok {
		c = w.attach(c)
	} else {
		c = &replyDeadlineConn{Conn: c, d: d.lim.command, server: d.server}
	}
	if l, ok := ctx.Value(loginKey{}).(*login); ok {
		l.dialed(c)
	}
	return c, nil
}

// connWatch follows the newest connection dialed for one dedicated session.
type connWatch struct {
	mu   sync.Mutex
	lost chan struct{}
	conn *watchedConn
}

func (w *connWatch) attach(c net.Conn) net.Conn {
	wc := &watchedConn{Conn: c, lost: make(chan struct{})}
	w.mu.Lock()
	w.lost = wc.lost
	w.conn = wc
	w.mu.Unlock()
	return wc
}

// lostChan is closed when the connection fails; nil (never ready) if none
// was dialed.
func (w *connWatch) lostChan() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost
}

// current is the watched connection; nil if none was dialed.
func (w *connWatch) current() *watchedConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn
}

type watchedConn struct {
	net.Conn
	once sync.Once
	lost chan struct{}
	// waiting is when the pending Read began (UnixNano), 0 when none is:
	// how long the connection has waited for the server.
	waiting atomic.Int64
}

func (c *watchedConn) broken() { c.once.Do(func() { close(c.lost) }) }

func (c *watchedConn) Read(b []byte) (int, error) {
	c.waiting.Store(time.Now().UnixNano())
	n, err := c.Conn.Read(b)
	c.waiting.Store(0)
	if err != nil {
		c.broken()
	}
	return n, err
}

func (c *watchedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.broken()
	}
	return n, err
}

// waitingFor is how long the pending Read has waited; 0 when none is.
func (c *watchedConn) waitingFor(now time.Time) time.Duration {
	if t := c.waiting.Load(); t != 0 {
		return now.Sub(time.Unix(0, t))
	}
	return 0
}

// ---- secrets ----

// secretsOf lists what must never appear in an error: the connection string
// itself and its password, found even when the string does not parse.
func secretsOf(connection string) []string {
	out := []string{connection}
	if i := strings.Index(connection, "://"); i >= 0 {
		if u, err := url.Parse(connection); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				out = append(out, p)
			}
		}
		// The raw user-info, in case the URL does not parse.
		rest := connection[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				out = append(out, pw)
				if un, err := url.PathUnescape(pw); err == nil {
					out = append(out, un)
				}
			}
		}
	}
	for _, part := range strings.Split(connection, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "password", "pwd":
			out = append(out, v, strings.TrimSpace(v), strings.Trim(strings.TrimSpace(v), `{}"'`))
		}
	}
	return out
}

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "<redacted>")
		}
	}
	return s
}

// redactedError shows a redacted message but keeps the error chain for
// errors.Is (ErrUnreachable…).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: redact(err.Error(), secrets), err: err}
}
