package state

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzStateRead: the state reader never panics, and a file it accepts is one
// drsctl can carry on from: Write writes it, Read reads that back as the
// same state (Read(Write(Read(x))) == Read(x)), and writing again gives the
// same bytes. Seeds: every file under testdata (golden files of both
// versions and the bad fixtures) and the corpus under
// testdata/fuzz/FuzzStateRead (edge times, hostile names, odd JSON).
func FuzzStateRead(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Read(bytes.NewReader(data))
		if err != nil {
			if s != nil {
				t.Fatalf("Read returned a state and an error: %v", err)
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("Read refused with an empty error")
			}
			return
		}
		assertRoundTrip(t, s)
		var a, b bytes.Buffer
		if err := Write(s, &a); err != nil {
			t.Fatal(err)
		}
		again, err := Read(bytes.NewReader(a.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(again, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("writing a state read back changed the file:\n%s\n---\n%s", a.Bytes(), b.Bytes())
		}
	})
}
