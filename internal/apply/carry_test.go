package apply

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/blob"
)

// A backup drsctl carries is under its final name only once committed: an
// aborted or failed one leaves nothing there, whatever reached the store.
func TestFolderSink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := blob.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	s := newFolderSink(ctx, b, "pg/cluster/full/a.bak")
	if _, err := s.Write([]byte(strings.Repeat("x", 1<<20))); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "pg/cluster/full/a.bak")); err != nil || fi.Size() != 1<<20 {
		t.Fatalf("committed backup: %v, %v", fi, err)
	}

	s = newFolderSink(ctx, b, "pg/cluster/full/b.bak")
	if _, err := s.Write([]byte(strings.Repeat("y", 1<<20))); err != nil {
		t.Fatal(err)
	}
	s.Abort(errors.New("the server went away"))
	if err := s.Commit(); err == nil || !strings.Contains(err.Error(), "the server went away") {
		t.Errorf("Commit after Abort = %v, want the abort's cause", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "pg/cluster/full/b.bak*"))
	if len(left) != 0 {
		t.Errorf("an aborted backup left %v", left)
	}

	// A name already taken is never overwritten (another chain's backup).
	s = newFolderSink(ctx, b, "pg/cluster/full/a.bak")
	_, _ = s.Write([]byte("z"))
	if err := s.Commit(); !blob.IsExist(err) {
		t.Errorf("Commit over an existing backup = %v, want exists", err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "pg/cluster/full/a.bak")); fi == nil || fi.Size() != 1<<20 {
		t.Errorf("the existing backup was changed: %v", fi)
	}
}
