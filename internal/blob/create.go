package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// MetadataCreateID is the object metadata key under which Create records a
// random token of its own, to tell its own object from another writer's when
// the server's answer was lost.
const MetadataCreateID = "drsctlcreate"

// Create writes r under key only if nothing is there yet: a conditional
// create (If-None-Match: * on S3 and Azure Blob, where it is atomic and can
// serve as a lock; on file:// and smb:// a check then a write, which is not).
//
// It returns nil when the object under key is the one written here — also
// when the server committed it but the answer was lost, or the SDK retried a
// committed write and was refused — and an error for which IsExist is true
// when key holds another object. Any other failure (the object is not there)
// is returned as it is, never as "exists".
//
// Servers may refuse a conditional create before reading the body and then
// reset the connection rather than drain it (versitygw does, for bodies over
// 256 KiB), so the client sees "connection reset" where it should see 412.
// Create therefore looks first, sending no body when the key is taken, and
// after any failed write looks again (a HEAD) to say which it was.
//
// opts may be nil; IfNotExist is implied and the metadata gains
// MetadataCreateID.
func Create(ctx context.Context, b *blob.Bucket, key string, r io.Reader, opts *blob.WriterOptions) error {
	if a, err := b.Attributes(ctx, key); err == nil {
		return &ExistsError{Key: key, Size: a.Size, ModTime: a.ModTime}
	} else if !IsNotExist(err) {
		return fmt.Errorf("create %q: check for an existing object: %w", key, err)
	}
	var o blob.WriterOptions
	if opts != nil {
		o = *opts
	}
	o.IfNotExist = true
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	id := hex.EncodeToString(tok[:])
	o.Metadata = maps.Clone(o.Metadata)
	if o.Metadata == nil {
		o.Metadata = map[string]string{}
	}
	o.Metadata[MetadataCreateID] = id

	err := b.Upload(ctx, key, r, &o)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("create %q: %w", key, err)
	}
	refused := gcerrors.Code(err) == gcerrors.FailedPrecondition
	a, herr := b.Attributes(ctx, key)
	switch {
	case herr == nil && a.Metadata[MetadataCreateID] == id:
		return nil // ours: committed, though the answer said otherwise
	case herr == nil:
		return &ExistsError{Key: key, Size: a.Size, ModTime: a.ModTime, Cause: err}
	case IsNotExist(herr) && refused:
		// Refused because something was there; it has gone since.
		return &ExistsError{Key: key, Cause: err}
	case IsNotExist(herr):
		return fmt.Errorf("create %q: %w", key, err)
	default:
		return fmt.Errorf("create %q: %w (and checking what is there failed: %v)", key, err, herr)
	}
}

// ExistsError is Create's error when key holds an object other than the one
// being written.
type ExistsError struct {
	Key     string
	Size    int64
	ModTime time.Time
	// Cause is the write's own error, when the write was attempted (a 412 or
	// 409, or a connection reset while the server refused the body).
	Cause error
}

func (e *ExistsError) Error() string {
	if e.ModTime.IsZero() {
		return fmt.Sprintf("create %q: already exists (another writer's object)", e.Key)
	}
	return fmt.Sprintf("create %q: already exists with other content (%d bytes, modified %s)", e.Key, e.Size, e.ModTime.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, fs.ErrExist) true.
func (e *ExistsError) Is(target error) bool { return target == fs.ErrExist }

// IsExist reports whether err means a conditional create found the key taken.
func IsExist(err error) bool { return errors.Is(err, fs.ErrExist) }
