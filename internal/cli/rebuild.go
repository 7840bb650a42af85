package cli

import (
	"context"
	"fmt"
	"sync"
	"time"

	gblob "gocloud.dev/blob"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/observe"
	"github.com/drsctl/drsctl/internal/rebuild"
	"github.com/drsctl/drsctl/internal/state"
)

// StateRebuild runs `drsctl state rebuild`: a new ledger reconstructed
// from the backup folders, the primaries' history, the destinations and
// the standbys, written only where there is no ledger.
func (e *Env) StateRebuild(ctx context.Context, g Globals) int {
	cfg, ok := e.loadConfig(g)
	if !ok {
		return ExitError
	}
	m, err := e.stateManager(cfg, g)
	if err != nil {
		return e.errorf("%v", err)
	}
	lease, err := e.lock(ctx, m, "rebuild", 0)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer unlock(e, lease)
	old, err := m.Read(ctx)
	if err != nil {
		return e.errorf("%v\nstate rebuild never overwrites a ledger, even a damaged one: move it aside (keep it: it may still be repaired) and run state rebuild again.", state.NameState("read", m.Describe(), err))
	}
	if old != nil {
		return e.errorf("state %s exists (lineage %s, serial %d): state rebuild never overwrites a ledger.\nIf it is wrong, move it aside first (keep it), then run state rebuild again.", m.Describe(), old.Lineage, old.Serial)
	}
	fmt.Fprintf(e.Stdout, "Rebuilding the state %s from the servers and storage the configuration names…\n", m.Describe())
	obs := observe.Refresh(ctx, cfg, nil, observe.Options{Engines: e.Engines, Now: e.now,
		Since: func(*config.Primary) time.Time { return rebuild.HistorySince() }})
	if err := ctx.Err(); err != nil {
		return e.errorf("refresh interrupted: %v; nothing was written", err)
	}
	rd := &blobReader{open: map[string]*gblob.Bucket{}}
	defer rd.close()
	ds := &describer{engines: e.Engines, open: map[string]engine.Session{}}
	defer ds.close()
	st, rep, err := rebuild.Rebuild(ctx, cfg, rebuild.Sources{Observed: obs, Reader: rd, Describer: ds, Keys: blobKeys{}, Now: e.now()})
	if err != nil {
		return e.errorf("%v", err)
	}
	if err := state.GuardWrites(m, lease).Write(ctx, st); err != nil {
		return e.errorf("%v", state.NameState("write", m.Describe(), err))
	}
	writeRebuildReport(e, rep)
	fmt.Fprintf(e.Stdout, "\nWrote a new state %s (lineage %s, serial %d). Run drsctl plan to see what comes next.\n", m.Describe(), st.Lineage, st.Serial)
	return ExitOK
}

func writeRebuildReport(e *Env, rep *rebuild.Report) {
	for _, d := range rep.Databases {
		fmt.Fprintf(e.Stdout, "\nprimary %q database %q: %d backups of drsctl's\n", d.Primary, d.Database, len(d.Artifacts))
		for _, a := range d.Artifacts {
			fmt.Fprintf(e.Stdout, "  + %s\n", a)
		}
		for _, n := range d.Notes {
			fmt.Fprintf(e.Stdout, "  ! %s\n", n)
		}
	}
	for _, t := range rep.Targets {
		fmt.Fprintf(e.Stdout, "\ntarget %q database %q: %s; %d copies proven at its destination\n", t.Target, t.Database, t.Verdict, t.Copies)
		for _, n := range t.Notes {
			fmt.Fprintf(e.Stdout, "  ! %s\n", n)
		}
	}
}

// blobReader reads objects for a rebuild, opening each URL once.
type blobReader struct {
	mu   sync.Mutex
	open map[string]*gblob.Bucket
}

func (r *blobReader) Checksum(ctx context.Context, url, key string) (int64, string, error) {
	r.mu.Lock()
	b := r.open[url]
	r.mu.Unlock()
	if b == nil {
		var err error
		if b, err = blob.Open(ctx, url); err != nil {
			return 0, "", fmt.Errorf("%s", blob.RedactText(err.Error(), url))
		}
		r.mu.Lock()
		r.open[url] = b
		r.mu.Unlock()
	}
	size, sum, err := blob.Checksum(ctx, b, key)
	if err != nil {
		return 0, "", fmt.Errorf("read %s at %s: %s", key, blob.Redact(url), blob.RedactText(err.Error(), url))
	}
	return size, sum, nil
}

func (r *blobReader) close() {
	for _, b := range r.open {
		b.Close()
	}
}

// describer reads backup headers through the primaries' servers.
type describer struct {
	engines *engine.Registry
	open    map[string]engine.Session
}

func (d *describer) Describe(ctx context.Context, p *config.Primary, serverPath string) (artifact.Header, error) {
	s := d.open[p.Name]
	if s == nil {
		var err error
		if s, err = apply.Connect(ctx, d.engines, "primary", p.Name, p.Engine, p.Connection, engine.Site{}); err != nil {
			return artifact.Header{}, err
		}
		d.open[p.Name] = s
	}
	h, err := s.Describe(ctx, serverPath)
	if err != nil {
		return artifact.Header{}, fmt.Errorf("%s", p.Connection.Redact(err.Error()))
	}
	return h, nil
}

func (d *describer) close() {
	for _, s := range d.open {
		s.Close()
	}
}

// blobKeys is internal/blob's key layout.
type blobKeys struct{}

func (blobKeys) ArtifactKey(primary, database string, kind artifact.Kind, file string) string {
	return blob.ArtifactKey(primary, database, kind, file)
}

func (blobKeys) ParseArtifactFile(file string) (string, artifact.Kind, time.Time, bool) {
	return blob.ParseArtifactFile(file)
}

func (blobKeys) ServerPath(base, key string) string { return blob.ServerPath(base, key) }
