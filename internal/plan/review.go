package plan

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/state"
)

// CauseConfiguration marks an action a configuration change causes
// (Action.Cause); routine actions (due backups, their ships and restores,
// retention as it was) have none. A reviewer of a pull request reads the
// former; cron does the latter all day.
const CauseConfiguration = "configuration"

// Review is what a plan says to the reviewer of a configuration change:
// the actions the change causes are marked with CauseConfiguration, and
// Settings and Stopped say in words what changed that no action shows.
type Review struct {
	// Base says the plan was compared with the plan of a base configuration
	// (plan -base-config: the pull request's base), made from the same
	// ledger: an action is the change's when the base would not plan it.
	// Without a base, from the ledger alone: an action is the change's
	// when it works on a database drsctl never backed up or a target
	// database it never seeded.
	Base bool `json:"base"`
	// Settings are the differences between the base configuration and
	// this one, in words (with a base only).
	Settings []string `json:"settings,omitempty"`
	// Stopped are what the base would do that this configuration does not
	// (with a base only).
	Stopped []string `json:"stopped,omitempty"`
	// Causes sums up the actions the change causes, one line per target
	// (and one for the backup folders); Routine counts the others.
	Causes  []string `json:"causes,omitempty"`
	Routine int      `json:"routine"`
}

// HasConfigChanges reports whether the plan has anything a configuration
// change causes: what plan -detailed-exitcode speaks of.
func (p *Plan) HasConfigChanges() bool {
	if p.Review != nil && (len(p.Review.Settings) > 0 || len(p.Review.Stopped) > 0) {
		return true
	}
	for _, a := range p.Actions {
		if a.Cause == CauseConfiguration {
			return true
		}
	}
	return false
}

// Classify marks the actions of p that the configuration causes, from
// the ledger st alone (see Review.Base).
func Classify(p *Plan, st *state.State) {
	p.Review = &Review{}
	for _, a := range p.Actions {
		a.Cause = ""
		if neverProtected(st, a) {
			a.Cause = CauseConfiguration
		}
	}
	p.Review.sumUp(p, st)
}

// sumUp writes Causes and Routine.
func (r *Review) sumUp(p *Plan, st *state.State) {
	type sum struct {
		seeds, ships, restores, prunes, backups int
		verifies, records, promotes             int
		dbs                                     map[string]bool
		bytes, pruned                           int64
		unknown                                 bool // ships of backups this plan takes: size unknown
	}
	sums := map[string]*sum{}
	var order []string
	r.Causes, r.Routine = nil, 0
	for _, a := range p.Actions {
		if a.Cause != CauseConfiguration {
			r.Routine++
			continue
		}
		where := a.Target
		if sums[where] == nil {
			sums[where] = &sum{dbs: map[string]bool{}}
			order = append(order, where)
		}
		s := sums[where]
		s.dbs[a.Primary+"/"+a.Database] = true
		var size int64 = -1
		if a.Artifact != "" {
			if art := st.LookupDatabase(a.Primary, a.Database).Artifact(a.Artifact); art != nil {
				size = art.TotalSize()
			}
		}
		switch a.Kind {
		case RestoreFull:
			s.seeds++
		case RestoreLog:
			s.restores++
		case Ship:
			s.ships++
			if a.Seed && a.Target != "" && !hasRestore(p, a) {
				s.seeds++ // a copy-only target's seed
			}
			if size >= 0 {
				s.bytes += size
			} else {
				s.unknown = true
			}
		case Prune:
			s.prunes++
			if size > 0 {
				s.pruned += size
			}
		case BackupFull, BackupLog, Adopt:
			s.backups++
		case Verify:
			if !provesShip(p, a) {
				s.verifies++ // a copy already there; a ship's proof is the ship's
			}
		case Record:
			s.records++
		case Promote:
			s.promotes++
		}
	}
	sort.Strings(order)
	for _, where := range order {
		s := sums[where]
		var parts []string
		if s.seeds > 0 {
			parts = append(parts, fmt.Sprintf("seed %d database(s)", s.seeds))
		}
		if s.ships > 0 {
			b := FormatBytes(s.bytes)
			switch {
			case s.unknown && s.bytes == 0:
				b = "the backups this plan takes"
			case s.unknown:
				b += " and the backups this plan takes"
			}
			parts = append(parts, fmt.Sprintf("ship %d backup(s): %s", s.ships, b))
		}
		if s.restores > 0 {
			parts = append(parts, fmt.Sprintf("restore %d log backup(s)", s.restores))
		}
		if s.backups > 0 {
			parts = append(parts, fmt.Sprintf("take or record %d backup(s)", s.backups))
		}
		if s.prunes > 0 {
			parts = append(parts, fmt.Sprintf("delete %d backup(s) (%s)", s.prunes, FormatBytes(s.pruned)))
		}
		if s.verifies > 0 {
			parts = append(parts, fmt.Sprintf("verify and record %d copies already there", s.verifies))
		}
		if s.records > 0 {
			parts = append(parts, fmt.Sprintf("record where %d database(s) stand", s.records))
		}
		if s.promotes > 0 {
			parts = append(parts, fmt.Sprintf("PROMOTE %d database(s)", s.promotes))
		}
		dbs := make([]string, 0, len(s.dbs))
		for d := range s.dbs {
			dbs = append(dbs, d)
		}
		sort.Strings(dbs)
		if len(dbs) > 5 {
			dbs = append(dbs[:5], fmt.Sprintf("and %d more", len(dbs)-5))
		}
		label := "primaries and backup folders"
		if where != "" {
			label = fmt.Sprintf("target %q", where)
		}
		r.Causes = append(r.Causes, fmt.Sprintf("%s: %s (%s)", label, strings.Join(parts, ", "), strings.Join(dbs, ", ")))
	}
}

// provesShip: v verifies a copy a ship of this plan makes.
func provesShip(p *Plan, v *Action) bool {
	for _, a := range p.Actions {
		if a.Kind == Ship && slices.Contains(v.DependsOn, a.ID) {
			return true
		}
	}
	return false
}

func hasRestore(p *Plan, ship *Action) bool {
	for _, a := range p.Actions {
		if a.Target == ship.Target && a.Database == ship.Database && a.Primary == ship.Primary && (a.Kind == RestoreFull || a.Kind == RestoreLog) {
			return true
		}
	}
	return false
}

// FormatBytes renders a size for people, in binary units: 1.5 GiB, 512 B.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// neverProtected: a's database was never backed up by drsctl (an action on
// the primary) or never seeded on a's target.
func neverProtected(st *state.State, a *Action) bool {
	if a.Target == "" {
		d := st.LookupDatabase(a.Primary, a.Database)
		return d == nil || len(d.Artifacts) == 0
	}
	td := st.LookupTargetDatabase(a.Target, a.Database)
	return td == nil || td.SeededFrom == "" && td.Seeding == "" && td.Restored == nil && len(td.Copies) == 0
}

// ClassifyAgainst marks the actions of p (made from cfg) that base (made
// from baseCfg, the same ledger and the same moment) does not have: what
// the change from baseCfg to cfg causes; and says in words what else
// changed.
func ClassifyAgainst(p *Plan, st *state.State, cfg *config.Config, base *Plan, baseCfg *config.Config) {
	p.Review = &Review{Base: true}
	had := map[string]bool{}
	for _, a := range base.Actions {
		had[a.ID] = true
	}
	mine := map[string]bool{}
	for _, a := range p.Actions {
		mine[a.ID] = true
		a.Cause = ""
		if !had[a.ID] {
			a.Cause = CauseConfiguration
		}
	}
	p.Review.Settings = settingChanges(baseCfg, cfg)
	p.Review.sumUp(p, st)
	stopped := map[string]int{}
	for _, a := range base.Actions {
		if !mine[a.ID] {
			stopped[stoppedLabel(a)]++
		}
	}
	for l, n := range stopped {
		if n > 1 {
			l = fmt.Sprintf("%s (%d actions)", l, n)
		}
		p.Review.Stopped = append(p.Review.Stopped, l)
	}
	sort.Strings(p.Review.Stopped)
}

func stoppedLabel(a *Action) string {
	s := fmt.Sprintf("%s on primary %q database %q", strings.ReplaceAll(a.Kind.String(), "_", " "), a.Primary, a.Database)
	if a.Target != "" {
		s += fmt.Sprintf(" for target %q", a.Target)
	}
	return s
}

// ReviewKey identifies an action across plans made at different times
// from the same configuration: what a reviewer approved ("seed target
// east with db1", "prune this backup"), not which backup a ship carries,
// which routine runs move on.
func (a *Action) ReviewKey() string {
	k := fmt.Sprintf("%s|%s|%s|%s|seed=%t|replace=%t", a.Kind, a.Primary, a.Database, a.Target, a.Seed, a.Replace)
	if a.Kind == Prune {
		k += "|" + a.Artifact + a.Key
	}
	return k
}

// StillApproved checks a saved plan's reviewed changes against a plan made
// now from the same configuration and the ledger as routine runs left it:
// every action the reviewer approved must still be planned (the part of
// the ledger it relied on is as it was), and nothing that only a change
// of configuration causes may have appeared unreviewed. It returns the
// differences, one per line; none when the reviewed plan still stands.
func StillApproved(saved, now *Plan) []string {
	approved := map[string]*Action{}
	for _, a := range saved.Actions {
		if a.Cause == CauseConfiguration {
			approved[a.ReviewKey()] = a
		}
	}
	planned := map[string]bool{}
	var diffs []string
	for _, a := range now.Actions {
		k := a.ReviewKey()
		planned[k] = true
		if approved[k] == nil && a.Replace {
			// A REPLACE is never run unreviewed.
			diffs = append(diffs, "now also planned, and not in the reviewed plan: "+a.Describe())
		}
	}
	for k, a := range approved {
		if !planned[k] {
			diffs = append(diffs, "reviewed, and no longer planned: "+a.Describe())
		}
	}
	sort.Strings(diffs)
	return diffs
}

// LeaveUnheldPrunes takes out of now (a saved plan planned again after
// routine runs, which StillApproved accepted) the prunes the saved plan
// did not hold, and returns them in words: a reviewed plan deletes
// nothing the reviewer did not see listed. They are left to the next run
// (retention as the merged configuration says: backups that aged out
// since the plan was made, or that a failover stopped holding back).
func LeaveUnheldPrunes(saved, now *Plan, st *state.State) []string {
	held := map[string]bool{}
	for _, a := range saved.Actions {
		if a.Kind == Prune {
			held[a.ReviewKey()] = true
		}
	}
	gone := map[string]bool{}
	var left []string
	kept := now.Actions[:0:0]
	for _, a := range now.Actions {
		if a.Kind == Prune && !held[a.ReviewKey()] {
			gone[a.ID] = true
			left = append(left, a.Describe())
			continue
		}
		kept = append(kept, a)
	}
	if len(gone) == 0 {
		return nil
	}
	drop := func(ids []string) []string {
		out := ids[:0:0]
		for _, id := range ids {
			if !gone[id] {
				out = append(out, id)
			}
		}
		return out
	}
	for _, a := range kept {
		a.DependsOn, a.After = drop(a.DependsOn), drop(a.After)
	}
	now.Actions = kept
	if now.Review != nil {
		now.Review.sumUp(now, st)
	}
	sort.Strings(left)
	return left
}

// settingChanges says in words how cfg differs from base, for what
// matters to the estate (not formatting or comments).
func settingChanges(base, cfg *config.Config) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for _, bp := range base.Primaries {
		p := cfg.PrimaryByName(bp.Name)
		if p == nil {
			add("primary %q is removed: its databases (%s) are no longer backed up or protected", bp.Name, strings.Join(bp.Databases, ", "))
			continue
		}
		for _, d := range bp.Databases {
			if !contains(p.Databases, d) {
				add("database %q of primary %q is no longer protected: no more backups, ships or restores", d, p.Name)
			}
		}
		for _, d := range p.Databases {
			if !contains(bp.Databases, d) {
				add("database %q of primary %q is added", d, p.Name)
			}
		}
		if bp.FullBackup.Every != p.FullBackup.Every {
			add("primary %q: full backup every %s → %s", p.Name, fmtDur(bp.FullBackup.Every), fmtDur(p.FullBackup.Every))
		}
		if bp.LogBackup.Every != p.LogBackup.Every {
			add("primary %q: log backup every %s → %s", p.Name, fmtDur(bp.LogBackup.Every), fmtDur(p.LogBackup.Every))
		}
		if bp.RPO != p.RPO {
			add("primary %q: rpo %s → %s", p.Name, fmtDur(bp.RPO), fmtDur(p.RPO))
		}
		if bp.Engine != p.Engine {
			add("primary %q: engine %s → %s", p.Name, bp.Engine, p.Engine)
		}
		if !sameSecret(bp.Connection, p.Connection) {
			add("primary %q: connection changed (another server, or other credentials; not shown): backups are taken there", p.Name)
		}
		if bp.Compression != p.Compression {
			add("primary %q: compression %s → %s", p.Name, onOff(bp.Compression), onOff(p.Compression))
		}
		if bp.Credential != p.Credential {
			add("primary %q: credential %q → %q", p.Name, bp.Credential, p.Credential)
		}
		if !sameAlert(bp.FullBackup.AlertAfter, p.FullBackup.AlertAfter) {
			add("primary %q: full_backup alert_after %s → %s", p.Name, alertAfter(bp.FullBackup.AlertAfter), alertAfter(p.FullBackup.AlertAfter))
		}
		if !sameAlert(bp.LogBackup.AlertAfter, p.LogBackup.AlertAfter) {
			add("primary %q: log_backup alert_after %s → %s", p.Name, alertAfter(bp.LogBackup.AlertAfter), alertAfter(p.LogBackup.AlertAfter))
		}
		if bp.Folder != nil && p.Folder != nil {
			if bp.Folder.URL != p.Folder.URL {
				add("primary %q: backup folder %s → %s", p.Name, safeURL(bp.Folder.URL), safeURL(p.Folder.URL))
			}
			if bp.Folder.ServerPath != p.Folder.ServerPath {
				add("primary %q: backup folder server_path %q → %q (where the server writes its backups)", p.Name, bp.Folder.ServerPath, p.Folder.ServerPath)
			}
			if bp.Folder.Retention != p.Folder.Retention {
				add("primary %q: backup folder retention %s → %s%s", p.Name, retention(bp.Folder.Retention), retention(p.Folder.Retention), shorter(bp.Folder.Retention, p.Folder.Retention))
			}
		}
	}
	for _, p := range cfg.Primaries {
		if base.PrimaryByName(p.Name) == nil {
			add("primary %q is added with databases %s", p.Name, strings.Join(p.Databases, ", "))
		}
	}
	for _, bt := range base.Targets {
		t := cfg.TargetByName(bt.Name)
		if t == nil {
			add("target %q is removed: nothing is shipped or restored there any more; what it holds stays as it is", bt.Name)
			continue
		}
		if bt.Destination.URL != t.Destination.URL {
			add("target %q: destination %s → %s (everything the target needs is shipped to the new one)", t.Name, safeURL(bt.Destination.URL), safeURL(t.Destination.URL))
		}
		if bt.Destination.Retention != t.Destination.Retention {
			add("target %q: destination retention %s → %s%s", t.Name, retention(bt.Destination.Retention), retention(t.Destination.Retention), shorter(bt.Destination.Retention, t.Destination.Retention))
		}
		if bt.RestoreMode != t.RestoreMode {
			add("target %q: restore_mode %s → %s", t.Name, bt.RestoreMode, t.RestoreMode)
		}
		if bt.Kind != t.Kind {
			add("target %q: kind %s → %s", t.Name, bt.Kind, t.Kind)
		}
		if bt.Primary != nil && t.Primary != nil && bt.Primary.Name != t.Primary.Name {
			add("target %q: primary %q → %q", t.Name, bt.Primary.Name, t.Primary.Name)
		}
		if bt.RestoreDelay != t.RestoreDelay {
			add("target %q: restore_delay %s → %s", t.Name, fmtDur(bt.RestoreDelay), fmtDur(t.RestoreDelay))
		}
		if !sameSecret(bt.Connection, t.Connection) {
			add("target %q: connection changed (another server, or other credentials; not shown)", t.Name)
		}
		if bt.Databases != nil || t.Databases != nil {
			for _, d := range bt.DatabaseNames() {
				if !contains(t.DatabaseNames(), d) {
					add("target %q: database %q is no longer shipped or restored there; what it holds stays as it is", t.Name, d)
				}
			}
			for _, d := range t.DatabaseNames() {
				if !contains(bt.DatabaseNames(), d) {
					add("target %q: database %q is added", t.Name, d)
				}
			}
		}
		bd, d := bt.Destination, t.Destination
		if bd.ServerPath != d.ServerPath {
			add("target %q: destination server_path %q → %q (where the target's server reads its copies)", t.Name, bd.ServerPath, d.ServerPath)
		}
		if bd.PartSize != d.PartSize || bd.Concurrency != d.Concurrency {
			add("target %q: destination part_size %d → %d, concurrency %d → %d (0: the driver's default)", t.Name, bd.PartSize, d.PartSize, bd.Concurrency, d.Concurrency)
		}
		if bd.Credential != d.Credential {
			add("target %q: destination credential %q → %q", t.Name, bd.Credential, d.Credential)
		}
		if bw, w := windows(bt.RestoreWindows), windows(t.RestoreWindows); bw != w {
			add("target %q: restore_window %s → %s", t.Name, bw, w)
		}
		if bt.DisconnectUsers != t.DisconnectUsers {
			add("target %q: disconnect_users %t → %t", t.Name, bt.DisconnectUsers, t.DisconnectUsers)
		}
		if bt.DataDir != t.DataDir || bt.LogDir != t.LogDir {
			add("target %q: data_dir %q → %q, log_dir %q → %q (where seeds put the database's files)", t.Name, bt.DataDir, t.DataDir, bt.LogDir, t.LogDir)
		}
		if !sameAlert(bt.RestoreAlertAfter, t.RestoreAlertAfter) {
			add("target %q: restore_alert_after %s → %s", t.Name, alertAfter(bt.RestoreAlertAfter), alertAfter(t.RestoreAlertAfter))
		}
		if bt.DrillAlertAfter != t.DrillAlertAfter {
			add("target %q: drill_alert_after %s → %s", t.Name, alertAfter(&bt.DrillAlertAfter), alertAfter(&t.DrillAlertAfter))
		}
	}
	if base.State.URL != cfg.State.URL {
		add("the state moves: %s → %s (a state that is not there yet starts a new ledger: everything is seeded again)", stateURL(base.State.URL), stateURL(cfg.State.URL))
	}
	for _, t := range cfg.Targets {
		if base.TargetByName(t.Name) == nil {
			add("target %q is added (%s of primary %q): %s", t.Name, t.Kind, t.Primary.Name, strings.Join(t.DatabaseNames(), ", "))
		}
	}
	return out
}

func sameSecret(a, b config.Secret) bool {
	if a.IsSet() != b.IsSet() {
		return false
	}
	va, ea := a.Value()
	vb, eb := b.Value()
	if ea != nil || eb != nil {
		// Not known (an env() not set here): the same when unknown alike.
		return ea != nil && eb != nil && ea.Error() == eb.Error()
	}
	return va == vb
}

func sameAlert(a, b *time.Duration) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func alertAfter(d *time.Duration) string {
	switch {
	case d == nil:
		return "the default"
	case *d == 0:
		return "never"
	}
	return fmtDur(*d)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func windows(ws config.RestoreWindows) string {
	if len(ws) == 0 {
		return "none (restores at any time)"
	}
	return ws.String()
}

func stateURL(s string) string {
	if s == "" {
		return "the default (beside the configuration)"
	}
	return safeURL(s)
}

func retention(d time.Duration) string {
	if d == 0 {
		return "none (keep everything)"
	}
	return fmtDur(d)
}

func shorter(before, after time.Duration) string {
	if after > 0 && (before == 0 || after < before) {
		return ": shorter, so backups are deleted sooner (the prunes below)"
	}
	return ""
}

// safeURL drops any user information from a URL before it is shown.
func safeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	u.User = nil
	return u.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
