package apply

import (
	"context"
	"fmt"
	"sync"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
)

// sessionEntry is one server connection, opened on first use and shared by
// every action on that server.
type sessionEntry struct {
	once sync.Once
	s    engine.Session
	err  error
}

// session returns the connection for a primary or target, by role and name.
func (x *execution) session(ctx context.Context, role, name, engineName string, conn config.Secret, site engine.Site) (engine.Session, error) {
	key := role + "." + name
	x.sessMu.Lock()
	e := x.sessions[key]
	if e == nil {
		e = &sessionEntry{}
		x.sessions[key] = e
	}
	x.sessMu.Unlock()
	e.once.Do(func() { e.s, e.err = Connect(ctx, x.r.Engines, role, name, engineName, conn, site) })
	return e.s, e.err
}

// Connect opens a session to a configured server. The connection string is
// a secret: it never reaches an error message. site is given to a driver
// that needs it (engine.SiteDriver).
func Connect(ctx context.Context, engines *engine.Registry, role, name, engineName string, conn config.Secret, site engine.Site) (engine.Session, error) {
	drv, err := engines.Driver(engineName)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", role, name, err)
	}
	dsn, err := conn.Value()
	if err != nil {
		return nil, fmt.Errorf("%s %q connection: %w", role, name, err)
	}
	var s engine.Session
	if sd, ok := drv.(engine.SiteDriver); ok {
		s, err = sd.OpenSite(ctx, dsn, site)
	} else {
		s, err = drv.Open(ctx, dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s %q: %s", role, name, conn.Redact(err.Error()))
	}
	return s, nil
}

func (x *execution) close() {
	x.stopWriter()
	x.sessMu.Lock()
	defer x.sessMu.Unlock()
	for _, e := range x.sessions {
		if e.s != nil {
			e.s.Close()
		}
	}
	x.buckets.close()
}
