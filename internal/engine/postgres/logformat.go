package postgres

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// A log artifact is a gzip-compressed tar of whole WAL segments, in WAL
// order, each member named by its WAL file name (24 upper-case hex
// digits) with mode 0600. Compression matters more than speed here: a
// segment closed early by pg_switch_wal is mostly zeros, and an idle
// primary ships one such segment per log backup.

var segmentName = regexp.MustCompile(`^[0-9A-F]{24}$`)

// LogWriter writes a log artifact.
type LogWriter struct {
	gz *gzip.Writer
	tw *tar.Writer
	n  int
}

// NewLogWriter starts a log artifact on w.
func NewLogWriter(w io.Writer) *LogWriter {
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	return &LogWriter{gz: gz, tw: tar.NewWriter(gz)}
}

// Add appends one whole segment.
func (l *LogWriter) Add(name string, seg []byte) error {
	if !segmentName.MatchString(name) {
		return fmt.Errorf("%q is not a WAL segment file name", name)
	}
	if err := l.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(seg)), Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := l.tw.Write(seg); err != nil {
		return err
	}
	l.n++
	return nil
}

// Segments is how many segments were added.
func (l *LogWriter) Segments() int { return l.n }

// Close ends the artifact (it does not close the underlying writer).
func (l *LogWriter) Close() error {
	if err := l.tw.Close(); err != nil {
		return err
	}
	return l.gz.Close()
}

// ReadLog reads a log artifact, calling each with every segment's name and
// content in order. A member that is not a WAL segment, or a truncated or
// damaged artifact, is an error.
func ReadLog(r io.Reader, each func(name string, seg io.Reader) error) error {
	gz, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return fmt.Errorf("not a drsctl PostgreSQL log backup (gzip): %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the log backup: %w", err)
		}
		if h.Typeflag != tar.TypeReg || !segmentName.MatchString(h.Name) {
			return fmt.Errorf("log backup member %q is not a WAL segment", h.Name)
		}
		if err := each(h.Name, tr); err != nil {
			return err
		}
	}
	// The gzip trailer's CRC is checked only when read to its end.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return fmt.Errorf("reading the log backup: %w", err)
	}
	return nil
}
