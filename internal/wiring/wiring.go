// Package wiring is the one place where engines and storage drivers are
// plugged into drsctl's core. Adding an engine or a URL scheme is a line here.
package wiring

import (
	// The smb driver registers its URL scheme with gocloud.dev. file://,
	// s3:// and azblob:// are opened by internal/blob itself: durable
	// (fsyncing) writes for files; for the object stores drsctl's own HTTP
	// transport (connection liveness), retries and, for S3, credentials
	// without the EC2 instance-metadata probe.
	_ "github.com/drsctl/drsctl/internal/blob/smbblob"

	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/postgres"
	"github.com/drsctl/drsctl/internal/engine/sqlserver"
)

// Engines returns the registry of every engine drsctl supports.
func Engines() *engine.Registry {
	r := engine.NewRegistry()
	r.Register("sqlserver", sqlserver.New())
	r.Register("postgres", postgres.New())
	return r
}

// FetchWAL hands a PostgreSQL standby a WAL file from its inbox (drsctl
// wal-fetch, the standby's restore_command).
func FetchWAL(dir, name, dest string) (found bool, err error) { return postgres.Fetch(dir, name, dest) }
