// Package plan is drsctl's pure planner. Make compares the desired state
// (configuration) with the ledger (state) and with what refresh observed on
// the servers, and returns a Plan: typed actions, each with its reason in
// words and its dependencies. Make does no I/O and is deterministic, so every
// rule is a table test. Apply only executes a Plan; it decides nothing.
package plan

import (
	"fmt"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// FormatVersion is the version of the saved plan and JSON message formats.
const FormatVersion = "1.3"

// ActionKind is what an action does. Every switch over it is exhaustive.
type ActionKind int

const (
	BackupFull  ActionKind = iota + 1 // take a full backup on the primary
	BackupLog                         // take a log backup on the primary
	Adopt                             // record a backup taken outside drsctl whose file is in the backup folder
	Ship                              // copy an artifact from the backup folder to a target's destination
	Verify                            // prove the copy at the destination matches the recorded SHA-256
	RestoreFull                       // restore a full backup on a standby (seed)
	RestoreLog                        // restore a log backup on a standby
	Record                            // record in the ledger where a standby really stands (observed)
	Prune                             // delete an artifact no restore needs any more
	Promote                           // recover a standby: it gets no more restores
)

var kindNames = map[ActionKind]string{
	BackupFull: "backup_full", BackupLog: "backup_log", Adopt: "adopt", Ship: "ship",
	Verify: "verify", RestoreFull: "restore_full", RestoreLog: "restore_log",
	Record: "record", Prune: "prune", Promote: "promote",
}

func (k ActionKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// ParseActionKind is the inverse of String.
func ParseActionKind(s string) (ActionKind, error) {
	for k, n := range kindNames {
		if n == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown action kind %q", s)
}

func (k ActionKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k *ActionKind) UnmarshalText(b []byte) error {
	v, err := ParseActionKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Action is one step of a plan.
type Action struct {
	// ID is unique within the plan and stable for the same inputs.
	ID       string     `json:"id"`
	Kind     ActionKind `json:"kind"`
	Primary  string     `json:"primary"`
	Database string     `json:"database"`
	// Engine is the primary's engine when it is not SQL Server's
	// ("postgres"): the action is then described in its server's words.
	Engine string `json:"engine,omitempty"`
	// Target is empty for actions on the primary or its backup folder.
	Target string `json:"target,omitempty"`
	// Artifact is the ID of an artifact the ledger already has (or that an
	// Adopt action in this plan records). Empty when the artifact is one a
	// backup action of this plan produces: then From names that action.
	Artifact string `json:"artifact,omitempty"`
	From     string `json:"from,omitempty"`
	// ArtifactKind is the kind of the artifact acted on.
	ArtifactKind artifact.Kind `json:"artifact_kind,omitempty"`
	Reason       string        `json:"reason"`
	// Cause is CauseConfiguration for an action a configuration change
	// causes (see Review); empty for routine work.
	Cause string `json:"cause,omitempty"`
	// DependsOn lists actions that must succeed first: when one fails or
	// does not run, this action does not run either.
	DependsOn []string `json:"depends_on,omitempty"`
	// After lists actions that must finish first, whatever their outcome:
	// ordering without a shared fate (a log backup is not lost because the
	// full backup before it failed).
	After []string `json:"after,omitempty"`
	// Key names an object that is not in the ledger (an orphan to prune):
	// then Artifact and From are empty.
	Key string `json:"key,omitempty"`

	// Restore: how the standby is left, and whether the restore may replace
	// the database (only ever for one drsctl seeded itself).
	Mode    string `json:"mode,omitempty"`
	Replace bool   `json:"replace,omitempty"`
	// Seed marks the restore (or first ship to a copy-only target) that
	// starts a target database's chain; on a Record action, that the
	// observed position completes a seed whose reply was lost.
	Seed bool `json:"seed,omitempty"`
	// Continues is, for a restore of a log backup this plan takes, the LSN
	// the target stands at: apply refuses to restore the new backup unless
	// it continues from there (FirstLSN <= Continues < LastLSN), since the
	// plan could only assume where the primary's next log would begin.
	Continues artifact.LSN `json:"continues,omitempty"`
	// AfterLog says the target stands after a log backup: the new log must
	// then begin exactly at Continues (a log chain has no overlaps).
	AfterLog bool `json:"after_log,omitempty"`
	// NewFork (BackupFull) records that the primary's log chain restarted:
	// the new full begins a fork that nothing older continues into.
	NewFork bool `json:"new_fork,omitempty"`

	// Adopt: what the server's history says about the backup.
	Adopted *Adoption `json:"adopted,omitempty"`
	// Record: where the standby was observed to stand.
	Position *Position `json:"position,omitempty"`
	// BackupFull/BackupLog: what the primary reported, recorded with the
	// artifact so a later change (recreated database, recovery model switch)
	// is noticed.
	Observed *PrimaryFacts `json:"observed,omitempty"`

	// TailLog (BackupLog) takes the tail of the log WITH NORECOVERY for a
	// planned switchover: the primary database is left RESTORING, so nothing
	// written to it is lost. Disconnect ends the sessions using it first.
	TailLog    bool `json:"tail_log,omitempty"`
	Disconnect bool `json:"disconnect,omitempty"`
	// Assumed is what the plan saw of the target database it restores over
	// (RestoreFull with Replace) or recovers (Promote): apply asks again
	// right before and refuses when the world no longer matches.
	Assumed *Assumption `json:"assumed,omitempty"`
}

// Assumption is the state of a target database a destructive action relies
// on, as observed when the plan was made.
type Assumption struct {
	State   engine.StandbyState `json:"state"`
	RedoLSN artifact.LSN        `json:"redo_lsn,omitempty"`
}

// Promotion modes (a Promote action's Mode).
const (
	PromoteUnplanned = "unplanned" // failover: restore what was shipped, recover
	PromotePlanned   = "planned"   // switchover after a tail-log backup
	PromoteRecorded  = "recorded"  // already online: recovered outside drsctl
)

// Adoption is an out-of-band backup found in the backup folder.
type Adoption struct {
	Key    string          `json:"key"`
	Path   string          `json:"path"`
	Header artifact.Header `json:"header"`
}

// Position is where a standby database stands.
type Position struct {
	Artifact string        `json:"artifact"`
	Kind     artifact.Kind `json:"kind"`
	LastLSN  artifact.LSN  `json:"last_lsn"`
}

// PrimaryFacts are facts observed about a primary database.
type PrimaryFacts struct {
	RecoveryModel string    `json:"recovery_model,omitempty"`
	CreatedAt     time.Time `json:"created_at,omitempty"`
	Identity      string    `json:"identity,omitempty"`
}

// Severity of a problem found while planning.
type Severity string

const (
	Error   Severity = "error"   // the database (or target) cannot be protected until fixed
	Warning Severity = "warning" // drift or something worth knowing; planning went on
)

// Problem is something planning found that an operator must know.
type Problem struct {
	Severity Severity `json:"severity"`
	Primary  string   `json:"primary,omitempty"`
	Database string   `json:"database,omitempty"`
	Target   string   `json:"target,omitempty"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail,omitempty"`
	// Lasting is what stays the same while the problem lasts, when its
	// Summary also says something that moves on every run (a countdown, a
	// measured amount): a quiet run says a warning once per Lasting, not
	// once per wording. Empty: the Summary is that.
	Lasting string `json:"-"`
}

// RPOStatus is how far behind one target database is.
type RPOStatus struct {
	Target   string        `json:"target"`
	Primary  string        `json:"primary"`
	Database string        `json:"database"`
	Limit    time.Duration `json:"limit"`
	// Through is the finish time of the newest backup restored (standby) or
	// shipped (copy-only) there; zero when there is none.
	Through  time.Time     `json:"through,omitempty"`
	Lag      time.Duration `json:"lag"`
	Breach   bool          `json:"breach"`
	Artifact string        `json:"artifact,omitempty"`
	// Unknown says why the lag cannot be trusted (an observation failed, a
	// clock is wrong); such a row always counts as a breach.
	Unknown string `json:"unknown,omitempty"`
	// Window is set when restores due on the target wait for its restore
	// window ("window closed, opens 19:00 CET (in 3h12m)"): a lag that grows
	// meanwhile, breach or not, is the window's doing.
	Window string `json:"window,omitempty"`
}

// Plan is the result of planning.
type Plan struct {
	FormatVersion string    `json:"format_version"`
	CreatedAt     time.Time `json:"created_at"`
	// Lineage and Serial of the state the plan was made from: a saved plan
	// is refused when the state has moved on.
	Lineage string `json:"lineage"`
	Serial  uint64 `json:"serial"`
	// ConfigDigest identifies the configuration the plan was made from.
	ConfigDigest string `json:"config_digest,omitempty"`
	Refreshed    bool   `json:"refreshed"`
	// Targets limits the plan (-target); empty means everything.
	Targets  []string    `json:"targets,omitempty"`
	Actions  []*Action   `json:"actions"`
	Problems []Problem   `json:"problems,omitempty"`
	RPO      []RPOStatus `json:"rpo,omitempty"`
	// Review separates what a configuration change causes from routine
	// work; nil in plans of a drsctl before it.
	Review *Review `json:"review,omitempty"`
}

// HasChanges reports whether the plan would do anything.
func (p *Plan) HasChanges() bool { return len(p.Actions) > 0 }

// HasErrors reports whether planning found errors.
func (p *Plan) HasErrors() bool {
	for _, pr := range p.Problems {
		if pr.Severity == Error {
			return true
		}
	}
	return false
}

// Action returns the action with the given ID or nil.
func (p *Plan) Action(id string) *Action {
	for _, a := range p.Actions {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// Counts returns the number of actions of each kind.
func (p *Plan) Counts() map[ActionKind]int {
	c := map[ActionKind]int{}
	for _, a := range p.Actions {
		c[a.Kind]++
	}
	return c
}

// Observed is what refresh found on the servers and in the storage, as plain
// data. A nil *Observed (or Refreshed=false) means plan from the ledger alone.
type Observed struct {
	Refreshed bool
	// Primaries by configuration name.
	Primaries map[string]*PrimaryObservation
	// Targets by configuration name (their database servers).
	Targets map[string]*TargetObservation
	// Folders by backup folder name: the objects in it.
	Folders map[string]*StorageObservation
	// Destinations by target name: the objects at its destination.
	Destinations map[string]*StorageObservation
}

// PrimaryObservation is what one primary server reported. Err is set when
// it could not be asked; Databases is then empty.
type PrimaryObservation struct {
	Err       string
	Databases map[string]*engine.PrimaryDatabase
	// Advice is what the engine says about the connection and its login
	// (engine.Advisor); shown as warnings.
	Advice []engine.Advice
}

// TargetObservation is what one standby server reported.
type TargetObservation struct {
	Err       string
	Databases map[string]*engine.StandbyDatabase
	Advice    []engine.Advice // as PrimaryObservation's
}

// StorageObservation lists the objects found under a folder or destination.
type StorageObservation struct {
	Err     string
	Objects map[string]Object // by key
	// Marked holds the directories in which drsctl's marker file was found
	// (drsctl writes one wherever a server writes backups): a listing with
	// none where the ledger expects backups is not the place drsctl wrote.
	Marked map[string]bool
}

// Object is one object found in storage.
type Object struct {
	Size int64
	// SHA256 from the object's metadata, when the backend keeps it.
	SHA256 string
	// ModTime as the storage reports it (zero when unknown).
	ModTime time.Time
}
