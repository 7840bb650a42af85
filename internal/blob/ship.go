package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

const (
	// DefaultPartSize and DefaultConcurrency are a sink's upload part size and
	// parts in flight when its Sink leaves them zero.
	DefaultPartSize    = 16 << 20
	DefaultConcurrency = 4

	// MetadataSHA256 is the object metadata key holding the hex SHA-256 of
	// an object shipped with Sink.ExpectSHA256.
	MetadataSHA256 = "sha256"

	// chunkSize is how much Ship reads from the source at a time; queueDepth
	// how many chunks may wait for one sink. The chunks are shared by all
	// sinks, so Ship itself holds at most about (queueDepth+2) × chunkSize
	// whatever the number of sinks; each sink's writer adds its own
	// PartSize × Concurrency.
	chunkSize  = 1 << 20
	queueDepth = 4
)

// Sink is one place Ship writes to.
type Sink struct {
	Bucket *blob.Bucket
	Key    string
	// PartSize and Concurrency bound the sink's writer: parts of PartSize
	// bytes, at most Concurrency in flight (DefaultPartSize and
	// DefaultConcurrency when zero).
	PartSize    int64
	Concurrency int
	// ExpectSHA256, when set, is the hex SHA-256 the source must have (known
	// from the ledger when re-shipping an artifact): the object is written
	// with metadata sha256 = ExpectSHA256, and is not committed if what was
	// read differs. When empty, no sha256 metadata is written (metadata must
	// be given before the upload starts, before the digest is known).
	ExpectSHA256 string
}

// Result is what happened at one sink.
type Result struct {
	// Size is the number of bytes handed to the sink's writer.
	Size int64
	// SHA256 is the hex digest of what was committed; empty when Err is set.
	SHA256 string
	// Err is nil when the object was committed under its key. Otherwise
	// nothing was committed there (a previous object under the key, if any,
	// is untouched).
	Err error
}

// ErrChecksumMismatch is (wrapped in) a sink's error when the source's
// SHA-256 differs from the sink's ExpectSHA256.
var ErrChecksumMismatch = errors.New("sha256 mismatch")

// Ship reads src once and writes it to every sink concurrently, computing its
// size and SHA-256 on the way. Memory stays bounded by the sinks' part size ×
// concurrency (plus a few MiB of shared read-ahead), never by the size of src.
//
// Sinks fail independently: a failing sink's Result carries its error and the
// others are fed on; a slow sink slows the shared read (its queue is bounded)
// but does not stop the others. Nothing partial is ever visible under a key:
// each object is committed only when its writer closes after the whole source,
// and a failed sink's write context is cancelled so the upload is abandoned.
//
// progress, if not nil, is called on the calling goroutine with the number of
// bytes read from src so far, after they have been handed to the sinks.
//
// err is non-nil only when reading src failed or ctx ended; then every Result
// carries an error too, and size and sum describe what was read. If every
// sink has failed Ship stops reading early and returns an empty sum. With no
// sinks Ship just digests src.
func Ship(ctx context.Context, src io.Reader, sinks []Sink, progress func(written int64)) (size int64, sum string, results []Result, err error) {
	results = make([]Result, len(sinks))
	states := make([]*sinkState, len(sinks))
	var wg sync.WaitGroup
	for i, s := range sinks {
		st := &sinkState{ch: make(chan message, queueDepth), done: make(chan struct{})}
		states[i] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.run(ctx, s, &results[i])
		}()
	}

	h := sha256.New()
	var srcErr error
	live := len(sinks)
	for {
		if err := ctx.Err(); err != nil {
			srcErr = err
			break
		}
		if len(sinks) > 0 && live == 0 {
			break
		}
		buf := getBuf()
		n, rerr := io.ReadFull(src, *buf)
		if n > 0 {
			h.Write((*buf)[:n])
			size += int64(n)
			c := &chunk{buf: buf, data: (*buf)[:n]}
			c.refs.Store(int32(live) + 1) // +1: ours, dropped below
			for _, st := range states {
				if st.dead {
					continue
				}
				if !st.send(ctx, message{c: c}) {
					c.release()
					st.dead = true
					live--
				}
			}
			c.release()
			if progress != nil {
				progress(size)
			}
		} else {
			putBuf(buf)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			srcErr = rerr
			break
		}
	}

	switch {
	case srcErr != nil && ctx.Err() != nil:
		err = ctx.Err()
	case srcErr != nil:
		err = fmt.Errorf("read source: %w", srcErr)
	case len(sinks) > 0 && live == 0:
		// Every sink failed: the digest of a partial read means nothing.
	default:
		sum = hex.EncodeToString(h.Sum(nil))
	}
	for _, st := range states {
		if !st.dead {
			st.send(ctx, message{end: true, sum: sum, err: err})
		}
		close(st.ch)
	}
	wg.Wait()
	return size, sum, results, err
}

// message is what the reader sends a sink: a chunk, or the end of the
// source (with its digest, or the error that ended it).
type message struct {
	c   *chunk
	end bool
	sum string
	err error
}

// chunk is a piece of the source shared by all sinks; its buffer goes back
// to the pool when the last sink is done with it.
type chunk struct {
	buf  *[]byte
	data []byte
	refs atomic.Int32
}

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		putBuf(c.buf)
	}
}

// freeBufs recycles chunk buffers (a channel rather than a sync.Pool, which
// may drop what it is given: reuse stays certain, and so does the bound).
var freeBufs = make(chan *[]byte, 64)

func getBuf() *[]byte {
	select {
	case b := <-freeBufs:
		return b
	default:
		b := make([]byte, chunkSize)
		return &b
	}
}

func putBuf(b *[]byte) {
	select {
	case freeBufs <- b:
	default:
	}
}

// sinkState is one sink's queue. dead is only touched by the reader.
type sinkState struct {
	ch   chan message
	done chan struct{} // closed when the sink's upload has returned
	dead bool
}

// send queues m for the sink; false if the sink has finished (failed) and
// will take no more.
func (st *sinkState) send(ctx context.Context, m message) bool {
	select {
	case <-st.done:
		return false
	default:
	}
	select {
	case st.ch <- m:
		return true
	case <-st.done:
		return false
	case <-ctx.Done():
		// The sink sees ctx too and fails; don't block on its queue.
		return false
	}
}

// run uploads what the reader sends to one sink and records the outcome.
func (st *sinkState) run(ctx context.Context, s Sink, res *Result) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &sinkReader{ch: st.ch, cancel: cancel, expect: strings.ToLower(s.ExpectSHA256)}
	err := upload(wctx, s, r)
	if r.failed != nil {
		err = r.failed // the cause, rather than the cancellation it led to
	} else if err == nil && !r.ended {
		err = errors.New("upload ended before the source did")
	}
	close(st.done)
	// Drop whatever the reader still queues until it closes the queue.
	r.releaseCurrent()
	for m := range st.ch {
		if m.c != nil {
			m.c.release()
		}
	}
	res.Size = r.n
	if err != nil {
		res.Err = fmt.Errorf("write %q: %w", s.Key, err)
		return
	}
	res.SHA256 = r.sum
}

func upload(ctx context.Context, s Sink, r io.Reader) error {
	if s.Bucket == nil {
		return errors.New("no bucket")
	}
	part, conc := s.PartSize, s.Concurrency
	if part <= 0 {
		part = DefaultPartSize
	}
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	opts := &blob.WriterOptions{
		ContentType:    "application/octet-stream",
		BufferSize:     int(part),
		MaxConcurrency: conc,
	}
	if s.ExpectSHA256 != "" {
		opts.Metadata = map[string]string{MetadataSHA256: strings.ToLower(s.ExpectSHA256)}
	}
	// Upload, not NewWriter+Close: gocloud.dev's azureblob writer panics in
	// Close when the server refuses the upload (v0.44–v0.47).
	return s.Bucket.Upload(ctx, s.Key, r, opts)
}

// sinkReader is the io.Reader a sink's upload consumes: the chunks from the
// reader, then io.EOF — or an error (source failure, digest mismatch) after
// cancelling the write context, so the object is not committed.
type sinkReader struct {
	ch     <-chan message
	cancel context.CancelFunc
	expect string

	cur    *chunk
	rest   []byte
	n      int64
	ended  bool
	sum    string
	failed error
}

func (r *sinkReader) Read(p []byte) (int, error) {
	if r.failed != nil {
		return 0, r.failed
	}
	for len(r.rest) == 0 {
		if r.ended {
			return 0, io.EOF
		}
		r.releaseCurrent()
		m, ok := <-r.ch
		switch {
		case !ok:
			return 0, r.fail(errors.New("source abandoned"))
		case m.end && m.err != nil:
			return 0, r.fail(m.err)
		case m.end && r.expect != "" && m.sum != r.expect:
			return 0, r.fail(fmt.Errorf("%w: read %s, expected %s", ErrChecksumMismatch, m.sum, r.expect))
		case m.end:
			r.ended, r.sum = true, m.sum
			return 0, io.EOF
		}
		r.cur, r.rest = m.c, m.c.data
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	r.n += int64(n)
	return n, nil
}

func (r *sinkReader) fail(err error) error {
	r.failed = err
	r.cancel()
	return err
}

func (r *sinkReader) releaseCurrent() {
	if r.cur != nil {
		r.cur.release()
		r.cur, r.rest = nil, nil
	}
}

// NewReader opens an artifact for reading. drsctl proves every copy with
// its own SHA-256, so the S3 SDK's notice that it skipped validating a
// multipart object's composite checksum is noise to users and is turned off.
func NewReader(ctx context.Context, b *blob.Bucket, key string) (*blob.Reader, error) {
	return b.NewReader(ctx, key, &blob.ReaderOptions{BeforeRead: func(as func(any) bool) error {
		var opts *[]func(*s3.Options)
		if as(&opts) {
			*opts = append(*opts, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
		}
		return nil
	}})
}

// Checksum reads an object through and returns its size and hex SHA-256.
func Checksum(ctx context.Context, b *blob.Bucket, key string) (size int64, sum string, err error) {
	r, err := NewReader(ctx, b, key)
	if err != nil {
		return 0, "", err
	}
	defer r.Close()
	h := sha256.New()
	buf := getBuf()
	defer putBuf(buf)
	size, err = io.CopyBuffer(h, r, *buf)
	if err != nil {
		return size, "", fmt.Errorf("read %q: %w", key, err)
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
}
