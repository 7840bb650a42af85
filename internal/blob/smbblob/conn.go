package smbblob

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"
)

// Sessions, and why no context ever reaches go-smb2.
//
// go-smb2 (github.com/cloudsoda/go-smb2 v0.0.0-20260918041005-0c5d69b69701)
// encodes every request into one buffer per connection, conn.encodeBuf
// (conn.go:730-737), and hands it to a sender goroutine (runSender,
// conn.go:806-817). When the request's context ends while the sender is still
// writing it to the socket, sendWith returns at once (its inner
// `case <-ctx.Done()`, conn.go:453-458; sendCompound likewise, conn.go:671),
// releases the connection's lock and leaves the sender writing a buffer that
// the next request — from any goroutine on the connection — now encodes into:
// the server receives one request's header with another's bytes (a WRITE of
// the right length with the wrong data, or garbage it answers by dropping the
// connection). The sender's result stays in conn.werr (buffered, conn.go:100),
// where the next request takes it for its own (conn.go:445), so every later
// request on the connection returns before it has been written and the
// corruption goes on. This driver used to bind its one shared session to
// each caller's context, so one transfer's cancellation (a checksum mismatch,
// a failing sink, Ctrl-C) broke, or silently corrupted, the others.
//
// So the driver never gives go-smb2 a context that can end: every share it
// uses is bound to context.Background(). The caller's context is honoured by
// the driver instead — checked between requests, and watched while requests
// are in flight: when it ends, what is in flight is given abandonGrace to
// finish (requests to a live server take milliseconds); after that the
// session's TCP connection is closed, which go-smb2 handles safely (every
// outstanding request fails with a connection error) and which frees the
// caller from a server that no longer answers.
//
// Sessions are pooled per server, share, user and domain. An operation leases
// a session for as long as it runs (a writer or reader until it is closed),
// taking an idle one, else dialling a new one while fewer than maxSessions are
// open, else sharing the least busy (safe, for the reason above). So each
// transfer normally has its own TCP connection: a connection that breaks or
// is closed for a hung request takes only its own transfers with it. A session
// that saw a connection error is never leased again. Idle sessions beyond
// maxIdle are closed; all of them close idleTimeout after the last bucket
// using the server closes.

const (
	idleTimeout = 30 * time.Second
	dialTimeout = 30 * time.Second
	// logoffTimeout bounds a graceful LOGOFF before the connection is closed
	// regardless.
	logoffTimeout = 5 * time.Second
	// cleanupTimeout bounds removing an aborted write's temporary file.
	cleanupTimeout = 30 * time.Second
)

// Tunables (variables so tests can shrink them).
var (
	// abandonGrace is how long requests in flight may run on after their
	// operation's context has ended before the session is closed under them.
	abandonGrace = 15 * time.Second
	// maxSessions is how many sessions to one server, share and user are
	// opened before operations share them.
	maxSessions = 8
	// maxIdle is how many unused sessions per server are kept for reuse.
	maxIdle = 2
)

// creditBalance is the most SMB credits a session holds (go-smb2's default is
// 128, one 64 KiB unit each: 8 MiB in flight). A writer keeps up to
// maxWritesInFlight 1 MiB WRITE requests (16 credits each) outstanding.
const creditBalance = 512

type connKey struct {
	addr, share, user, domain string
}

// server is the pool of sessions to one share as one user.
type server struct {
	key connKey

	mu       sync.Mutex
	password string
	refs     int // open buckets
	idle     *time.Timer
	sessions []*session // open, not dead
	dialing  int
	dialed   chan struct{} // closed (and replaced) when a dial ends
	// noStreams is set once the server has refused an alternate data stream:
	// attributes are then not stored (and read back empty).
	noStreams bool
	// maxSessions overrides the package's maxSessions when > 0 (tests).
	maxSessions int

	// passwordEnv names the variable the password came from, for the
	// logon failure's message ("" when the caller gave it directly).
	// Guarded by mu.
	passwordEnv string
}

// session is one SMB session on its own TCP connection, with the share
// mounted. share is bound to context.Background(): see above.
type session struct {
	srv   *server
	tcp   net.Conn
	sess  *smb2.Session
	share *smb2.Share

	// Guarded by srv.mu.
	users int
	dead  bool

	closeOnce sync.Once
}

var pool = struct {
	sync.Mutex
	m map[connKey]*server
}{m: map[connKey]*server{}}

// acquire returns the pool for key, counting a reference (a bucket).
func acquire(key connKey, password, passwordEnv string) *server {
	pool.Lock()
	defer pool.Unlock()
	srv := pool.m[key]
	if srv == nil {
		srv = &server{key: key}
		pool.m[key] = srv
	}
	srv.mu.Lock()
	srv.refs++
	if srv.idle != nil {
		srv.idle.Stop()
		srv.idle = nil
	}
	if password != "" {
		srv.password = password
	}
	if passwordEnv != "" {
		srv.passwordEnv = passwordEnv
	}
	srv.mu.Unlock()
	return srv
}

// release drops a bucket's reference; idle sessions close idleTimeout after
// the last one.
func (srv *server) release() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.refs--
	if srv.refs > 0 {
		return
	}
	srv.idle = time.AfterFunc(idleTimeout, func() {
		pool.Lock()
		defer pool.Unlock()
		srv.mu.Lock()
		if srv.refs > 0 {
			srv.mu.Unlock()
			return
		}
		srv.idle = nil // so put closes what is still leased when it returns
		var closing []*session
		live := srv.sessions[:0]
		for _, s := range srv.sessions {
			if s.users == 0 {
				s.dead = true
				closing = append(closing, s)
			} else {
				live = append(live, s) // a reader still open: closes when released
			}
		}
		srv.sessions = live
		if len(live) == 0 && srv.dialing == 0 && pool.m[srv.key] == srv {
			delete(pool.m, srv.key)
		}
		srv.mu.Unlock()
		for _, s := range closing {
			go s.close()
		}
	})
}

func (srv *server) limit() int {
	if srv.maxSessions > 0 {
		return srv.maxSessions
	}
	return maxSessions
}

// lease returns a session for the caller's use until it calls srv.put: an
// idle one, else a new one while fewer than the limit are open, else the
// least busy.
func (srv *server) lease(ctx context.Context) (*session, error) {
	srv.mu.Lock()
	for {
		var best *session
		for _, s := range srv.sessions {
			if best == nil || s.users < best.users {
				best = s
			}
		}
		full := len(srv.sessions)+srv.dialing >= srv.limit()
		if best != nil && (best.users == 0 || full) {
			best.users++
			srv.mu.Unlock()
			return best, nil
		}
		if !full {
			break
		}
		// Every session the limit allows is being dialled: wait for one.
		if srv.dialed == nil {
			srv.dialed = make(chan struct{})
		}
		dialed := srv.dialed
		srv.mu.Unlock()
		select {
		case <-dialed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		srv.mu.Lock()
	}
	srv.dialing++
	password, passwordEnv := srv.password, srv.passwordEnv
	srv.mu.Unlock()

	s, err := srv.dial(ctx, password)
	if err != nil && ntStatus(err) == statusLogonFailure {
		err = &logonError{err: err, user: srv.key.user, domain: srv.key.domain, passwordEnv: passwordEnv, passwordSet: password != ""}
	}

	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.dialing--
	if srv.dialed != nil {
		close(srv.dialed)
		srv.dialed = nil
	}
	if err != nil {
		return nil, err
	}
	s.users = 1
	srv.sessions = append(srv.sessions, s)
	return s, nil
}

// put ends a lease. err is the operation's outcome: a connection error
// retires the session.
func (srv *server) put(s *session, err error) {
	if err != nil && isConnectionError(err) {
		s.kill()
	}
	srv.mu.Lock()
	s.users--
	closeIt := false
	switch {
	case s.dead:
		closeIt = s.users == 0
	case s.users == 0 && srv.refs == 0 && srv.idle == nil:
		// No bucket uses the server any more and its idle time is over.
		srv.remove(s)
		s.dead = true
		closeIt = true
	case s.users == 0:
		idle := 0
		for _, o := range srv.sessions {
			if o.users == 0 {
				idle++
			}
		}
		if idle > maxIdle {
			srv.remove(s)
			s.dead = true
			closeIt = true
		}
	}
	srv.mu.Unlock()
	if closeIt {
		go s.close()
	}
}

// remove takes s out of the pool. srv.mu must be held.
func (srv *server) remove(s *session) {
	for i, o := range srv.sessions {
		if o == s {
			srv.sessions = append(srv.sessions[:i], srv.sessions[i+1:]...)
			return
		}
	}
}

func (srv *server) dial(ctx context.Context, password string) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var nd net.Dialer
	tcp, err := nd.DialContext(dctx, "tcp", srv.key.addr)
	if err != nil {
		return nil, err
	}
	d := &smb2.Dialer{
		MaxCreditBalance: creditBalance,
		Initiator: &smb2.NTLMInitiator{
			User:     srv.key.user,
			Password: password,
			Domain:   srv.key.domain,
		},
	}
	// dctx may end during the handshake and leave this connection in the
	// state described above: it is then closed, never used.
	sess, err := d.DialConn(dctx, tcp, srv.key.addr)
	if err != nil {
		_ = tcp.Close()
		return nil, err
	}
	share, err := sess.WithContext(dctx).Mount(srv.key.share)
	if err != nil {
		_ = tcp.Close()
		return nil, err
	}
	return &session{srv: srv, tcp: tcp, sess: sess, share: share.WithContext(context.Background())}, nil
}

// kill closes the session's connection at once: every request in flight on it
// fails with a connection error. The session is not leased again.
func (s *session) kill() {
	s.srv.mu.Lock()
	if !s.dead {
		s.dead = true
		s.srv.remove(s)
	}
	s.srv.mu.Unlock()
	_ = s.tcp.Close()
}

// close ends an unused session politely (tree disconnect, logoff), closing the
// connection regardless after logoffTimeout.
func (s *session) close() {
	s.closeOnce.Do(func() {
		t := time.AfterFunc(logoffTimeout, func() { _ = s.tcp.Close() })
		defer t.Stop()
		_ = s.share.Umount()
		_ = s.sess.Logoff() // closes the connection
		_ = s.tcp.Close()
	})
}

// watch arms a watchdog for an operation on s: once ctx has ended, the
// operation's requests get grace to finish before s is killed. The returned
// function disarms it; call it when the operation is over.
func (s *session) watch(ctx context.Context, grace time.Duration) (stop func()) {
	var mu sync.Mutex
	var timer *time.Timer
	stopped := false
	stopAfter := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			timer = time.AfterFunc(grace, s.kill)
		}
	})
	return func() {
		stopAfter()
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if timer != nil {
			timer.Stop()
		}
	}
}

func isConnectionError(err error) bool {
	var te *smb2.TransportError
	var ne net.Error
	return errors.As(err, &te) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// do runs an idempotent operation on a leased session, once more on a fresh
// one if the first attempt found the connection broken. ctx is watched (see
// above), never handed to go-smb2; once it has ended do returns its error.
func (srv *server) do(ctx context.Context, op func(*smb2.Share) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := srv.lease(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		stop := s.watch(ctx, abandonGrace)
		err = op(s.share)
		stop()
		srv.put(s, err)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil || attempt > 0 || !isConnectionError(err) {
			return err
		}
	}
}

func (srv *server) streamsUnsupported() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.noStreams
}

func (srv *server) setStreamsUnsupported() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.noStreams = true
}
