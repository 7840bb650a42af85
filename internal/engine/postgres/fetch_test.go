package postgres

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFetchCopiesASegmentThatIsThere(t *testing.T) {
	dir, dst := t.TempDir(), t.TempDir()
	name := "000000010000000000000003"
	want := bytes.Repeat([]byte{7}, 1000)
	if err := os.WriteFile(filepath.Join(dir, name), want, 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dst, "RECOVERYXLOG")
	found, err := Fetch(dir, name, dest)
	if err != nil || !found {
		t.Fatalf("Fetch = %v, %v; want found", found, err)
	}
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("dest holds %d bytes (%v); want the segment's %d", len(got), err, len(want))
	}
	if _, err := os.Stat(filepath.Join(dir, WantedFile)); !os.IsNotExist(err) {
		t.Fatalf("a found segment recorded %s (%v)", WantedFile, err)
	}
	// Nothing but the destination is left in its directory (no temp file).
	if es, _ := os.ReadDir(dst); len(es) != 1 {
		t.Fatalf("destination directory holds %d entries; want only RECOVERYXLOG", len(es))
	}
}

func TestFetchRecordsTheNewestSegmentNotThere(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	wanted := func() string {
		b, err := os.ReadFile(filepath.Join(dir, WantedFile))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	for _, n := range []string{"000000010000000000000005", "000000010000000100000000"} {
		found, err := Fetch(dir, n, dest)
		if err != nil || found {
			t.Fatalf("Fetch(%s) = %v, %v; want not found, no error", n, found, err)
		}
		if got := wanted(); got != n {
			t.Fatalf("%s = %q; want %q", WantedFile, got, n)
		}
	}
	// A restarted standby asks again for older segments: .wanted stays.
	if found, err := Fetch(dir, "000000010000000000000007", dest); err != nil || found {
		t.Fatalf("Fetch(older) = %v, %v", found, err)
	}
	if got := wanted(); got != "000000010000000100000000" {
		t.Fatalf("%s went back to %q after an older request", WantedFile, got)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("a segment not found created the destination (%v)", err)
	}
}

func TestFetchHistoryFileNotThereIsNotWanted(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(t.TempDir(), "RECOVERYHISTORY")
	found, err := Fetch(dir, "00000002.history", dest)
	if err != nil || found {
		t.Fatalf("Fetch(history) = %v, %v; want not found, no error", found, err)
	}
	if _, err := os.Stat(filepath.Join(dir, WantedFile)); !os.IsNotExist(err) {
		t.Fatalf("a history file request recorded %s (%v)", WantedFile, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00000002.history"), []byte("1\t0/3000000\tno recovery target specified\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if found, err := Fetch(dir, "00000002.history", dest); err != nil || !found {
		t.Fatalf("Fetch(history there) = %v, %v; want found", found, err)
	}
}

func TestFetchRefusesNamesOutsideTheInbox(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"", "../standby.json", "/etc/passwd", "00000001000000000000000", "RECOVERYXLOG"} {
		if found, err := Fetch(dir, n, filepath.Join(t.TempDir(), "x")); err == nil || found {
			t.Errorf("Fetch(%q) = %v, %v; want an error", n, found, err)
		}
	}
}
