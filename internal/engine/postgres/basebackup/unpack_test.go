package basebackup

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type member struct {
	name, link, body string
	typ              byte
}

func tarOf(t *testing.T, ms ...member) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Linkname: m.link, Typeflag: m.typ, Mode: 0o600, Size: int64(len(m.body))}
		if m.typ != tar.TypeReg {
			h.Size = 0
			h.Mode = 0o700
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if m.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b
}

// Members that would land outside the directory, or write through a link
// leading out of it, are refused and nothing is written outside.
func TestUnpackRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []member
		want string
	}{
		{"absolute", []member{{name: "/tmp/evil", typ: tar.TypeReg, body: "x"}}, "absolute"},
		{"dotdot", []member{{name: "base/../../evil", typ: tar.TypeReg, body: "x"}}, `".."`},
		{"symlink absolute", []member{{name: "pg_tblspc/16384", link: "/srv/ts", typ: tar.TypeSymlink}}, "outside the directory"},
		{"symlink relative out", []member{{name: "pg_tblspc/16384", link: "../../outside", typ: tar.TypeSymlink}}, "outside the directory"},
		{"through a link", []member{{name: "sub/", typ: tar.TypeDir}, {name: "l", link: "sub", typ: tar.TypeSymlink}, {name: "l/f", typ: tar.TypeReg, body: "x"}}, "beneath the symbolic link"},
		{"hard link", []member{{name: "f", typ: tar.TypeReg, body: "x"}, {name: "h", link: "/etc/passwd", typ: tar.TypeLink}}, "refused"},
		{"twice", []member{{name: "f", typ: tar.TypeReg, body: "x"}, {name: "f", typ: tar.TypeReg, body: "y"}}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "data")
			err := Unpack(tarOf(t, tc.ms...), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unpack: %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Lstat(filepath.Join(parent, "evil")); err == nil {
				t.Fatal("a file was written outside the directory")
			}
		})
	}
}

// A directory that already holds something (a running cluster's files, a
// previous restore) is never unpacked into.
func TestUnpackRefusesANonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Unpack(tarOf(t, member{name: "PG_VERSION", typ: tar.TypeReg, body: "16\n"}), dir)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Unpack into a non-empty directory: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "PG_VERSION")); string(b) != "15\n" {
		t.Fatalf("the existing file was overwritten: %q", b)
	}
}

// Links inside the directory and ordinary members unpack; a truncated
// artifact is an error, not a short restore.
func TestUnpackInsideAndTruncated(t *testing.T) {
	b := tarOf(t,
		member{name: "base/", typ: tar.TypeDir},
		member{name: "base/1", typ: tar.TypeReg, body: strings.Repeat("a", 3000)},
		member{name: "link", link: "base/1", typ: tar.TypeSymlink},
	)
	full := b.Bytes()
	dir := filepath.Join(t.TempDir(), "d")
	if err := Unpack(bytes.NewReader(full), dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "link")); len(got) != 3000 {
		t.Fatalf("link reads %d bytes", len(got))
	}
	dir2 := filepath.Join(t.TempDir(), "d")
	if err := Unpack(bytes.NewReader(full[:1500]), dir2); err == nil {
		t.Fatal("a truncated artifact unpacked without error")
	}
}

// The pass-through keeps back exactly the end-of-archive marker whatever
// the sizes of the writes, and refuses a stream that does not end with one.
func TestHoldback(t *testing.T) {
	b := tarOf(t, member{name: "f", typ: tar.TypeReg, body: strings.Repeat("z", 5000)}).Bytes()
	for _, chunk := range []int{1, 7, 512, 1000, 1024, 1025, 4096, len(b)} {
		var out bytes.Buffer
		h := &holdback{w: &out}
		for i := 0; i < len(b); i += chunk {
			if _, err := h.Write(b[i:min(i+chunk, len(b))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.finish(); err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if !bytes.Equal(out.Bytes(), b[:len(b)-endBlocks]) {
			t.Fatalf("chunk %d: %d bytes out of %d, or different", chunk, out.Len(), len(b)-endBlocks)
		}
	}
	h := &holdback{w: &bytes.Buffer{}}
	// (Cut where the last 1024 bytes are not all zeros: a cut inside the
	// padding is indistinguishable, and Take relies on the protocol's
	// CopyDone for completeness.)
	_, _ = h.Write(b[:len(b)-1500])
	if err := h.finish(); err == nil {
		t.Fatal("a stream cut short was accepted")
	}
}
