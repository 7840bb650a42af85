package apply

import (
	"context"
	"fmt"
	"io"
	"sync"

	gblob "gocloud.dev/blob"

	"github.com/drsctl/drsctl/internal/blob"
)

// folderSink is an engine.Sink into a bucket: the backup's bytes stream
// through a pipe into a create-if-absent upload under key, which becomes
// visible only when the upload completes. Abort cancels the upload, so no
// half-written backup is ever left under its final name.
type folderSink struct {
	pw     *io.PipeWriter
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func newFolderSink(ctx context.Context, b blobBucket, key string) *folderSink {
	uctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	s := &folderSink{pw: pw, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := blob.Create(uctx, b, key, pr, &gblob.WriterOptions{ContentType: "application/octet-stream", BufferSize: blob.DefaultPartSize})
		// Unblock a writer still writing when the upload failed.
		pr.CloseWithError(fmt.Errorf("storing %s: %w", key, errOr(err, io.ErrClosedPipe)))
		s.done <- err
	}()
	return s
}

func errOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

func (s *folderSink) Write(p []byte) (int, error) { return s.pw.Write(p) }

// Commit ends the stream and waits for the upload to be stored.
func (s *folderSink) Commit() error {
	s.once.Do(func() {
		s.pw.Close()
		s.err = <-s.done
		s.cancel()
	})
	return s.err
}

// Abort discards the upload: the context is cancelled before the stream
// ends, so the store never sees a complete object.
func (s *folderSink) Abort(cause error) {
	s.once.Do(func() {
		s.cancel()
		s.pw.CloseWithError(errOr(cause, context.Canceled))
		<-s.done
		s.err = fmt.Errorf("aborted: %w", errOr(cause, context.Canceled))
	})
}
