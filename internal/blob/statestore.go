package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"slices"

	"gocloud.dev/blob"
)

// StateStore keeps a remote ledger (state.Remote) in a bucket: it is a
// state.ObjectStore, with Create the conditional create of this package.
type StateStore struct {
	b    *blob.Bucket
	desc string
}

// NewStateStore returns a StateStore on b; describe names it in messages
// (no secrets).
func NewStateStore(b *blob.Bucket, describe string) *StateStore {
	return &StateStore{b: b, desc: describe}
}

// OpenStateStore opens the bucket of a state URL: s3:// or azblob://, whose
// conditional creates are atomic on the server. A state on a file system
// (file://, or a share mounted locally) is state.Local's, with its lock
// file; smb:// has no atomic conditional create to build a lock on.
func OpenStateStore(ctx context.Context, rawURL string) (*StateStore, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "s3" && u.Scheme != "azblob") {
		return nil, fmt.Errorf("state url %s: a remote state lives in s3:// or azblob:// (for a file share, mount it and give its path)", Redact(rawURL))
	}
	b, err := Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return NewStateStore(b, Redact(rawURL)), nil
}

// Close closes the bucket.
func (s *StateStore) Close() error { return s.b.Close() }

// Describe returns the state URL without secrets.
func (s *StateStore) Describe() string { return s.desc }

// Create stores data under name unless it exists; see Create.
func (s *StateStore) Create(ctx context.Context, name string, data []byte) error {
	return Create(ctx, s.b, name, bytes.NewReader(data), &blob.WriterOptions{ContentType: "application/json"})
}

// Get reads name; fs.ErrNotExist when it is not there.
func (s *StateStore) Get(ctx context.Context, name string) ([]byte, error) {
	raw, err := s.b.ReadAll(ctx, name)
	if IsNotExist(err) {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return raw, err
}

// List lists the names under prefix, sorted.
func (s *StateStore) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	it := s.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if !o.IsDir {
			out = append(out, o.Key)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Delete removes name; nil when it is not there.
func (s *StateStore) Delete(ctx context.Context, name string) error {
	if err := s.b.Delete(ctx, name); err != nil && !IsNotExist(err) {
		return err
	}
	return nil
}
