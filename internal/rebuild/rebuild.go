// Package rebuild reconstructs drsctl's ledger when it was lost (`drsctl
// state rebuild`). The ledger is a record of facts the servers and storage
// also hold: which backups drsctl took (its own key layout in the backup
// folder, described by the primary's backup history or by the backup
// file's header), where each was shipped (the same keys at each
// destination, read back and compared byte for byte), and where each
// standby stands and what it was seeded from (the standby server's restore
// history). Rebuild turns those facts into a new ledger and says what it
// found and why it adopted or left each thing.
//
// It never makes a database drsctl's that drsctl did not seed: a standby is
// adopted only when the full backup its server last seeded it from is one
// of drsctl's own backups (drsctl's key at the target's destination, with
// the LSNs and family the primary's history or the file itself gives).
// Anything else is left out of the ledger, so no plan ever restores over it.
//
// The package is core: it sees storage, servers and the key layout only
// through the small interfaces below, wired by internal/cli.
package rebuild

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// Reader reads objects in storage.
type Reader interface {
	// Checksum reads the object key at the storage URL whole and returns
	// its size and SHA-256 (hex).
	Checksum(ctx context.Context, url, key string) (size int64, sha256 string, err error)
}

// Describer reads the header of a backup file through the primary's server
// (for a backup the server's history no longer describes).
type Describer interface {
	Describe(ctx context.Context, p *config.Primary, serverPath string) (artifact.Header, error)
}

// Keys is drsctl's key layout (internal/blob's), the one place that says
// what drsctl names its backups.
type Keys interface {
	ArtifactKey(primary, database string, kind artifact.Kind, file string) string
	ParseArtifactFile(file string) (database string, kind artifact.Kind, t time.Time, ok bool)
	ServerPath(base, key string) string
}

// Sources are what a rebuild reads.
type Sources struct {
	// Observed is a refresh of everything the configuration names, with
	// each primary's backup history from far enough back to describe every
	// backup of drsctl's still in storage.
	Observed  *plan.Observed
	Reader    Reader
	Describer Describer
	Keys      Keys
	Now       time.Time
}

// Report says what a rebuild found and adopted, for the operator.
type Report struct {
	Databases []DatabaseReport
	Targets   []TargetReport
}

// DatabaseReport is one primary database.
type DatabaseReport struct {
	Primary, Database string
	// Artifacts found, in taken order: "Sales_full_….bak (full, LSN a–b):
	// backup folder, described by the primary's history".
	Artifacts []string
	// Notes are what was left out, and why.
	Notes []string
}

// TargetReport is one target database.
type TargetReport struct {
	Target, Database string
	// Verdict is what the target database was recorded as.
	Verdict string
	// Copies found at the destination and recorded (proven byte for byte).
	Copies int
	// Notes are copies left out, and why.
	Notes []string
}

// farBack is how far back a rebuild asks for the primaries' backup
// history: all of it, in practice.
var farBack = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// HistorySince is when the primaries' backup history must begin for a
// rebuild: the standbys' seeds may be older than anything in storage.
func HistorySince() time.Time { return farBack }

// Rebuild returns a new ledger (lineage set, serial 0) reconstructed from
// what src observed. It fails, returning nothing, when something it needs
// could not be observed: a ledger built from part of the facts would leave
// standbys out that drsctl owns, or forget copies it made.
func Rebuild(ctx context.Context, cfg *config.Config, src Sources) (*state.State, *Report, error) {
	obs := src.Observed
	if obs == nil || !obs.Refreshed {
		return nil, nil, errors.New("rebuild needs a refresh of the servers and storage")
	}
	if err := unobserved(cfg, obs); err != nil {
		return nil, nil, err
	}
	now := src.Now.UTC()
	st := state.New(state.NewLineage())
	rep := &Report{}
	r := &rebuilder{cfg: cfg, src: src, now: now, st: st, rep: rep, sums: map[string]sum{}}
	for _, p := range cfg.Primaries {
		for _, db := range p.Databases {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			r.database(ctx, p, db)
		}
	}
	return st, rep, nil
}

// unobserved lists every observation that failed.
func unobserved(cfg *config.Config, obs *plan.Observed) error {
	var errs []string
	for _, p := range cfg.Primaries {
		switch po := obs.Primaries[p.Name]; {
		case po == nil:
			errs = append(errs, fmt.Sprintf("primary %q was not observed", p.Name))
		case po.Err != "":
			errs = append(errs, po.Err)
		}
	}
	for _, f := range cfg.BackupFolders {
		switch so := obs.Folders[f.Name]; {
		case so == nil:
			errs = append(errs, fmt.Sprintf("backup folder %q was not listed", f.Name))
		case so.Err != "":
			errs = append(errs, so.Err)
		}
	}
	for _, t := range cfg.Targets {
		switch so := obs.Destinations[t.Name]; {
		case so == nil:
			errs = append(errs, fmt.Sprintf("target %q's destination was not listed", t.Name))
		case so.Err != "":
			errs = append(errs, so.Err)
		}
		if !t.Restores() {
			continue
		}
		switch to := obs.Targets[t.Name]; {
		case to == nil:
			errs = append(errs, fmt.Sprintf("target %q was not observed", t.Name))
		case to.Err != "":
			errs = append(errs, to.Err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("cannot rebuild the state: %s\nEvery server and every storage place must answer, or the rebuilt ledger would leave out standbys drsctl seeded and copies it made. Fix the above and run it again; nothing was written", strings.Join(errs, "; "))
}

type sum struct {
	size int64
	sha  string
	err  error
}

type rebuilder struct {
	cfg *config.Config
	src Sources
	now time.Time
	st  *state.State
	rep *Report
	// sums caches what was read, by URL and key.
	sums map[string]sum
	// byDB indexes each backup folder's keys by the database their file
	// names (parsed once, not once per database).
	byDB map[string]map[string][]string
}

// folderKeys returns a folder's keys whose file names are drsctl's, by
// database.
func (r *rebuilder) folderKeys(folder string, fo *plan.StorageObservation) map[string][]string {
	if m, ok := r.byDB[folder]; ok {
		return m
	}
	m := map[string][]string{}
	for key := range fo.Objects {
		if db, _, _, ok := r.src.Keys.ParseArtifactFile(path.Base(key)); ok {
			m[db] = append(m[db], key)
		}
	}
	if r.byDB == nil {
		r.byDB = map[string]map[string][]string{}
	}
	r.byDB[folder] = m
	return m
}

func (r *rebuilder) checksum(ctx context.Context, url, key string) sum {
	k := url + "\x00" + key
	if s, ok := r.sums[k]; ok {
		return s
	}
	var s sum
	s.size, s.sha, s.err = r.src.Reader.Checksum(ctx, url, key)
	r.sums[k] = s
	return s
}

// found is one of drsctl's backups found in storage or history.
type found struct {
	key  string
	file string
	at   time.Time // the time in its name (drsctl's clock)
	kind artifact.Kind
	hist *engine.BackupRecord
}

// database rebuilds one primary database and its targets' records.
func (r *rebuilder) database(ctx context.Context, p *config.Primary, db string) {
	dr := DatabaseReport{Primary: p.Name, Database: db}
	obs := r.src.Observed
	po := obs.Primaries[p.Name]
	o := po.Databases[db]
	fo := obs.Folders[p.Folder.Name]
	keys := r.src.Keys

	// drsctl's backups of db: by key in the folder, or by the primary's
	// history naming such a key (the file may be gone from the folder and
	// still be at a destination).
	mine := func(key string) (found, bool) {
		file := path.Base(key)
		name, kind, at, ok := keys.ParseArtifactFile(file)
		if !ok || name != db || keys.ArtifactKey(p.Name, db, kind, file) != key {
			return found{}, false
		}
		return found{key: key, file: file, at: at, kind: kind}, true
	}
	byKey := map[string]*found{}
	if o != nil {
		for i := range o.Backups {
			h := &o.Backups[i]
			key, under := plan.KeyFromServerPath(p.Folder.ServerPath, h.Path)
			if !under {
				continue
			}
			if f, ok := mine(key); ok {
				f.hist = h // a file written twice holds the later backup
				byKey[key] = &f
			}
		}
	}
	for _, key := range r.folderKeys(p.Folder.Name, fo)[db] {
		if _, ok := byKey[key]; ok {
			continue
		}
		if f, ok := mine(key); ok {
			byKey[key] = &f
		}
	}
	var all []*found
	for _, f := range byKey {
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].key < all[j].key })

	var arts []*state.Artifact
	where := map[string]string{}
	for _, f := range all {
		a, from, note := r.artifact(ctx, p, db, f)
		if note != "" {
			dr.Notes = append(dr.Notes, note)
		}
		if a != nil {
			arts = append(arts, a)
			where[a.ID] = from
		}
	}
	// Taken order: drsctl names a backup by its clock when it starts it,
	// one at a time per database; LSNs break a tie within a second.
	sort.SliceStable(arts, func(i, j int) bool {
		ti, tj := timeOf(keys, arts[i]), timeOf(keys, arts[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return arts[i].LastLSN.Cmp(arts[j].LastLSN) < 0
	})
	led := r.st.Database(p.Name, db)
	var prev *state.Artifact
	for _, a := range arts {
		// A full of another family than the backup before it began a new
		// chain (the database was recreated or restored over).
		if prev != nil && a.Kind == artifact.Full && a.FamilyGUID != "" && prev.FamilyGUID != "" && !strings.EqualFold(a.FamilyGUID, prev.FamilyGUID) {
			a.NewFork = true
		}
		led.Artifacts = append(led.Artifacts, a)
		dr.Artifacts = append(dr.Artifacts, fmt.Sprintf("%s (%s, LSN %s–%s): %s", a.ID, a.Kind, a.FirstLSN, a.LastLSN, where[a.ID]))
		prev = a
	}
	if o != nil && o.Exists {
		led.RecoveryModel, led.CreatedAt, led.Identity = o.RecoveryModel, o.CreatedAt, o.Identity
		if end := logEnd(arts); o.LogChain && !o.ChainLSN.IsZero() && !end.IsZero() && o.ChainLSN.Cmp(end) < 0 {
			led.Restart = fmt.Sprintf("the primary's log chain stands at LSN %s, before LSN %s where drsctl's log backups end: the database was restored to an earlier point", o.ChainLSN, end)
			dr.Notes = append(dr.Notes, "the next plan takes a new full backup: "+led.Restart)
		}
	} else {
		dr.Notes = append(dr.Notes, fmt.Sprintf("database %q does not exist on primary %q: its backups are recorded, nothing more", db, p.Name))
	}
	if len(led.Artifacts) == 0 && led.Restart == "" {
		dr.Notes = append(dr.Notes, "no backup of drsctl's found: the next plan takes a full backup")
	}
	r.rep.Databases = append(r.rep.Databases, dr)

	for _, t := range r.cfg.TargetsOf(p) {
		if !slices.Contains(t.DatabaseNames(), db) {
			continue
		}
		r.target(ctx, p, t, db, led, byKey)
	}
}

func timeOf(keys Keys, a *state.Artifact) time.Time {
	_, _, t, _ := keys.ParseArtifactFile(a.ID)
	return t
}

// logEnd is where drsctl's newest log backup ends ("" without one).
func logEnd(arts []*state.Artifact) artifact.LSN {
	var end artifact.LSN
	for _, a := range arts {
		if a.Kind == artifact.Log && a.LastLSN.Cmp(end) > 0 {
			end = a.LastLSN
		}
	}
	return end
}

// artifact describes and reads one of drsctl's backups: from the backup
// folder when every file of it is there, else from the copies at the
// destinations (a cleanup job deleted it from the folder) when they agree
// byte for byte. from says where it was found; note why it was left out.
func (r *rebuilder) artifact(ctx context.Context, p *config.Primary, db string, f *found) (a *state.Artifact, from, note string) {
	fo := r.src.Observed.Folders[p.Folder.Name]
	_, inFolder := fo.Objects[f.key]
	var h artifact.Header
	described := "the primary's backup history"
	switch {
	case f.hist != nil:
		h = f.hist.Header
	case inFolder:
		var err error
		h, err = r.src.Describer.Describe(ctx, p, r.src.Keys.ServerPath(p.Folder.ServerPath, f.key))
		if err != nil {
			return nil, "", fmt.Sprintf("%s is in the backup folder but neither the primary's history nor its header describes it (%v): left out", f.file, err)
		}
		described = "its header, read by the primary's server"
	default:
		return nil, "", ""
	}
	if h.Kind != f.kind || (h.Database != "" && h.Database != db) {
		return nil, "", fmt.Sprintf("%s is named a %s backup of %q but holds a %s backup of %q: left out", f.file, f.kind, db, h.Kind, h.Database)
	}
	if h.Stripes < 0 {
		return nil, "", fmt.Sprintf("%s is striped across files drsctl does not name: left out", f.file)
	}
	files := artifact.StripePaths(f.key, h.Stripes)
	a = &state.Artifact{ID: f.file, Header: h, Key: f.key}
	set := func(sums []sum) {
		a.Size, a.SHA256 = sums[0].size, sums[0].sha
		a.More = nil
		for i, s := range sums[1:] {
			a.More = append(a.More, state.Stripe{Key: files[i+1], Size: s.size, SHA256: s.sha})
		}
	}
	// The backup folder's files.
	complete := true
	for _, k := range files {
		if _, ok := fo.Objects[k]; !ok {
			complete = false
		}
	}
	if complete {
		sums := make([]sum, len(files))
		for i, k := range files {
			if sums[i] = r.checksum(ctx, p.Folder.URL, k); sums[i].err != nil {
				return nil, "", fmt.Sprintf("%s is in the backup folder but cannot be read (%v): left out", f.file, sums[i].err)
			}
		}
		set(sums)
		return a, "backup folder, described by " + described, ""
	}
	// Gone from the folder: the destinations' copies, when they agree.
	var agreed []sum
	var at []string
	for _, t := range r.cfg.TargetsOf(p) {
		dest := r.src.Observed.Destinations[t.Name]
		if !slices.Contains(t.DatabaseNames(), db) || dest == nil {
			continue
		}
		sums := make([]sum, len(files))
		ok := true
		for i, k := range files {
			if _, listed := dest.Objects[k]; !listed {
				ok = false
				break
			}
			if sums[i] = r.checksum(ctx, t.Destination.URL, k); sums[i].err != nil {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if agreed != nil && !sameSums(agreed, sums) {
			return nil, "", fmt.Sprintf("%s is gone from the backup folder and its copies at %s and %q differ: none is trusted, it is left out", f.file, strings.Join(at, ", "), t.Name)
		}
		agreed = sums
		at = append(at, fmt.Sprintf("%q", t.Name))
	}
	if agreed == nil {
		return nil, "", ""
	}
	set(agreed)
	pruned := r.now
	a.PrunedAt = &pruned
	return a, fmt.Sprintf("gone from the backup folder; copies at %s agree, described by %s", strings.Join(at, ", "), described), ""
}

func sameSums(a, b []sum) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].size != b[i].size || a[i].sha != b[i].sha {
			return false
		}
	}
	return true
}

// target records one target database: its copies (proven byte for byte
// against the artifact), and for a standby what it was seeded from and
// where it stands, when drsctl seeded it.
func (r *rebuilder) target(ctx context.Context, p *config.Primary, t *config.Target, db string, led *state.Database, byKey map[string]*found) {
	tr := TargetReport{Target: t.Name, Database: db}
	dest := r.src.Observed.Destinations[t.Name]
	copies := map[string]*state.Copy{}
	for _, a := range led.Artifacts {
		c, note := r.copyOf(ctx, t, dest, a)
		if note != "" {
			tr.Notes = append(tr.Notes, note)
		}
		if c != nil {
			copies[a.ID] = c
		}
	}
	tr.Copies = len(copies)
	record := func() *state.TargetDatabase {
		td := r.st.TargetDatabase(t.Name, db)
		for id, c := range copies {
			td.Copies[id] = c
		}
		return td
	}
	defer func() { r.rep.Targets = append(r.rep.Targets, tr) }()

	if !t.Restores() {
		if len(copies) == 0 {
			tr.Verdict = "copy-only: nothing of drsctl's there yet"
			return
		}
		td := record()
		for _, a := range led.Artifacts {
			if a.Kind == artifact.Full && copies[a.ID] != nil {
				td.SeededFrom = a.ID
				break
			}
		}
		tr.Verdict = fmt.Sprintf("copy-only: holds drsctl's copies from %s on", td.SeededFrom)
		if td.SeededFrom == "" {
			tr.Verdict = "copy-only: holds drsctl's log backups but no full backup"
		}
		return
	}

	o := r.src.Observed.Targets[t.Name].Databases[db]
	if o == nil || o.State == engine.Absent {
		if len(copies) > 0 {
			record()
		}
		tr.Verdict = "absent on the server: the next apply seeds it"
		return
	}
	seed, why := r.seededBy(p, t, db, o, led, byKey)
	if seed == "" {
		// Not drsctl's: it stays out of the ledger (its copies too, which
		// would otherwise let a seed whose reply was lost claim it), and
		// no plan restores over it.
		tr.Verdict = fmt.Sprintf("left alone (%s): %s", standbyWords(o), why)
		if len(copies) > 0 {
			tr.Notes = append(tr.Notes, fmt.Sprintf("its destination holds %d copies of drsctl's backups, not recorded with it", len(copies)))
		}
		tr.Copies = 0
		return
	}
	td := record()
	td.SeededFrom = seed
	switch o.State {
	case engine.Online:
		now := r.now
		td.PromotedAt, td.PromotedHow = &now, state.PromoteRecorded
		if o.LastRestore != nil {
			td.PromotedLSN = o.LastRestore.LastLSN
		}
		tr.Verdict = fmt.Sprintf("seeded by drsctl from %s and since recovered (ONLINE): recorded as promoted; nothing is restored over it unless `drsctl reprotect` asks", seed)
		return
	}
	a := positionOf(t, o, led)
	if a == nil {
		tr.Verdict = fmt.Sprintf("seeded by drsctl from %s; it stands at LSN %s, which no backup of drsctl's found ends at: the next plan places it, or says why not", seed, lsnOrNone(o.RedoLSN))
		return
	}
	at := r.now
	if o.LastRestore != nil && !o.LastRestore.At.IsZero() {
		at = o.LastRestore.At
	}
	td.Restored = &state.Restore{Artifact: a.ID, Kind: a.Kind, LastLSN: a.LastLSN, Mode: string(t.RestoreMode), At: at}
	tr.Verdict = fmt.Sprintf("seeded by drsctl from %s, %s, stands after %s (LSN %s)", seed, standbyWords(o), a.ID, a.LastLSN)
}

// copyOf proves the copy of a at t's destination: every file listed with
// the artifact's size and read back with its SHA-256. Anything less is not
// recorded: a copy the ledger does not hold is shipped again or proven by
// the next apply, never trusted unread.
func (r *rebuilder) copyOf(ctx context.Context, t *config.Target, dest *plan.StorageObservation, a *state.Artifact) (*state.Copy, string) {
	files := a.Files()
	if _, ok := dest.Objects[files[0].Key]; !ok {
		return nil, ""
	}
	for i, f := range files {
		what := "the copy of " + a.ID
		if i > 0 {
			what = fmt.Sprintf("stripe %s of the copy of %s", path.Base(f.Key), a.ID)
		}
		obj, ok := dest.Objects[f.Key]
		switch {
		case !ok:
			return nil, fmt.Sprintf("%s is missing: the copy is not recorded", what)
		case obj.Size != f.Size:
			return nil, fmt.Sprintf("%s has %d bytes, the backup %d: not recorded", what, obj.Size, f.Size)
		}
		s := r.checksum(ctx, t.Destination.URL, f.Key)
		switch {
		case s.err != nil:
			return nil, fmt.Sprintf("%s cannot be read (%v): not recorded", what, s.err)
		case s.size != f.Size || s.sha != f.SHA256:
			return nil, fmt.Sprintf("%s differs from the backup's bytes: not recorded", what)
		}
	}
	obj := dest.Objects[a.Key]
	now := r.now
	shipped := obj.ModTime
	if shipped.IsZero() {
		shipped = now
	}
	return &state.Copy{Key: a.Key, Size: a.Size, SHA256: a.SHA256, ShippedAt: shipped.UTC(), VerifiedAt: &now, ModTime: obj.ModTime}, ""
}

// seededBy returns the ID of drsctl's full backup a standby was seeded
// from, or "" and why it is not drsctl's: its server's newest full restore
// must have read drsctl's key at the target's destination, and that key
// must be a full backup of drsctl's with the same LSNs and family (as the
// rebuilt ledger or the primary's history has it).
func (r *rebuilder) seededBy(p *config.Primary, t *config.Target, db string, o *engine.StandbyDatabase, led *state.Database, byKey map[string]*found) (string, string) {
	s := o.SeedRestore
	if s == nil {
		return "", "its server's restore history has no full restore of this database: drsctl cannot tell it seeded it"
	}
	key, under := plan.KeyFromServerPath(t.Destination.ServerPath, s.Path)
	if !under {
		return "", fmt.Sprintf("it was seeded from %s, not from the target's destination", s.Path)
	}
	if first, _, _, ok := artifact.ParseStripe(key); ok {
		key = first
	}
	same := func(h artifact.Header) bool {
		return h.Kind == artifact.Full && h.FirstLSN.Cmp(s.FirstLSN) == 0 && h.LastLSN.Cmp(s.LastLSN) == 0 &&
			(h.FamilyGUID == "" || s.FamilyGUID == "" || strings.EqualFold(h.FamilyGUID, s.FamilyGUID))
	}
	for _, a := range led.Artifacts {
		if a.Key == key {
			if same(a.Header) {
				return a.ID, ""
			}
			return "", fmt.Sprintf("it was seeded from %s, whose LSNs or family are not those of drsctl's backup of that name", path.Base(key))
		}
	}
	// Gone from storage since (retention): the primary's history still
	// says what drsctl wrote under that key.
	if f := byKey[key]; f != nil && f.hist != nil {
		if same(f.hist.Header) {
			return f.file, ""
		}
		return "", fmt.Sprintf("it was seeded from %s, whose LSNs or family are not those of drsctl's backup of that name", path.Base(key))
	}
	return "", fmt.Sprintf("it was seeded from %s, which is not one of drsctl's backups of %q", path.Base(key), db)
}

// positionOf is the artifact a standby stands after: the one its newest
// restore read, when that is drsctl's and ends at its position; else the
// newest of drsctl's non-empty backups that ends there.
func positionOf(t *config.Target, o *engine.StandbyDatabase, led *state.Database) *state.Artifact {
	redo := o.RedoLSN
	if redo.IsZero() {
		return nil
	}
	if o.LastRestore != nil {
		if key, under := plan.KeyFromServerPath(t.Destination.ServerPath, o.LastRestore.Path); under {
			if first, _, _, ok := artifact.ParseStripe(key); ok {
				key = first
			}
			for _, a := range led.Artifacts {
				if a.Key == key && a.LastLSN.Cmp(redo) == 0 {
					return a
				}
			}
		}
	}
	for i := len(led.Artifacts) - 1; i >= 0; i-- {
		a := led.Artifacts[i]
		if a.LastLSN.Cmp(redo) == 0 && !(a.Kind == artifact.Log && a.FirstLSN.Cmp(a.LastLSN) == 0) {
			return a
		}
	}
	return nil
}

func standbyWords(o *engine.StandbyDatabase) string {
	switch o.State {
	case engine.Standby:
		return "in STANDBY"
	case engine.Restoring:
		return "RESTORING"
	case engine.Online:
		return "ONLINE"
	}
	if o.RawState != "" {
		return o.RawState
	}
	return string(o.State)
}

func lsnOrNone(l artifact.LSN) string {
	if l.IsZero() {
		return "(none)"
	}
	return string(l)
}
