// Package wiring is the one place where engines and storage drivers are
// plugged into drsctl's core. Adding an engine or a URL scheme is a line here.
package wiring

import (
	// Storage drivers register their URL schemes with gocloud.dev; file://
	// is opened by internal/blob itself (durable, fsyncing writes).
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/s3blob"

	_ "github.com/drsctl/drsctl/internal/blob/smbblob"

	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver"
)

// Engines returns the registry of every engine drsctl supports.
func Engines() *engine.Registry {
	r := engine.NewRegistry()
	r.Register("sqlserver", sqlserver.New())
	return r
}
