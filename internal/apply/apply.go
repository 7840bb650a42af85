// Package apply executes a plan. It decides nothing: the plan says what to do
// and in which order; apply runs the actions as a dependency graph
// (databases in parallel, each chain strictly in order), writes every
// completed action to the state before any action that depends on it starts,
// and lets a failure stop only what depends on it.
package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// DefaultParallelism is how many actions run at once unless told otherwise.
const DefaultParallelism = 10

// Runner executes plans.
type Runner struct {
	Config  *config.Config
	Engines *engine.Registry
	// State persists the ledger after every completed action. The caller
	// holds its lock for the whole run.
	State state.Manager
	// Parallelism bounds concurrent actions (default DefaultParallelism).
	Parallelism int
	Reporter    Reporter
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Outcome of one action.
type Outcome struct {
	Action  *plan.Action
	Err     error
	Skipped string // why it did not run; empty when it ran
	// Artifact is the artifact a backup or adopt action produced.
	Artifact string
	Elapsed  time.Duration
}

// Result of a run.
type Result struct {
	Outcomes []*Outcome
	// StateChanges is how many changes were recorded in the ledger,
	// StateWrites in how many writes (fewer: group commit), and StateTime
	// how long the writes took in all.
	StateChanges, StateWrites int
	StateTime                 time.Duration
}

// Count returns how many actions succeeded, failed and were skipped.
func (r *Result) Count() (done, failed, skipped int) {
	for _, o := range r.Outcomes {
		switch {
		case o.Skipped != "":
			skipped++
		case o.Err != nil:
			failed++
		default:
			done++
		}
	}
	return
}

// Apply runs p against st (which it updates and persists as it goes). The
// returned error gathers every failure (go-multierror); the Result says
// what happened to each action.
func (r *Runner) Apply(ctx context.Context, p *plan.Plan, st *state.State) (*Result, error) {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Reporter == nil {
		r.Reporter = discard{}
	}
	par := r.Parallelism
	if par <= 0 {
		par = DefaultParallelism
	}
	if !st.Tracked() {
		st.Track() // so that each write records only what changed
	}
	x := &execution{r: r, st: st, plan: p, produced: map[string]string{}, sessions: map[string]*sessionEntry{}, buckets: newBuckets()}
	defer x.close()
	res := x.run(ctx, par)
	x.mu.Lock()
	res.StateChanges, res.StateWrites, res.StateTime = x.changed, x.commits, x.stateTime
	x.mu.Unlock()
	var merr *multierror.Error
	for _, o := range res.Outcomes {
		if o.Err != nil {
			merr = multierror.Append(merr, fmt.Errorf("%s: %w", describe(o.Action), o.Err))
		}
	}
	if ctx.Err() != nil && res.skippedForCancel() {
		merr = multierror.Append(merr, fmt.Errorf("apply interrupted: %w", ctx.Err()))
	}
	if merr != nil {
		merr.ErrorFormat = listErrors
	}
	return res, merr.ErrorOrNil()
}

func (r *Result) skippedForCancel() bool {
	for _, o := range r.Outcomes {
		if o.Skipped == skipCancelled {
			return true
		}
	}
	return false
}

func listErrors(es []error) string {
	if len(es) == 1 {
		return es[0].Error()
	}
	s := fmt.Sprintf("%d errors occurred:", len(es))
	for _, e := range es {
		s += "\n  * " + e.Error()
	}
	return s
}

func describe(a *plan.Action) string { return a.Describe() }

const skipCancelled = "not started: apply was interrupted"

type execution struct {
	r    *Runner
	plan *plan.Plan

	mu       sync.Mutex // guards st, produced and state writes
	st       *state.State
	produced map[string]string // backup action ID → artifact ID
	stateErr error
	// changed counts the changes made to st, durable those written;
	// commits counts the writes (group commit makes it smaller than
	// changed).
	changed, durable, commits int
	stateTime                 time.Duration
	w                         *writer // nil until the first change
	// idle: the scheduler has a free slot and nothing to start, so the
	// changes it waits for are written at once.
	idle bool

	sessMu   sync.Mutex
	sessions map[string]*sessionEntry
	buckets  *buckets

	byID map[string]*plan.Action // the plan's actions; set by run, read-only after
}

// run schedules actions: an action starts once every action in its
// DependsOn succeeded and every action in its After finished, whatever the
// outcome (succeeded, failed or skipped); ship actions of one artifact that
// are ready together run as one fan-out (the source is read once).
func (x *execution) run(ctx context.Context, par int) *Result {
	actions := x.plan.Actions
	byID := make(map[string]*plan.Action, len(actions))
	for _, a := range actions {
		byID[a.ID] = a
	}
	x.byID = byID
	waiting := map[string]int{}
	dependents := map[string][]string{} // DependsOn, reversed: they share the fate
	followers := map[string][]string{}  // After, reversed: they only wait
	outcomes := map[string]*Outcome{}
	for _, a := range actions {
		for _, d := range a.DependsOn {
			if _, ok := byID[d]; !ok {
				continue // satisfied outside this plan (e.g. -target)
			}
			waiting[a.ID]++
			dependents[d] = append(dependents[d], a.ID)
		}
		for _, d := range a.After {
			if _, ok := byID[d]; !ok {
				continue
			}
			waiting[a.ID]++
			followers[d] = append(followers[d], a.ID)
		}
	}
	var ready []*plan.Action
	for _, a := range actions {
		if waiting[a.ID] == 0 {
			ready = append(ready, a)
		}
	}
	// An action's outcome settles once its last change is durable: only
	// then is it reported done and do its dependents and followers start.
	type done struct {
		outs  []*Outcome
		needs int // the last change it made (0: none)
	}
	results := make(chan done)
	running := 0
	sem := par
	var unsettled []done
	// release counts one predecessor of id as finished; id is ready when
	// none is left.
	release := func(id string) {
		if _, gone := outcomes[id]; gone {
			return
		}
		waiting[id]--
		if waiting[id] == 0 {
			ready = append(ready, byID[id])
		}
	}
	var skip func(id, why string)
	skip = func(id, why string) {
		if _, seen := outcomes[id]; seen {
			return
		}
		a := byID[id]
		outcomes[id] = &Outcome{Action: a, Skipped: why}
		x.r.Reporter.Skipped(a, why)
		for _, dep := range dependents[id] {
			skip(dep, fmt.Sprintf("not started: %s did not complete", a.ID))
		}
		for _, f := range followers[id] {
			release(f)
		}
	}
	for len(ready) > 0 || running > 0 || len(unsettled) > 0 {
		stopped := ctx.Err() != nil || x.failedState()
		for !stopped && len(ready) > 0 && sem > 0 {
			batch := []*plan.Action{ready[0]}
			ready = ready[1:]
			if batch[0].Kind == plan.Ship {
				rest := ready[:0]
				for _, o := range ready {
					if o.Kind == plan.Ship && sameArtifact(o, batch[0]) {
						batch = append(batch, o)
					} else {
						rest = append(rest, o)
					}
				}
				ready = rest
			}
			sem--
			running++
			go func(batch []*plan.Action) {
				t := &ticket{}
				outs := x.execute(context.WithValue(ctx, ticketKey{}, t), batch)
				results <- done{outs, t.needs}
			}(batch)
		}
		if stopped {
			why := skipCancelled
			if x.failedState() {
				why = "not started: the state could not be written"
			}
			// Skipping releases the actions that were only ordered after
			// these; they are skipped in turn.
			for len(ready) > 0 {
				a := ready[0]
				ready = ready[1:]
				skip(a.ID, why)
			}
		}
		if running == 0 && len(unsettled) == 0 {
			break
		}
		x.setIdle(stopped || sem > 0 && len(ready) == 0)
		select {
		case d := <-results:
			running--
			sem++
			unsettled = append(unsettled, d)
		case <-x.settled():
		}
		x.setIdle(false)
		x.mu.Lock()
		durable, stateErr := x.durable, x.stateErr
		x.mu.Unlock()
		var now []*Outcome
		kept := unsettled[:0]
		for _, d := range unsettled {
			switch {
			case d.needs <= durable:
			case stateErr != nil:
				// Done on the servers, but its record is lost.
				for _, o := range d.outs {
					if o.Skipped == "" {
						o.Err = errors.Join(o.Err, stateErr)
					}
				}
			default:
				kept = append(kept, d)
				continue
			}
			now = append(now, d.outs...)
		}
		unsettled = kept
		for _, o := range now {
			x.report(o)
			id := o.Action.ID
			outcomes[id] = o
			for _, dep := range dependents[id] {
				switch {
				case o.Err != nil:
					skip(dep, fmt.Sprintf("not started: %s failed", id))
				case o.Skipped != "":
					// A restore held back: the next one in the chain must
					// not run without it, even if the window opens between.
					skip(dep, fmt.Sprintf("not started: %s did not complete", id))
				default:
					release(dep)
				}
			}
			for _, f := range followers[id] {
				release(f)
			}
		}
		sort.SliceStable(ready, func(i, j int) bool { return order(ready[i]) < order(ready[j]) })
	}
	for _, a := range actions {
		if _, ok := outcomes[a.ID]; !ok {
			skip(a.ID, skipCancelled)
		}
	}
	res := &Result{}
	for _, a := range actions {
		res.Outcomes = append(res.Outcomes, outcomes[a.ID])
	}
	return res
}

// order starts backups first (others wait on them), then restores, ships.
func order(a *plan.Action) int {
	switch a.Kind {
	case plan.BackupFull, plan.BackupLog, plan.Adopt, plan.Record:
		return 0
	case plan.RestoreFull, plan.RestoreLog, plan.Promote:
		return 1
	case plan.Verify:
		return 2
	case plan.Ship:
		return 3
	case plan.Prune:
		return 4
	}
	return 5
}

func sameArtifact(a, b *plan.Action) bool {
	return a.Primary == b.Primary && a.Database == b.Database && a.Artifact == b.Artifact && a.From == b.From
}

func (x *execution) failedState() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.stateErr != nil
}

// execute runs one action (or a batch of ships of one artifact).
func (x *execution) execute(ctx context.Context, batch []*plan.Action) []*Outcome {
	start := x.r.Now()
	for _, a := range batch {
		x.r.Reporter.Started(a)
	}
	var outs []*Outcome
	if batch[0].Kind == plan.Ship {
		outs = x.ship(ctx, batch)
	} else {
		a := batch[0]
		o := &Outcome{Action: a}
		o.Artifact, o.Err = x.one(ctx, a)
		outs = []*Outcome{o}
	}
	for _, o := range outs {
		o.Elapsed = x.r.Now().Sub(start)
		if why := asNotStarted(o.Err); why != "" {
			o.Err, o.Skipped = nil, why
			continue
		}
		o.Err = x.redact(o.Err)
	}
	return outs
}

// report says how an action ended, once it settled.
func (x *execution) report(o *Outcome) {
	if o.Skipped != "" {
		x.r.Reporter.Skipped(o.Action, o.Skipped)
		return
	}
	x.r.Reporter.Finished(o)
}

func (x *execution) one(ctx context.Context, a *plan.Action) (string, error) {
	switch a.Kind {
	case plan.BackupFull, plan.BackupLog:
		return x.backup(ctx, a)
	case plan.Adopt:
		return a.Artifact, x.adopt(ctx, a)
	case plan.Ship:
		return "", x.ship(ctx, []*plan.Action{a})[0].Err
	case plan.Verify:
		return "", x.verify(ctx, a)
	case plan.RestoreFull, plan.RestoreLog:
		return "", x.restore(ctx, a)
	case plan.Record:
		return "", x.record(ctx, a)
	case plan.Prune:
		return "", x.prune(ctx, a)
	case plan.Promote:
		return "", x.promote(ctx, a)
	}
	return "", fmt.Errorf("unknown action kind %v", a.Kind)
}

// artifactOf resolves the artifact an action works on: named, or produced
// by the backup action it depends on.
func (x *execution) artifactOf(a *plan.Action) (*state.Artifact, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id := a.Artifact
	if id == "" {
		id = x.produced[a.From]
		if id == "" {
			return nil, fmt.Errorf("artifact of %s is unknown (it did not complete)", a.From)
		}
	}
	art := x.st.LookupDatabase(a.Primary, a.Database).Artifact(id)
	if art == nil {
		return nil, fmt.Errorf("artifact %s is not in the state", id)
	}
	c := *art
	return &c, nil
}

var errNoConfig = errors.New("not in the configuration")

func (x *execution) primary(a *plan.Action) (*config.Primary, error) {
	p := x.r.Config.PrimaryByName(a.Primary)
	if p == nil {
		return nil, fmt.Errorf("primary %q: %w", a.Primary, errNoConfig)
	}
	return p, nil
}

func (x *execution) target(a *plan.Action) (*config.Target, error) {
	t := x.r.Config.TargetByName(a.Target)
	if t == nil {
		return nil, fmt.Errorf("target %q: %w", a.Target, errNoConfig)
	}
	return t, nil
}

// lookupTarget returns a copy of the ledger of one target database (nil when
// the ledger has none), for decisions made outside commit.
func (x *execution) lookupTarget(target, database string) *state.TargetDatabase {
	x.mu.Lock()
	defer x.mu.Unlock()
	td := x.st.LookupTargetDatabase(target, database)
	if td == nil {
		return nil
	}
	c := *td
	return &c
}
