//go:build unix

package blob

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// adoptRootOwner hands what drsctl just created under a file:// folder to
// the folder's owner: the directories between the new file and the root
// get the root's owner, group and permission bits, and the file the root's
// owner and group. A database server writes and reads there as its own
// user (`mssql` on Linux): a backup folder made mssql:mssql 0770 by the
// operator, with a per-database directory that drsctl, running as root,
// created root:root 0755, would make every BACKUP fail with "Access is
// denied". Only entries owned by the running user are changed (a
// directory someone else made is left as they made it), and owners only
// when running as root, the one user who may give files away.
func adoptRootOwner(file, root string) error {
	rootInfo, err := os.Stat(root)
	if err != nil {
		return err
	}
	want, ok := rootInfo.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	me := os.Geteuid()
	mode := rootInfo.Mode() & (os.ModePerm | os.ModeSetgid)
	adopt := func(name string, dir bool) error {
		fi, err := os.Lstat(name)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != me {
			return nil
		}
		if me == 0 && (st.Uid != want.Uid || st.Gid != want.Gid) {
			if err := os.Lchown(name, int(want.Uid), int(want.Gid)); err != nil {
				return fmt.Errorf("give %s to the owner of %s, so the database server can use it: %w", name, root, err)
			}
		}
		if dir && fi.Mode()&(os.ModePerm|os.ModeSetgid) != mode {
			if err := os.Chmod(name, mode); err != nil {
				return fmt.Errorf("give %s the permissions of %s, so the database server can use it: %w", name, root, err)
			}
		}
		return nil
	}
	if err := adopt(file, false); err != nil {
		return err
	}
	for dir := filepath.Dir(file); dir != root && strings.HasPrefix(dir, root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if err := adopt(dir, true); err != nil {
			return err
		}
	}
	return nil
}
