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

// Sessions are shared: every bucket on the same server, share, user and
// domain uses one SMB session and tree connection, opened on first use and
// closed idleTimeout after the last bucket using it closes. A connection
// that breaks is dropped and redialled on the next operation.

const (
	idleTimeout = 30 * time.Second
	dialTimeout = 30 * time.Second
)

type connKey struct {
	addr, share, user, domain string
}

type conn struct {
	key      connKey
	password string

	mu    sync.Mutex
	sess  *smb2.Session
	share *smb2.Share
	refs  int
	idle  *time.Timer

	// noStreams is set once the server has refused an alternate data stream:
	// attributes are then not stored (and read back empty).
	noStreams bool
}

var pool = struct {
	sync.Mutex
	m map[connKey]*conn
}{m: map[connKey]*conn{}}

// acquire returns the shared connection for key, counting a reference.
func acquire(key connKey, password string) *conn {
	pool.Lock()
	defer pool.Unlock()
	c := pool.m[key]
	if c == nil {
		c = &conn{key: key, password: password}
		pool.m[key] = c
	}
	c.mu.Lock()
	c.refs++
	if c.idle != nil {
		c.idle.Stop()
		c.idle = nil
	}
	if password != "" {
		c.password = password
	}
	c.mu.Unlock()
	return c
}

// release drops a reference; the session closes after idleTimeout unused.
func (c *conn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs--
	if c.refs > 0 {
		return
	}
	c.idle = time.AfterFunc(idleTimeout, func() {
		pool.Lock()
		defer pool.Unlock()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.refs > 0 {
			return
		}
		c.closeLocked()
		delete(pool.m, c.key)
	})
}

func (c *conn) closeLocked() {
	if c.share != nil {
		_ = c.share.Umount()
	}
	if c.sess != nil {
		_ = c.sess.Logoff()
	}
	c.share, c.sess = nil, nil
}

// get returns the mounted share, dialling and mounting when needed. The
// share it returns is bound to ctx.
func (c *conn) get(ctx context.Context) (*smb2.Share, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.share == nil {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{
			User:     c.key.user,
			Password: c.password,
			Domain:   c.key.domain,
		}}
		sess, err := d.Dial(dctx, c.key.addr)
		if err != nil {
			return nil, err
		}
		share, err := sess.WithContext(dctx).Mount(c.key.share)
		if err != nil {
			_ = sess.Logoff()
			return nil, err
		}
		c.sess, c.share = sess, share
	}
	return c.share.WithContext(ctx), nil
}

// broken drops the session if err says the connection is gone, so the next
// get redials. It reports whether it did.
func (c *conn) broken(err error) bool {
	if !isConnectionError(err) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
	return true
}

func isConnectionError(err error) bool {
	var te *smb2.TransportError
	var ne net.Error
	return errors.As(err, &te) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// do runs an idempotent operation on the share, once more on a fresh
// connection if the first attempt found the connection broken.
func (c *conn) do(ctx context.Context, op func(*smb2.Share) error) error {
	for attempt := 0; ; attempt++ {
		share, err := c.get(ctx)
		if err == nil {
			err = op(share)
		}
		if err == nil || attempt > 0 || ctx.Err() != nil || !c.broken(err) {
			return err
		}
	}
}

func (c *conn) streamsUnsupported() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.noStreams
}

func (c *conn) setStreamsUnsupported() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noStreams = true
}
