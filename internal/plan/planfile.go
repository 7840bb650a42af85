package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/drsctl/drsctl/internal/engine"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/state"
)

// Save writes a plan for a later `drsctl apply FILE`. It refuses a plan Load
// would refuse (see Check), so a plan drsctl saved can always be read back.
func Save(w io.Writer, p *Plan) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// Load reads a saved plan. It refuses anything it could not show or apply
// as written: invalid, truncated or trailing JSON, unknown fields, another
// format version, and every plan Check refuses. For every plan Load
// accepts, Save writes it back in a form Load reads as the same plan.
func Load(r io.Reader) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		switch {
		case errors.Is(err, io.EOF):
			return nil, errors.New("read plan: the file is empty")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, errors.New("read plan: the file is truncated: the JSON ends early")
		}
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("read plan: more data after the plan at byte offset %d", dec.InputOffset())
	}
	if p.FormatVersion == "1.2" {
		// 1.3 added what a review needs (Action.Cause, Plan.Review); a 1.2
		// plan reads as one with none.
		p.FormatVersion = FormatVersion
	}
	if p.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("read plan: format version %q, this drsctl reads %q", p.FormatVersion, FormatVersion)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return &p, nil
}

// Check reports the first reason a plan cannot be saved, shown or applied
// as written; nil when it can. Make's plans always pass. It requires:
//   - the format version this drsctl writes;
//   - times (created_at, observed facts, adopted headers, RPO) that RFC
//     3339 writes exactly, as the plan and the ledger (in UTC) do: a year
//     within 0000-9999 in their own zone and in UTC, a zone offset of whole
//     minutes under 24 hours;
//   - actions that are not null, each with an ID unique in the plan, a
//     known kind, a primary and a database; a target exactly for the kinds
//     that act on one (ship, verify, restores, record, promote; prune may
//     or may not);
//   - what each kind needs to run: an artifact (Artifact, or From naming a
//     backup action of this plan that it depends on, or for a prune an
//     orphan's Key), Adopted for adopt, Position for record, a restore mode
//     of "standby", "norecovery" or "" (norecovery);
//   - DependsOn and After naming other actions of this plan, without a
//     cycle: a dependency outside the plan is never satisfied by running
//     it, so a saved plan may not name one (Make never does, -target
//     included);
//   - known artifact kinds and severities, and LSNs written as decimal
//     digits.
func (p *Plan) Check() error {
	if p == nil {
		return errors.New("no plan")
	}
	if p.FormatVersion != FormatVersion {
		return fmt.Errorf("format version %q, this drsctl writes %q", p.FormatVersion, FormatVersion)
	}
	if err := checkTime(p.CreatedAt); err != nil {
		return fmt.Errorf("created_at: %w", err)
	}
	byID := make(map[string]*Action, len(p.Actions))
	for i, a := range p.Actions {
		if a == nil {
			return fmt.Errorf("actions[%d] is null", i)
		}
		if a.ID == "" {
			return fmt.Errorf("actions[%d] has no id", i)
		}
		if byID[a.ID] != nil {
			return fmt.Errorf("action %q appears twice", a.ID)
		}
		byID[a.ID] = a
	}
	for _, a := range p.Actions {
		if err := a.check(byID); err != nil {
			return fmt.Errorf("action %q: %w", a.ID, err)
		}
	}
	if err := checkAcyclic(p.Actions, byID); err != nil {
		return err
	}
	for i, pr := range p.Problems {
		if pr.Severity != Error && pr.Severity != Warning {
			return fmt.Errorf("problems[%d]: unknown severity %q (want %q or %q)", i, pr.Severity, Error, Warning)
		}
	}
	for i, r := range p.RPO {
		if err := checkTime(r.Through); err != nil {
			return fmt.Errorf("rpo[%d]: through: %w", i, err)
		}
	}
	return nil
}

func (a *Action) check(byID map[string]*Action) error {
	if _, ok := kindNames[a.Kind]; !ok {
		return fmt.Errorf("unknown kind %s", a.Kind)
	}
	if a.Primary == "" || a.Database == "" {
		return errors.New("no primary or no database")
	}
	onTarget := false
	switch a.Kind {
	case BackupFull, BackupLog, Adopt:
	case Ship, Verify, RestoreFull, RestoreLog, Record, Promote:
		onTarget = true
	case Prune:
		onTarget = a.Target != ""
	}
	if onTarget != (a.Target != "") {
		if onTarget {
			return fmt.Errorf("a %s action needs a target", a.Kind)
		}
		return fmt.Errorf("action kind %s acts on the primary, not on target %q", a.Kind, a.Target)
	}
	if a.Engine != "" && a.Engine != config.EnginePostgres {
		return fmt.Errorf("unknown engine %q (want %q, or none for SQL Server)", a.Engine, config.EnginePostgres)
	}
	if a.ArtifactKind != "" && !a.ArtifactKind.Valid() {
		return fmt.Errorf("unknown artifact kind %q", a.ArtifactKind)
	}
	if a.From != "" {
		from := byID[a.From]
		if from == nil || (from.Kind != BackupFull && from.Kind != BackupLog) {
			return fmt.Errorf("from %q is not a backup action of this plan", a.From)
		}
		if !containsString(a.DependsOn, a.From) {
			return fmt.Errorf("from %q is not in depends_on: it could run before its backup", a.From)
		}
	}
	switch a.Kind {
	case Adopt:
		if a.Artifact == "" || a.Adopted == nil {
			return errors.New("an adopt action needs the artifact and the backup's description (adopted)")
		}
	case Ship, Verify, RestoreFull, RestoreLog:
		if a.Artifact == "" && a.From == "" {
			return fmt.Errorf("a %s action needs an artifact or the backup action it comes from", a.Kind)
		}
	case Prune:
		if a.Artifact == "" && a.From == "" && a.Key == "" {
			return errors.New("a prune action needs an artifact or a key")
		}
	case Record:
		if a.Position == nil {
			return errors.New("a record action needs the position")
		}
	}
	if a.Kind == Promote {
		switch a.Mode {
		case PromoteUnplanned, PromotePlanned, PromoteRecorded:
		default:
			return fmt.Errorf("unknown promotion %q (want %q, %q or %q)", a.Mode, PromoteUnplanned, PromotePlanned, PromoteRecorded)
		}
	}
	if (a.TailLog || a.Disconnect) && a.Kind != BackupLog {
		return fmt.Errorf("tail_log and disconnect are for a backup_log action, not %s", a.Kind)
	}
	if as := a.Assumed; as != nil {
		switch as.State {
		case engine.Absent, engine.Restoring, engine.Standby, engine.Online, engine.Other:
		default:
			return fmt.Errorf("assumed: unknown state %q", as.State)
		}
		if err := checkLSN(as.RedoLSN); err != nil {
			return fmt.Errorf("assumed: redo_lsn: %w", err)
		}
	}
	if a.Kind == RestoreFull || a.Kind == RestoreLog {
		switch a.Mode {
		case "", "standby", "norecovery":
		default:
			return fmt.Errorf("unknown restore mode %q (want \"standby\" or \"norecovery\")", a.Mode)
		}
	}
	for _, refs := range []struct {
		name string
		ids  []string
	}{{"depends_on", a.DependsOn}, {"after", a.After}} {
		for _, id := range refs.ids {
			switch {
			case id == a.ID:
				return fmt.Errorf("%s names the action itself", refs.name)
			case byID[id] == nil:
				return fmt.Errorf("%s names %q, which is not an action of this plan", refs.name, id)
			}
		}
	}
	if err := checkLSN(a.Continues); err != nil {
		return fmt.Errorf("continues: %w", err)
	}
	if ad := a.Adopted; ad != nil {
		if err := checkHeader(ad.Header); err != nil {
			return fmt.Errorf("adopted: %w", err)
		}
	}
	if pos := a.Position; pos != nil {
		if !pos.Kind.Valid() {
			return fmt.Errorf("position: unknown artifact kind %q", pos.Kind)
		}
		if err := checkLSN(pos.LastLSN); err != nil {
			return fmt.Errorf("position: last_lsn: %w", err)
		}
	}
	if o := a.Observed; o != nil {
		if err := checkTime(o.CreatedAt); err != nil {
			return fmt.Errorf("observed: created_at: %w", err)
		}
	}
	return nil
}

// checkAcyclic refuses a plan whose DependsOn and After go round in a
// circle: apply could never start the actions on it.
func checkAcyclic(actions []*Action, byID map[string]*Action) error {
	const (
		unseen = iota
		visiting
		done
	)
	mark := make(map[string]int, len(actions))
	var visit func(a *Action) error
	visit = func(a *Action) error {
		switch mark[a.ID] {
		case visiting:
			return fmt.Errorf("action %q depends on itself through depends_on or after", a.ID)
		case done:
			return nil
		}
		mark[a.ID] = visiting
		for _, ids := range [][]string{a.DependsOn, a.After} {
			for _, id := range ids {
				if err := visit(byID[id]); err != nil {
					return err
				}
			}
		}
		mark[a.ID] = done
		return nil
	}
	for _, a := range actions {
		if err := visit(a); err != nil {
			return err
		}
	}
	return nil
}

func checkHeader(h artifact.Header) error {
	if !h.Kind.Valid() {
		return fmt.Errorf("header: unknown artifact kind %q", h.Kind)
	}
	for _, l := range []struct {
		name string
		lsn  artifact.LSN
	}{{"first_lsn", h.FirstLSN}, {"last_lsn", h.LastLSN}, {"checkpoint_lsn", h.CheckpointLSN}, {"database_backup_lsn", h.DatabaseBackupLSN}} {
		if err := checkLSN(l.lsn); err != nil {
			return fmt.Errorf("header: %s: %w", l.name, err)
		}
	}
	if err := checkTime(h.Start); err != nil {
		return fmt.Errorf("header: start: %w", err)
	}
	if err := checkTime(h.Finish); err != nil {
		return fmt.Errorf("header: finish: %w", err)
	}
	return nil
}

// checkLSN accepts the unset LSN and decimal digits: LSN.Cmp compares
// digits, so anything else (spaces, signs) would compare wrongly.
func checkLSN(l artifact.LSN) error {
	for _, c := range []byte(l) {
		if c < '0' || c > '9' {
			return fmt.Errorf("%q is not a decimal number", string(l))
		}
	}
	return nil
}

// checkTime accepts a time that RFC 3339 writes exactly: a four-digit
// year both in its own zone (the plan file) and in UTC (the ledger, where
// apply records observed facts and adopted headers), and a zone offset of
// whole minutes under 24 hours.
func checkTime(t time.Time) error {
	if y, uy := t.Year(), t.UTC().Year(); y < 0 || y > 9999 || uy < 0 || uy > 9999 {
		return fmt.Errorf("%s is outside the years 0000-9999", t.Format(time.RFC3339Nano))
	}
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return fmt.Errorf("%s has a zone offset of %ds, which RFC 3339 cannot write", t.Format(time.RFC3339Nano), off)
	}
	return nil
}

// ErrStale is wrapped when a saved plan no longer matches the state or the
// configuration it was made from.
var ErrStale = errors.New("saved plan is stale")

// CheckCurrent refuses a saved plan made from another state or configuration.
func (p *Plan) CheckCurrent(st *state.State, configDigest string) error {
	lineage, serial := "", uint64(0)
	if st != nil {
		lineage, serial = st.Lineage, st.Serial
	}
	if p.Lineage != lineage {
		return fmt.Errorf("%w: it was made from state lineage %q, the state is lineage %q; run drsctl plan again", ErrStale, p.Lineage, lineage)
	}
	if p.ConfigDigest != "" && configDigest != "" && p.ConfigDigest != configDigest {
		return fmt.Errorf("%w: the configuration changed since the plan was made (or this is not the configuration it was made from); run drsctl plan again", ErrStale)
	}
	if p.Serial != serial {
		return fmt.Errorf("%w: it was made from state serial %d, the state is now at serial %d (something ran since); run drsctl plan again", ErrStale, p.Serial, serial)
	}
	return nil
}

// ConfigDigest identifies configuration sources (file name → bytes).
func ConfigDigest(sources map[string][]byte) string {
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(sources[n]))
		h.Write(sources[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Bytes is a convenience for tests and callers that keep plans in memory.
func (p *Plan) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	err := Save(&buf, p)
	return buf.Bytes(), err
}
