package blob

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// DefaultStallTimeout is how long a connection to an object store may go
// without a byte moving in either direction before it is abandoned (and the
// call retried or failed). It is a liveness check, not a deadline: a transfer
// that keeps moving is never cut short however long it takes. A destination
// URL may set its own with ?stall_timeout=30s.
const DefaultStallTimeout = 2 * time.Minute

// Dial and TLS handshake timeouts: a server that does not accept the
// connection at all fails the attempt, which is then retried.
const (
	dialTimeout         = 30 * time.Second
	tlsHandshakeTimeout = 15 * time.Second
	// stallChunk bounds one write, so that a write of a whole part (the
	// transport hands bytes.Reader bodies over in one call) still renews the
	// liveness deadline as it progresses.
	stallChunk = 256 << 10
)

// stallDialer wraps dial so that every connection it makes carries the
// liveness check.
func stallDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), stall time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: c, stall: stall, addr: addr}, nil
	}
}

// stallConn fails a read or write once nothing has moved on the connection
// for stall. Every byte written also renews the read deadline: while a
// request body is being sent, the transport is already blocked reading for
// the response, and a long upload that progresses must not time that read
// out. A server that stops reading the body, or accepts a request and never
// answers, is found within stall.
//
// "Moved" includes the peer acknowledging bytes already handed to the
// kernel: its send buffer may hold megabytes that a slow link drains for
// longer than stall while neither Read nor Write returns (see ackedBytes).
// Bytes in the peer's receive buffer are acknowledged, so a server that
// takes longer than stall to read what its kernel already took in is cut
// off; with the default limit that means reading at a few KB/s.
type stallConn struct {
	net.Conn
	stall time.Duration
	addr  string
	// readMark and writeMark are the bytes acknowledged by the peer when a
	// Read or Write began or its deadline last expired.
	readMark, writeMark atomic.Uint64
	// first is the first error seen on the connection.
	first atomic.Pointer[errBox]
}

func (c *stallConn) Read(p []byte) (int, error) {
	c.markNow(&c.readMark)
	wait := c.stall
	for {
		_ = c.Conn.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Conn.Read(p)
		if n == 0 && isDeadline(err) {
			if wait = c.progressed(&c.readMark); wait > 0 {
				continue // the peer is still taking in what we sent
			}
		}
		return n, c.mapErr(err)
	}
}

func (c *stallConn) Write(p []byte) (int, error) {
	var n int
	c.markNow(&c.writeMark)
	wait := c.stall
	for len(p) > 0 {
		b := p[:min(len(p), stallChunk)]
		_ = c.Conn.SetDeadline(time.Now().Add(wait))
		m, err := c.Conn.Write(b)
		n += m
		p = p[m:]
		wait = c.stall
		if err != nil {
			if isDeadline(err) {
				if m > 0 {
					continue
				}
				if wait = c.progressed(&c.writeMark); wait > 0 {
					continue
				}
			}
			return n, c.mapErr(err)
		}
	}
	return n, nil
}

// markNow records what the peer has acknowledged so far, so that a stall is
// judged from the start of this call, not from an older mark.
func (c *stallConn) markNow(mark *atomic.Uint64) {
	if a, _, ok := ackedBytes(c.Conn); ok {
		mark.Store(a)
	}
}

// progressed is called when a deadline expires. If the peer has since
// acknowledged more than *mark, and did so less than stall ago, it moves the
// mark and returns how much longer to wait: stall after that last
// acknowledgement. Otherwise 0: the connection is stalled.
func (c *stallConn) progressed(mark *atomic.Uint64) time.Duration {
	a, since, ok := ackedBytes(c.Conn)
	if !ok || a <= mark.Load() || since >= c.stall {
		return 0
	}
	mark.Store(a)
	return c.stall - since
}

// mapErr names a stall, and makes the first failure on the connection the
// one reported: once a read or write has failed, the transport closes the
// connection, and the other direction then fails with "use of closed network
// connection", which says nothing of the reset or stall that caused it.
func (c *stallConn) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if isDeadline(err) {
		err = &StalledError{Addr: c.addr, After: c.stall}
	}
	if errors.Is(err, net.ErrClosed) {
		if first := c.first.Load(); first != nil {
			return &closedAfter{first: first.err, err: err}
		}
		return err
	}
	c.first.CompareAndSwap(nil, &errBox{err})
	return err
}

type errBox struct{ err error }

// closedAfter is "use of closed network connection" on a connection that
// failed first with another error: it reads as that error, and is both.
type closedAfter struct{ first, err error }

func (e *closedAfter) Error() string   { return e.first.Error() }
func (e *closedAfter) Unwrap() []error { return []error{e.first, e.err} }

func isDeadline(err error) bool { return err != nil && errors.Is(err, os.ErrDeadlineExceeded) }

// StalledError is the error of a connection on which nothing moved for
// After: the server accepted it but stopped answering or reading. It is a
// timeout (net.Error), so the SDKs retry the call before giving up.
type StalledError struct {
	Addr  string
	After time.Duration
}

func (e *StalledError) Error() string {
	return fmt.Sprintf("connection to %s stalled: nothing sent or received for %v", e.Addr, e.After)
}

// Timeout and Temporary make it a retryable net.Error for the AWS and Azure
// SDKs.
func (e *StalledError) Timeout() bool   { return true }
func (e *StalledError) Temporary() bool { return true }
func (e *StalledError) Unwrap() error   { return os.ErrDeadlineExceeded }

// newTransport is the HTTP transport for Azure: the usual proxy and pooling
// settings, with dial, handshake and liveness limits. (S3 gets the same
// limits on the AWS SDK's own buildable client, which also honours
// AWS_CA_BUNDLE.)
func newTransport(stall time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           stallDialer(d.DialContext, stall),
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       idleConnTimeout(stall),
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
		WriteBufferSize:       64 << 10,
		ReadBufferSize:        64 << 10,
	}
}

// idleConnTimeout closes pooled connections before their liveness deadline
// would, so an idle connection is retired quietly rather than failing.
func idleConnTimeout(stall time.Duration) time.Duration {
	return min(90*time.Second, stall/2)
}
