package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drsctl/drsctl/internal/engine"
)

// ConnectTimeout bounds each connection to a server whose connection
// string sets no connect_timeout. Without a bound, a server that accepts
// the TCP connection but never answers — a postmaster stopped or stuck on
// its storage, a VM paused — holds drsctl forever (libpq's default is to
// wait forever too), and with it the state lock that promote needs in the
// very outage it is for.
var ConnectTimeout = 30 * time.Second

// connecting returns the context to connect with: ctx bounded by
// ConnectTimeout unless the connection string sets its own. Only the
// connection is bounded: pgconn does not keep this context afterwards.
func (s *session) connecting(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.ownTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, ConnectTimeout)
}

// connectFailed says why a connection failed; a connection that ran out
// of ConnectTimeout (not the caller's context) says so.
func (s *session) connectFailed(ctx, cctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: no answer from the server within %s: the server, its host or the network is stuck (set connect_timeout in the connection for another bound)", engine.ErrUnreachable, ConnectTimeout)
	}
	return connectError(err)
}
