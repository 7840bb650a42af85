package blob_test

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/drsctl/drsctl/internal/blob"
)

// A write that fails (a full disk) and a Close after the space came back
// must not leave the part that was written under the final name. Simulated
// with RLIMIT_FSIZE: writes past the limit fail with EFBIG, and the limit
// is lifted before Close, as freed space would be.
func TestFile_FailedWriteNeverReachesTheFinalName(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := blob.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &saved); err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGXFSZ) // EFBIG instead of the process being killed
	defer signal.Reset(syscall.SIGXFSZ)

	w, err := b.NewWriter(ctx, "p/db/full/x.bak", nil)
	if err != nil {
		t.Fatal(err)
	}
	limit := syscall.Rlimit{Cur: 1 << 20, Max: saved.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 256<<10)
	var werr error
	for i := 0; i < 12 && werr == nil; i++ {
		_, werr = w.Write(chunk)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &saved); err != nil {
		t.Fatal(err)
	}
	if werr == nil {
		t.Fatal("no write failed past RLIMIT_FSIZE")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed write succeeded")
	}
	if ok, err := b.Exists(ctx, "p/db/full/x.bak"); err != nil || ok {
		t.Errorf("after a failed write the final name exists (%v, %v)", ok, err)
	}
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
