package basebackup

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Unpack extracts an artifact written by Take into dir, which must be empty
// or absent (it is then created, mode 0700). It refuses, before writing
// anything under that name, members with an absolute path or a ".."
// component, links (symbolic or hard) leading outside dir, and member types
// other than directories, regular files and symbolic links. It does not
// check contents: run Verify afterwards.
func Unpack(r io.Reader, dir string) error {
	if err := emptyDir(dir); err != nil {
		return err
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack into %s: the artifact is not a readable tar (truncated or damaged?): %w", dir, err)
		}
		name, err := memberPath(h.Name)
		if err != nil {
			return fmt.Errorf("unpack into %s: %w", dir, err)
		}
		if name == "." {
			continue
		}
		target := filepath.Join(root, filepath.FromSlash(name))
		if err := noSymlinkOnTheWay(root, name); err != nil {
			return fmt.Errorf("unpack into %s: %w", dir, err)
		}
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			if err := os.Chmod(target, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode|0o600)
			if err != nil {
				return fmt.Errorf("unpack into %s: %w (a member twice in the artifact?)", dir, err)
			}
			_, cerr := io.Copy(f, tr)
			if err := errors.Join(cerr, f.Close()); err != nil {
				return fmt.Errorf("unpack %s into %s: %w", name, dir, err)
			}
		case tar.TypeSymlink:
			if filepath.IsAbs(h.Linkname) || path.IsAbs(h.Linkname) {
				return fmt.Errorf("unpack into %s: %s is a symbolic link to %s, outside the directory: refused (a tablespace? only the default tablespace is supported)", dir, name, h.Linkname)
			}
			resolved := path.Join(path.Dir(name), h.Linkname)
			if resolved == ".." || strings.HasPrefix(resolved, "../") {
				return fmt.Errorf("unpack into %s: %s is a symbolic link to %s, outside the directory: refused", dir, name, h.Linkname)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unpack into %s: %s is a tar member of type %q, which a base backup does not contain: refused", dir, name, h.Typeflag)
		}
	}
}

// memberPath cleans a tar member's name and refuses one that would land
// outside the directory.
func memberPath(n string) (string, error) {
	if n == "" || strings.HasPrefix(n, "/") || strings.Contains(n, "\\") || filepath.IsAbs(n) {
		return "", fmt.Errorf("member %q has an absolute or unusable path: refused", n)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("member %q has a \"..\" component: refused", n)
		}
	}
	return path.Clean(n), nil
}

// noSymlinkOnTheWay refuses a member whose parent directories include a
// symbolic link unpacked earlier: writing through it could leave dir.
func noSymlinkOnTheWay(root, name string) error {
	p := root
	parts := strings.Split(name, "/")
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("member %q lies beneath the symbolic link %s: refused", name, part)
		}
	}
	return nil
}

func emptyDir(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("unpack into %s: the directory is not empty (it holds %s): a base backup is only unpacked into an empty directory, never over existing files — choose another or empty it yourself", dir, names[0])
	}
	return nil
}
