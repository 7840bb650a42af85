package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// The journal: a write of the ledger records only what changed since the
// previous write, as one entry, instead of the whole ledger. Reading is the
// newest snapshot (the whole ledger at some serial) plus the entries after
// it, replayed in order. An entry costs what the commit changed, not what
// the ledger holds, so committing one action costs the same at 10 databases
// as at 1,000.
//
// What changed is tracked per database: Track starts it, and from then on
// every accessor that hands out a database's record (Database,
// LookupDatabase, TargetDatabase, LookupTargetDatabase) keeps a copy of the
// record as it was before its first use since the last entry. EncodeEntry
// compares each such record with its copy, artifact by artifact and copy by
// copy, and writes what differs. Code that changes the ledger must reach a
// record through those accessors within the commit that changes it; Primary,
// Target and direct map access make the next entry a whole snapshot.

// journalVersion is the version of the entry format.
const journalVersion = 1

// dbKey names a database record: a primary's (or a target's) database.
type dbKey struct{ owner, name string }

// changes is what a tracked State has handed out since its last entry: the
// records as they were before (nil: absent then).
type changes struct {
	dbs  map[dbKey]*Database
	tdbs map[dbKey]*TargetDatabase
	// all: a change was made that the records do not capture; the next
	// entry holds the whole ledger.
	all bool
}

// Track starts tracking changes, so that the next entry holds only what
// changes from now on. A State that is not tracked is written whole.
// Clone does not carry tracking over.
func (s *State) Track() {
	s.track = &changes{dbs: map[dbKey]*Database{}, tdbs: map[dbKey]*TargetDatabase{}}
}

// Tracked reports whether s tracks its changes.
func (s *State) Tracked() bool { return s.track != nil }

// ClearChanges forgets the changes tracked so far: they are in a durable
// entry (or snapshot) now. Tracking goes on.
func (s *State) ClearChanges() {
	if s.track != nil {
		s.Track()
	}
}

// merge returns the changes of t followed by those of later, tracked
// after t was cleared (group commit: changes made while a write staged
// with t was on its way, and failed). A record in later but not in t was
// untouched before, so its copy in later is as the ledger last stored it.
func (t *changes) merge(later *changes) *changes {
	if t == nil || later == nil {
		return t
	}
	t.all = t.all || later.all
	for k, before := range later.dbs {
		if _, ok := t.dbs[k]; !ok {
			t.dbs[k] = before
		}
	}
	for k, before := range later.tdbs {
		if _, ok := t.tdbs[k]; !ok {
			t.tdbs[k] = before
		}
	}
	return t
}

// touchAll makes the next entry a whole snapshot.
func (s *State) touchAll() {
	if s.track != nil {
		s.track.all = true
	}
}

func (s *State) touchDatabase(primary, database string) {
	t := s.track
	if t == nil || t.all {
		return
	}
	k := dbKey{primary, database}
	if _, ok := t.dbs[k]; ok {
		return
	}
	var before *Database
	if p := s.Primaries[primary]; p != nil {
		before = p.Databases[database].clone()
	}
	t.dbs[k] = before
}

func (s *State) touchTargetDatabase(target, database string) {
	t := s.track
	if t == nil || t.all {
		return
	}
	k := dbKey{target, database}
	if _, ok := t.tdbs[k]; ok {
		return
	}
	var before *TargetDatabase
	if tg := s.Targets[target]; tg != nil {
		before = tg.Databases[database].clone()
	}
	t.tdbs[k] = before
}

// fileEntry is one journal entry: the changes that take the ledger from
// serial Serial-1 to Serial. Either Snapshot holds the whole ledger, or
// Databases and Targets hold the records that changed.
type fileEntry struct {
	Version   int                    `json:"version"`
	Lineage   string                 `json:"lineage"`
	Serial    uint64                 `json:"serial"`
	Snapshot  *fileV4                `json:"snapshot,omitempty"`
	Databases []*entryDatabase       `json:"databases,omitempty"`
	Targets   []*entryTargetDatabase `json:"targets,omitempty"`
}

// entryDatabase is a changed primary database: gone, or its header with
// the artifacts that are new or changed, and the order of all its artifact
// IDs when the set or the order changed.
type entryDatabase struct {
	Primary  string          `json:"primary"`
	Database string          `json:"database"`
	Gone     bool            `json:"gone,omitempty"`
	Record   *fileDatabaseV4 `json:"record,omitempty"`
	Order    *[]string       `json:"order,omitempty"`
}

// entryTargetDatabase is a changed target database: gone, or its header
// with the copies that are new or changed, and the copies removed.
type entryTargetDatabase struct {
	Target   string                `json:"target"`
	Database string                `json:"database"`
	Gone     bool                  `json:"gone,omitempty"`
	Record   *fileTargetDatabaseV4 `json:"record,omitempty"`
	Uncopied []string              `json:"uncopied,omitempty"`
}

// EncodeEntry returns the journal entry that takes the ledger from s.Serial
// to s.Serial+1 with s's changes since the last ClearChanges (the whole
// ledger when s is not tracked or its changes are not known). It changes
// nothing: ClearChanges once the entry is durable.
func EncodeEntry(s *State) ([]byte, error) {
	e, err := makeEntry(s)
	if err != nil {
		return nil, err
	}
	return encodeEntry(e)
}

// WholeEntry reports whether the next entry of s holds the whole ledger.
func (s *State) WholeEntry() bool { return s.track == nil || s.track.all }

func makeEntry(s *State) (*fileEntry, error) {
	if s == nil || s.Lineage == "" {
		return nil, errors.New("encode journal entry: the state has no lineage")
	}
	e := &fileEntry{Version: journalVersion, Lineage: s.Lineage, Serial: s.Serial + 1}
	if s.WholeEntry() {
		f, err := toFile(s)
		if err != nil {
			return nil, err
		}
		f.Serial = e.Serial
		e.Snapshot = f
		return e, nil
	}
	for k, before := range s.track.dbs {
		ed, err := diffDatabase(k, before, s.lookupDatabaseQuiet(k.owner, k.name))
		if err != nil {
			return nil, fmt.Errorf("encode journal entry: %s: %w", databaseAddr(k.owner, k.name), err)
		}
		if ed != nil {
			e.Databases = append(e.Databases, ed)
		}
	}
	for k, before := range s.track.tdbs {
		et, err := diffTargetDatabase(k, before, s.lookupTargetDatabaseQuiet(k.owner, k.name))
		if err != nil {
			return nil, fmt.Errorf("encode journal entry: %s: %w", targetDatabaseAddr(k.owner, k.name), err)
		}
		if et != nil {
			e.Targets = append(e.Targets, et)
		}
	}
	// Map order is random; a fixed order makes entries comparable.
	sort.Slice(e.Databases, func(i, j int) bool {
		a, b := e.Databases[i], e.Databases[j]
		return a.Primary < b.Primary || a.Primary == b.Primary && a.Database < b.Database
	})
	sort.Slice(e.Targets, func(i, j int) bool {
		a, b := e.Targets[i], e.Targets[j]
		return a.Target < b.Target || a.Target == b.Target && a.Database < b.Database
	})
	return e, nil
}

func encodeEntry(e *fileEntry) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode journal entry: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func diffDatabase(k dbKey, before, after *Database) (*entryDatabase, error) {
	switch {
	case before == nil && after == nil:
		return nil, nil
	case after == nil:
		return &entryDatabase{Primary: k.owner, Database: k.name, Gone: true}, nil
	}
	rec, err := databaseToFile(after)
	if err != nil {
		return nil, err
	}
	ed := &entryDatabase{Primary: k.owner, Database: k.name, Record: rec}
	old := map[string][]byte{}
	var oldOrder []string
	if before != nil {
		for _, a := range before.Artifacts {
			fa, err := artifactToFile(a)
			if err != nil {
				return nil, err
			}
			raw, _ := json.Marshal(fa)
			old[a.ID] = raw
			oldOrder = append(oldOrder, a.ID)
		}
	}
	changed := rec.Artifacts[:0]
	order := make([]string, 0, len(rec.Artifacts))
	for _, fa := range rec.Artifacts {
		order = append(order, fa.ID)
		raw, _ := json.Marshal(fa)
		if prev, ok := old[fa.ID]; ok && bytes.Equal(prev, raw) {
			continue
		}
		changed = append(changed, fa)
	}
	rec.Artifacts = changed
	if before == nil || !slices.Equal(order, oldOrder) {
		ed.Order = &order
	}
	if before != nil && len(changed) == 0 && ed.Order == nil {
		hb, err := databaseToFile(&Database{RecoveryModel: before.RecoveryModel, CreatedAt: before.CreatedAt, Identity: before.Identity, Restart: before.Restart})
		if err != nil {
			return nil, err
		}
		ha := *rec
		ha.Artifacts = hb.Artifacts
		if ha.RecoveryModel == hb.RecoveryModel && ha.CreatedAt == hb.CreatedAt && ha.Identity == hb.Identity && ha.Restart == hb.Restart {
			return nil, nil // untouched
		}
	}
	return ed, nil
}

func diffTargetDatabase(k dbKey, before, after *TargetDatabase) (*entryTargetDatabase, error) {
	switch {
	case before == nil && after == nil:
		return nil, nil
	case after == nil:
		return &entryTargetDatabase{Target: k.owner, Database: k.name, Gone: true}, nil
	}
	rec, err := targetDatabaseToFile(after)
	if err != nil {
		return nil, err
	}
	et := &entryTargetDatabase{Target: k.owner, Database: k.name, Record: rec}
	var oldRec *fileTargetDatabaseV4
	if before != nil {
		if oldRec, err = targetDatabaseToFile(before); err != nil {
			return nil, err
		}
		for id, fc := range rec.Copies {
			if oc := oldRec.Copies[id]; oc != nil && *oc == *fc {
				delete(rec.Copies, id)
			}
		}
		for id := range oldRec.Copies {
			if _, ok := after.Copies[id]; !ok {
				et.Uncopied = append(et.Uncopied, id)
			}
		}
		sort.Strings(et.Uncopied)
		if len(rec.Copies) == 0 && len(et.Uncopied) == 0 {
			a, _ := json.Marshal(rec)
			oldRec.Copies = map[string]*fileCopyV4{}
			b, _ := json.Marshal(oldRec)
			if bytes.Equal(a, b) {
				return nil, nil // untouched
			}
		}
	}
	return et, nil
}

// ApplyEntry replays one journal entry onto s: the entry must be of s's
// lineage and take it from s.Serial to s.Serial+1. On error s may be
// partly changed and must be discarded.
func ApplyEntry(s *State, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var e fileEntry
	if err := dec.Decode(&e); err != nil {
		return fmt.Errorf("journal entry: %w", jsonError(raw, err))
	}
	if e.Version != journalVersion {
		return fmt.Errorf("journal entry: version %d is not one this drsctl reads (%d); use a newer drsctl", e.Version, journalVersion)
	}
	if e.Lineage != s.Lineage {
		return fmt.Errorf("journal entry %d belongs to lineage %s, not the snapshot's %s", e.Serial, e.Lineage, s.Lineage)
	}
	if e.Serial != s.Serial+1 {
		return fmt.Errorf("journal entry %d does not follow serial %d", e.Serial, s.Serial)
	}
	if e.Snapshot != nil {
		if e.Snapshot.Lineage != e.Lineage || e.Snapshot.Serial != e.Serial {
			return fmt.Errorf("journal entry %d holds a snapshot of %s at serial %d", e.Serial, e.Snapshot.Lineage, e.Snapshot.Serial)
		}
		n, err := fromFile(e.Snapshot)
		if err != nil {
			return fmt.Errorf("journal entry %d: %w", e.Serial, err)
		}
		s.Primaries, s.Targets, s.Serial = n.Primaries, n.Targets, n.Serial
		return nil
	}
	for _, ed := range e.Databases {
		if err := applyDatabase(s, ed); err != nil {
			return fmt.Errorf("journal entry %d: %s: %w", e.Serial, databaseAddr(ed.Primary, ed.Database), err)
		}
	}
	for _, et := range e.Targets {
		if err := applyTargetDatabase(s, et); err != nil {
			return fmt.Errorf("journal entry %d: %s: %w", e.Serial, targetDatabaseAddr(et.Target, et.Database), err)
		}
	}
	s.Serial = e.Serial
	return nil
}

func applyDatabase(s *State, ed *entryDatabase) error {
	if ed.Gone {
		if p := s.Primaries[ed.Primary]; p != nil {
			delete(p.Databases, ed.Database)
		}
		return nil
	}
	if ed.Record == nil {
		return errors.New("neither gone nor a record")
	}
	// Decode the header and the changed artifacts with the snapshot's own
	// checks.
	f := &fileV4{Lineage: s.Lineage, Primaries: map[string]*filePrimaryV4{ed.Primary: {Databases: map[string]*fileDatabaseV4{ed.Database: ed.Record}}}}
	n, err := fromFile(f)
	if err != nil {
		return err
	}
	rec := n.Primaries[ed.Primary].Databases[ed.Database]
	p := s.Primaries[ed.Primary]
	if p == nil {
		p = &Primary{Databases: map[string]*Database{}}
		s.Primaries[ed.Primary] = p
	}
	cur := p.Databases[ed.Database]
	if cur == nil {
		if ed.Order == nil {
			return errors.New("a new database without the order of its artifacts")
		}
		cur = &Database{}
		p.Databases[ed.Database] = cur
	}
	cur.RecoveryModel, cur.CreatedAt, cur.Identity, cur.Restart = rec.RecoveryModel, rec.CreatedAt, rec.Identity, rec.Restart
	byID := make(map[string]*Artifact, len(cur.Artifacts)+len(rec.Artifacts))
	for _, a := range cur.Artifacts {
		byID[a.ID] = a
	}
	for _, a := range rec.Artifacts {
		if old, ok := byID[a.ID]; ok && ed.Order == nil {
			*old = *a
			continue
		}
		byID[a.ID] = a
	}
	if ed.Order == nil {
		for _, a := range rec.Artifacts {
			if cur.Artifact(a.ID) == nil {
				return fmt.Errorf("artifact %q is new but the entry gives no order", a.ID)
			}
		}
		return nil
	}
	list := make([]*Artifact, 0, len(*ed.Order))
	seen := make(map[string]bool, len(*ed.Order))
	for _, id := range *ed.Order {
		a := byID[id]
		if a == nil {
			return fmt.Errorf("artifact %q is in the order but neither in the ledger nor in the entry", id)
		}
		if seen[id] {
			return fmt.Errorf("artifact %q appears twice in the order", id)
		}
		seen[id] = true
		list = append(list, a)
	}
	for _, a := range rec.Artifacts {
		if !seen[a.ID] {
			return fmt.Errorf("artifact %q is in the entry but not in the order", a.ID)
		}
	}
	cur.Artifacts = list
	return nil
}

func applyTargetDatabase(s *State, et *entryTargetDatabase) error {
	if et.Gone {
		if t := s.Targets[et.Target]; t != nil {
			delete(t.Databases, et.Database)
		}
		return nil
	}
	if et.Record == nil {
		return errors.New("neither gone nor a record")
	}
	rec, err := targetDatabaseFromFile(et.Record)
	if err != nil {
		return err
	}
	t := s.Targets[et.Target]
	if t == nil {
		t = &Target{Databases: map[string]*TargetDatabase{}}
		s.Targets[et.Target] = t
	}
	cur := t.Databases[et.Database]
	if cur == nil {
		t.Databases[et.Database] = rec
		if len(et.Uncopied) > 0 {
			return errors.New("copies removed from a database the ledger does not hold")
		}
		return nil
	}
	copies := cur.Copies
	if copies == nil {
		copies = map[string]*Copy{}
	}
	for id, c := range rec.Copies {
		copies[id] = c
	}
	for _, id := range et.Uncopied {
		delete(copies, id)
	}
	*cur = *rec
	cur.Copies = copies
	return nil
}
