package engine

import (
	"context"
	"errors"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
)

// Driller is what an engine that can run restore drills implements, beside
// Session: drsctl asks for it with a type assertion, so an engine without
// drills keeps working and a drill on it fails with ErrNoDrill.
type Driller interface {
	// Drill restores req.Backups into a new scratch database req.Database,
	// recovers it, checks it and drops it. It refuses (before restoring
	// anything) when a database of that name already exists, and it never
	// touches any other database. The scratch database is dropped whether
	// the restore or the check failed and even when ctx was cancelled;
	// DrillResult.Left says when that drop failed.
	Drill(ctx context.Context, req DrillRequest, progress Progress) (DrillResult, error)
}

// DrillRequest asks for one restore drill.
type DrillRequest struct {
	// Database is the scratch database's name: one that must not exist.
	Database string
	// Backups are restored in order: a full, then the logs that continue it.
	Backups []DrillBackup
	// StopAt, when set, stops the last log's restore at that time (STOPAT).
	StopAt time.Time
	// DataDir and LogDir are where the scratch database's files go; empty,
	// the server's default data and log directories.
	DataDir string
	LogDir  string
	// Credential is the server-side credential for URL backups.
	Credential string
}

// DrillBackup is one backup a drill restores.
type DrillBackup struct {
	Kind       artifact.Kind
	ServerPath string
	// Stripes is how many files the backup was striped across, ServerPath
	// the first (RestoreRequest.Stripes).
	Stripes int
	// Finish is when the backup finished (UTC, from the ledger). With the
	// backup's own header it tells the clock of the server that wrote the
	// log, which a point in time (STOPAT) is measured against.
	Finish time.Time
}

// DrillResult is what a drill found.
type DrillResult struct {
	// Check says what was checked and what it found, in the engine's words
	// ("DBCC CHECKDB found no errors"); set when the check ran.
	Check string
	// Restored lists the backups restored, in order (their server paths).
	Restored []string
	// Left is set when the scratch database was created and could not be
	// dropped again: it is still on the server and must be dropped by hand.
	Left bool
}

// ErrNoDrill means the engine cannot run restore drills.
var ErrNoDrill = errors.New("the engine cannot run restore drills")

// ErrDrillCheck means the drill restored the database but the check found
// it damaged.
var ErrDrillCheck = errors.New("the restored database failed its check")
