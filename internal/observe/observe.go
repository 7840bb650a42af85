// Package observe is refresh: it asks every engine about its primaries and
// standbys and every backup folder and destination about its objects, in
// parallel with bounded concurrency, and hands the planner plain data. It
// changes nothing anywhere.
package observe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	gblob "gocloud.dev/blob"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// Options for Refresh.
type Options struct {
	Engines *engine.Registry
	// Concurrency bounds parallel questions (default 8).
	Concurrency int
	// Timeout bounds each question (default 2m): a dead server fails its
	// own observation, not the whole refresh.
	Timeout time.Duration
	// Targets limits refresh to these targets and their primaries (-target).
	Targets []string
	Now     func() time.Time
	// Since, when set, overrides how far back each primary's backup
	// history is asked for (state rebuild: from the oldest backup its
	// backup folder holds, there being no ledger to go by).
	Since func(p *config.Primary) time.Time
}

// Refresh observes everything the configuration names.
func Refresh(ctx context.Context, cfg *config.Config, st *state.State, opts Options) *plan.Observed {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	o := &plan.Observed{Refreshed: true,
		Primaries:    map[string]*plan.PrimaryObservation{},
		Targets:      map[string]*plan.TargetObservation{},
		Folders:      map[string]*plan.StorageObservation{},
		Destinations: map[string]*plan.StorageObservation{},
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, opts.Concurrency)
	do := func(f func(ctx context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			f(cctx)
		}()
	}
	selected := selection(cfg, opts.Targets)
	for _, p := range cfg.Primaries {
		if !selected.primary(p, cfg) {
			continue
		}
		do(func(ctx context.Context) {
			from := since(st, p, opts.Now())
			if opts.Since != nil {
				from = opts.Since(p)
			}
			po := observePrimary(ctx, opts.Engines, p, from, owner(st))
			mu.Lock()
			o.Primaries[p.Name] = po
			mu.Unlock()
		})
	}
	for _, f := range cfg.BackupFolders {
		do(func(ctx context.Context) {
			so := list(ctx, f.URL)
			mu.Lock()
			o.Folders[f.Name] = so
			mu.Unlock()
		})
	}
	lists := map[string]*plan.StorageObservation{} // one listing per URL
	var listMu sync.Mutex
	for _, t := range cfg.Targets {
		if !selected.target(t) {
			continue
		}
		if t.Restores() {
			do(func(ctx context.Context) {
				to := observeTarget(ctx, opts.Engines, t)
				mu.Lock()
				o.Targets[t.Name] = to
				mu.Unlock()
			})
		}
		do(func(ctx context.Context) {
			listMu.Lock()
			so, ok := lists[t.Destination.URL]
			listMu.Unlock()
			if !ok {
				so = list(ctx, t.Destination.URL)
				listMu.Lock()
				lists[t.Destination.URL] = so
				listMu.Unlock()
			}
			mu.Lock()
			o.Destinations[t.Name] = so
			mu.Unlock()
		})
	}
	wg.Wait()
	return o
}

type sel struct{ targets map[string]bool }

func selection(cfg *config.Config, names []string) sel {
	if len(names) == 0 {
		return sel{}
	}
	s := sel{targets: map[string]bool{}}
	for _, n := range names {
		if t := cfg.TargetByName(n); t != nil {
			s.targets[t.Name] = true
		}
		if p := cfg.PrimaryByName(n); p != nil {
			for _, t := range cfg.TargetsOf(p) {
				s.targets[t.Name] = true
			}
		}
	}
	return s
}

func (s sel) target(t *config.Target) bool { return s.targets == nil || s.targets[t.Name] }

// primary: a primary is observed when any of its targets is selected (the
// backups a selected target needs come from it).
func (s sel) primary(p *config.Primary, cfg *config.Config) bool {
	if s.targets == nil {
		return true
	}
	for _, t := range cfg.TargetsOf(p) {
		if s.targets[t.Name] {
			return true
		}
	}
	return false
}

// historyMargin reaches back beyond the oldest backup the ledger has: the
// server dates its history with its own clock, which may have been set back
// since, and a backup whose reply was lost must still be found.
const historyMargin = 24 * time.Hour

// since is how far back the server's backup history matters: from the
// oldest artifact the ledger still has for the primary (older out-of-band
// backups cannot affect any chain drsctl uses), less historyMargin.
func since(st *state.State, p *config.Primary, now time.Time) time.Time {
	oldest := now
	if st != nil {
		for _, db := range p.Databases {
			if d := st.LookupDatabase(p.Name, db); d != nil && len(d.Artifacts) > 0 && d.Artifacts[0].Start.Before(oldest) {
				oldest = d.Artifacts[0].Start
			}
		}
	}
	return oldest.Add(-historyMargin)
}

// owner is the ledger's lineage, which names what an engine keeps on a
// primary for this ledger (engine.Site.Owner).
func owner(st *state.State) string {
	if st == nil {
		return ""
	}
	return st.Lineage
}

func observePrimary(ctx context.Context, engines *engine.Registry, p *config.Primary, since time.Time, owner string) *plan.PrimaryObservation {
	po := &plan.PrimaryObservation{Databases: map[string]*engine.PrimaryDatabase{}}
	s, err := apply.Connect(ctx, engines, "primary", p.Name, p.Engine, p.Connection, engine.Site{Owner: owner})
	if err != nil {
		po.Err = err.Error()
		return po
	}
	defer s.Close()
	dbs, err := s.ObservePrimary(ctx, p.Databases, since)
	if err != nil {
		po.Err = p.Connection.Redact(fmt.Sprintf("observe primary %q: %v", p.Name, err))
		return po
	}
	for i := range dbs {
		po.Databases[dbs[i].Name] = &dbs[i]
	}
	if a, ok := s.(engine.Advisor); ok {
		po.Advice = redactAdvice(a.Advise(ctx, engine.AdviceRequest{Primary: true, Databases: p.Databases}), p.Connection)
	}
	return po
}

func observeTarget(ctx context.Context, engines *engine.Registry, t *config.Target) *plan.TargetObservation {
	to := &plan.TargetObservation{Databases: map[string]*engine.StandbyDatabase{}}
	s, err := apply.Connect(ctx, engines, "target", t.Name, t.Primary.Engine, t.Connection, engine.Site{DataDir: t.DataDir})
	if err != nil {
		to.Err = err.Error()
		return to
	}
	defer s.Close()
	dbs, err := s.ObserveStandby(ctx, t.DatabaseNames())
	if err != nil {
		to.Err = t.Connection.Redact(fmt.Sprintf("observe target %q: %v", t.Name, err))
		return to
	}
	for i := range dbs {
		to.Databases[dbs[i].Name] = &dbs[i]
	}
	if a, ok := s.(engine.Advisor); ok {
		to.Advice = redactAdvice(a.Advise(ctx, engine.AdviceRequest{Databases: t.DatabaseNames(), DisconnectUsers: t.DisconnectUsers}), t.Connection)
	}
	return to
}

// list lists every object under a storage URL.
func list(ctx context.Context, url string) *plan.StorageObservation {
	so := &plan.StorageObservation{Objects: map[string]plan.Object{}}
	b, err := blob.Open(ctx, url)
	if err != nil {
		so.Err = blob.RedactText(err.Error(), url)
		return so
	}
	defer b.Close()
	it := b.List(&gblob.ListOptions{})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The SDK's error may quote the server's answer, which may
			// quote the request: key ID, session token, SAS.
			so.Err = blob.RedactText(fmt.Sprintf("list %s: %v", blob.Redact(url), err), url)
			return so
		}
		if obj.IsDir {
			continue
		}
		if strings.HasSuffix(obj.Key, "/.drsctl-keep") {
			if so.Marked == nil {
				so.Marked = map[string]bool{}
			}
			so.Marked[path.Dir(obj.Key)] = true
			continue
		}
		so.Objects[obj.Key] = plan.Object{Size: obj.Size, ModTime: obj.ModTime}
	}
	return so
}

// Keys returns the sorted keys of an observation, for messages and tests.
func Keys(so *plan.StorageObservation) []string {
	keys := make([]string, 0, len(so.Objects))
	for k := range so.Objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// redactAdvice keeps the connection string out of what an engine advises.
func redactAdvice(in []engine.Advice, conn config.Secret) []engine.Advice {
	out := make([]engine.Advice, len(in))
	for i, a := range in {
		out[i] = engine.Advice{Summary: conn.Redact(a.Summary), Detail: conn.Redact(a.Detail)}
	}
	return out
}
