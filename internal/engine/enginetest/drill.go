package enginetest

import (
	"context"
	"fmt"
	"slices"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// DrillEvent is one restore drill the double ran: the scratch database,
// the rows it held once recovered, and how it ended.
type DrillEvent struct {
	Database string
	Rows     []int
	Err      string
}

// Drills returns every drill run through a session, oldest first.
func (s *Server) Drills() []DrillEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.drillLog)
}

// Drill restores the backups into a new database with the same rules as
// Restore, recovers it, "checks" it (counts its rows: the double has no
// pages) and drops it. It refuses a scratch name that exists, and a point
// in time inside a log: the double's rows carry no times, so STOPAT is not
// modelled.
// Injected failures apply under the operation name "drill".
func (x *session) Drill(ctx context.Context, req engine.DrillRequest, progress engine.Progress) (engine.DrillResult, error) {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var res engine.DrillResult
	ev := DrillEvent{Database: req.Database}
	defer func() { s.drillLog = append(s.drillLog, ev) }()
	fail := func(err error) (engine.DrillResult, error) {
		ev.Err = err.Error()
		return res, err
	}
	before, after := s.enter(ctx, "drill", req.Database)
	switch {
	case before != nil:
		return fail(before)
	case req.Database == "" || len(req.Backups) == 0 || req.Backups[0].Kind != artifact.Full:
		return fail(fmt.Errorf("drill into %s: a drill restores a full backup and the logs after it", req.Database))
	case s.dbs[req.Database] != nil:
		return fail(fmt.Errorf("drill into %s: refused: a database of that name already exists on %s; nothing was restored", req.Database, s.name))
	case !req.StopAt.IsZero() && len(req.Backups) > 1:
		return fail(fmt.Errorf("drill into %s: the in-memory engine does not model point-in-time restore (STOPAT)", req.Database))
	}
	var err error
	for i, b := range req.Backups {
		progress.Step(i*90/len(req.Backups), "restore "+b.ServerPath)
		var rev RestoreEvent
		if err = s.restoreLocked(ctx, engine.RestoreRequest{Database: req.Database, Kind: b.Kind, ServerPath: b.ServerPath, Mode: engine.NoRecovery}, engine.NoProgress, &rev, true); err != nil {
			err = fmt.Errorf("drill into %s: %w", req.Database, err)
			break
		}
		res.Restored = append(res.Restored, b.ServerPath)
	}
	if d := s.dbs[req.Database]; err == nil && d != nil {
		s.recoverLocked(d)
		for _, r := range d.rows {
			ev.Rows = append(ev.Rows, r.ID)
		}
		res.Check = fmt.Sprintf("%d rows", len(d.rows))
	}
	// Dropped whatever happened, like the real engines do.
	delete(s.dbs, req.Database)
	delete(s.restores, req.Database)
	if err == nil {
		err = after
	}
	if err != nil {
		return fail(err)
	}
	progress.Step(100, "done")
	return res, nil
}

var _ engine.Driller = (*session)(nil)
