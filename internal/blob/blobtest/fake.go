package blobtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// ErrInjected is the error a Fake's writer fails with.
var ErrInjected = errors.New("blobtest: injected write failure")

// Fake is an in-memory driver for testing what happens around writes: it
// can fail a write after some bytes, slow writes down, or throw data away
// (to measure memory without storing anything). Objects are committed on
// Close, never before, and only if the write context is still alive.
type Fake struct {
	// FailAfter makes a writer fail once it has been given more than this
	// many bytes (0: never).
	FailAfter int64
	// Delay is slept on every Write.
	Delay time.Duration
	// Discard keeps only sizes, not contents.
	Discard bool

	mu      sync.Mutex
	objects map[string][]byte
	sizes   map[string]int64
}

// Bucket returns a bucket over f.
func (f *Fake) Bucket() *blob.Bucket { return blob.NewBucket(&fakeDriver{f: f}) }

// Committed reports whether key was committed, and its size.
func (f *Fake) Committed(key string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.sizes[key]
	return n, ok
}

// Contents returns a committed object's bytes (nil when Discard).
func (f *Fake) Contents(key string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objects[key]
}

type fakeDriver struct{ f *Fake }

var errNotFound = errors.New("blobtest: not found")

func (d *fakeDriver) ErrorCode(err error) gcerrors.ErrorCode {
	if errors.Is(err, errNotFound) {
		return gcerrors.NotFound
	}
	return gcerrors.Unknown
}
func (d *fakeDriver) As(any) bool             { return false }
func (d *fakeDriver) ErrorAs(error, any) bool { return false }
func (d *fakeDriver) Close() error            { return nil }

func (d *fakeDriver) Attributes(_ context.Context, key string) (*driver.Attributes, error) {
	n, ok := d.f.Committed(key)
	if !ok {
		return nil, fmt.Errorf("%w: %s", errNotFound, key)
	}
	return &driver.Attributes{Size: n, ContentType: "application/octet-stream", ETag: `"x"`}, nil
}

func (d *fakeDriver) ListPaged(context.Context, *driver.ListOptions) (*driver.ListPage, error) {
	return nil, errors.New("blobtest: fake does not list")
}

func (d *fakeDriver) NewRangeReader(_ context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	d.f.mu.Lock()
	data, ok := d.f.objects[key]
	d.f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", errNotFound, key)
	}
	data = data[min(offset, int64(len(data))):]
	if length >= 0 {
		data = data[:min(length, int64(len(data)))]
	}
	return &fakeReader{Reader: bytes.NewReader(data), size: int64(len(data))}, nil
}

type fakeReader struct {
	*bytes.Reader
	size int64
}

func (r *fakeReader) Close() error { return nil }
func (r *fakeReader) As(any) bool  { return false }
func (r *fakeReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: "application/octet-stream", Size: r.size}
}

func (d *fakeDriver) NewTypedWriter(ctx context.Context, key, _ string, _ *driver.WriterOptions) (driver.Writer, error) {
	return &fakeWriter{ctx: ctx, f: d.f, key: key}, nil
}

type fakeWriter struct {
	ctx context.Context
	f   *Fake
	key string
	buf bytes.Buffer
	n   int64
	err error
}

func (w *fakeWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	if w.f.Delay > 0 {
		time.Sleep(w.f.Delay)
	}
	if w.f.FailAfter > 0 && w.n+int64(len(p)) > w.f.FailAfter {
		w.err = ErrInjected
		return 0, w.err
	}
	w.n += int64(len(p))
	if !w.f.Discard {
		w.buf.Write(p)
	}
	return len(p), nil
}

func (w *fakeWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	if w.f.objects == nil {
		w.f.objects, w.f.sizes = map[string][]byte{}, map[string]int64{}
	}
	if !w.f.Discard {
		w.f.objects[w.key] = bytes.Clone(w.buf.Bytes())
	}
	w.f.sizes[w.key] = w.n
	return nil
}

func (d *fakeDriver) Copy(context.Context, string, string, *driver.CopyOptions) error {
	return errors.New("blobtest: fake does not copy")
}

func (d *fakeDriver) Delete(_ context.Context, key string, _ *driver.DeleteOptions) error {
	d.f.mu.Lock()
	defer d.f.mu.Unlock()
	if _, ok := d.f.sizes[key]; !ok {
		return fmt.Errorf("%w: %s", errNotFound, key)
	}
	delete(d.f.objects, key)
	delete(d.f.sizes, key)
	return nil
}

func (d *fakeDriver) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", errors.New("blobtest: fake does not sign")
}

// Data is a deterministic pseudo-random stream of n bytes (seeded), so a
// test can ship gigabytes without holding them and know their digest.
func Data(seed uint64, n int64) io.Reader {
	return io.LimitReader(&prng{state: seed*0x9E3779B97F4A7C15 + 1}, n)
}

// prng is xorshift64*: fast, deterministic whatever the read sizes.
type prng struct {
	state uint64
	word  [8]byte
	left  int // unread bytes at the end of word
}

func (p *prng) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if p.left == 0 {
			p.state ^= p.state >> 12
			p.state ^= p.state << 25
			p.state ^= p.state >> 27
			binary.LittleEndian.PutUint64(p.word[:], p.state*2685821657736338717)
			p.left = 8
		}
		k := copy(b[n:], p.word[8-p.left:])
		p.left -= k
		n += k
	}
	return n, nil
}
