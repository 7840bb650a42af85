package blob_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/drsctl/drsctl/internal/blob"
)

// A backup folder the operator made for the database server's user
// (mssql:mssql 0770 on Linux) must stay usable by that user below it:
// the per-database directories drsctl creates, running as root, belong to
// the folder's owner with the folder's permissions, or every BACKUP into
// them fails with "Access is denied".
func TestFile_NewDirectoriesBelongToTheFoldersOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test gives files away with chown and must run as root in CI")
		}
		t.Skip("needs root (chown)")
	}
	const uid, gid = 4242, 4343 // the database server's user, as the operator set it up
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "backup")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(root, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o770|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	b, err := blob.Open(ctx, "file://"+root)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "sales/Sales/full/.drsctl-keep", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"sales", "sales/Sales", "sales/Sales/full", "sales/Sales/full/.drsctl-keep"} {
		fi, err := os.Stat(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s belongs to %d:%d, want the folder's owner %d:%d", rel, st.Uid, st.Gid, uid, gid)
		}
		if fi.IsDir() && fi.Mode()&(os.ModePerm|os.ModeSetgid) != 0o770|os.ModeSetgid {
			t.Errorf("%s has mode %s, want the folder's %s", rel, fi.Mode(), os.FileMode(0o770)|os.ModeSetgid)
		}
	}

	// A directory someone else made stays as they made it.
	other := filepath.Join(root, "theirs")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(other, 5151, 5151); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "theirs/x", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(other)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 5151 || fi.Mode().Perm() != 0o755 {
		t.Errorf("a directory drsctl did not make was changed: %d, %s", st.Uid, fi.Mode())
	}
}
