package config

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// copyFixture copies a testdata file into a new temporary directory, so
// that formatting can write to it.
func copyFixture(t *testing.T, src string) (dir, path string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	path = filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func TestFormat_CheckAndDiff(t *testing.T) {
	dir, path := copyFixture(t, "testdata/fmt/unaligned_arguments.drs.hcl")
	before, _ := os.ReadFile(path)
	golden, err := os.ReadFile("testdata/fmt/unaligned_arguments.golden")
	if err != nil {
		t.Fatal(err)
	}

	// -check -diff: report, never write.
	results, diags := Format(dir, false, true)
	if len(diags) != 0 {
		t.Fatalf("diagnostics:%s", diagsText(diags))
	}
	if len(results) != 1 || results[0].Path != path || !results[0].Changed {
		t.Fatalf("results = %+v", results)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("Format without write changed the file")
	}
	diff := results[0].Diff
	for _, want := range []string{
		"--- old/" + filepath.ToSlash(path) + "\n+++ new/" + filepath.ToSlash(path) + "\n",
		"@@ -1,16 +1,16 @@\n",
		"-url=\"smb://fs01.corp.example/drs/sales\"\n",
		"+  url         = \"smb://fs01.corp.example/drs/sales\"\n",
		"-  databases = [\"Sales\",\"Inventory\"]\n",
		"+  databases     = [\"Sales\", \"Inventory\"]\n",
		" backup_folder \"sales_share\" {\n",
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if got, err := applyUnified(string(before), diff); err != nil || got != string(golden) {
		t.Errorf("applying the diff: %v\n%s", err, got)
	}

	// write: the file becomes the golden text, keeps its mode, and is then
	// formatted.
	results, diags = Format(path, true, false)
	if len(diags) != 0 || len(results) != 1 || !results[0].Changed || results[0].Diff != "" {
		t.Fatalf("write: results = %+v, diags:%s", results, diagsText(diags))
	}
	after, _ = os.ReadFile(path)
	if !bytes.Equal(after, golden) {
		t.Errorf("written file:\n%s\nwant:\n%s", after, golden)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after write = %v, %v; want 0640", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after write, want 1 (no temporary left)", len(entries))
	}
	results, diags = Format(dir, false, true)
	if len(diags) != 0 || len(results) != 1 || results[0].Changed || results[0].Diff != "" {
		t.Errorf("second run: results = %+v, diags:%s", results, diagsText(diags))
	}
}

func TestFormat_SyntaxErrorLeftAlone(t *testing.T) {
	dir, path := copyFixture(t, "testdata/invalid/syntax_error.drs.hcl")
	before, _ := os.ReadFile(path)
	results, diags := Format(dir, true, true)
	if !diags.HasErrors() || diags[0].Summary != "Invalid block definition" {
		t.Errorf("diags:%s", diagsText(diags))
	}
	if len(results) != 0 {
		t.Errorf("results = %+v", results)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("file with a syntax error was rewritten")
	}
}

func TestFormat_NoFiles(t *testing.T) {
	_, diags := Format(t.TempDir(), false, false)
	if !diags.HasErrors() || diags[0].Summary != "No configuration files" {
		t.Errorf("diags:%s", diagsText(diags))
	}
}

func TestUnifiedDiff(t *testing.T) {
	tests := map[string]struct{ a, b, want string }{
		"equal": {"a\nb\n", "a\nb\n", ""},
		"one line changed": {"a\nb\nc\n", "a\nB\nc\n",
			"--- a\n+++ b\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		"insert into empty": {"", "x\n",
			"--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n"},
		"delete everything": {"x\ny\n", "",
			"--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n"},
		"missing final newline": {"a\nb", "a\nb\n",
			"--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		"far apart changes make two hunks": {
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "0\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n13\n",
			"--- a\n+++ b\n@@ -1,4 +1,4 @@\n-1\n+0\n 2\n 3\n 4\n@@ -9,4 +9,4 @@\n 9\n 10\n 11\n-12\n+13\n"},
		"near changes share a hunk": {
			"1\n2\n3\n4\n5\n6\n7\n8\n", "0\n2\n3\n4\n5\n6\n7\n9\n",
			"--- a\n+++ b\n@@ -1,8 +1,8 @@\n-1\n+0\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+9\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := unifiedDiff("a", "b", tt.a, tt.b)
			if got != tt.want {
				t.Errorf("unifiedDiff:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// Random edits: the diff, applied to the old text, gives the new text, and
// it is minimal in the number of changed lines.
func TestUnifiedDiff_Applies(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"a\n", "b\n", "c\n", "d\n", "e\n"}
	for i := range 500 {
		a := randomLines(r, words)
		b := randomLines(r, words)
		if r.IntN(4) == 0 && len(b) > 0 {
			b = b[:len(b)-1] + strings.TrimSuffix(b[len(b)-1:], "\n")
		}
		d := unifiedDiff("a", "b", a, b)
		got, err := applyUnified(a, d)
		if err != nil || got != b {
			t.Fatalf("case %d: apply(%q, diff) = %q, %v; want %q\ndiff:\n%s", i, a, got, err, b, d)
		}
		la, lb := splitLines(a), splitLines(b)
		if changed, lcs := countChanges(d), lcsLen(la, lb); changed != len(la)+len(lb)-2*lcs {
			t.Fatalf("case %d: %d changed lines, want %d (not minimal)\n%s", i, changed, len(la)+len(lb)-2*lcs, d)
		}
	}
}

func randomLines(r *rand.Rand, words []string) string {
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.String()
}

func countChanges(diff string) int {
	n := 0
	for _, l := range strings.Split(diff, "\n") {
		if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") {
			n++
		}
	}
	return n
}

func lcsLen(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

// applyUnified applies a unified diff to old, checking every context and
// deleted line and every hunk header's counts, as patch(1) would.
func applyUnified(old, diff string) (string, error) {
	if diff == "" {
		return old, nil
	}
	src := splitLines(old)
	lines := strings.SplitAfter(diff, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		return "", fmt.Errorf("no header")
	}
	var out []string
	pos := 0 // next line of src to copy
	for i := 2; i < len(lines) && lines[i] != ""; {
		var la, na, lb, nb int
		if _, err := fmt.Sscanf(lines[i], "@@ -%d,%d +%d,%d @@\n", &la, &na, &lb, &nb); err != nil {
			return "", fmt.Errorf("bad hunk header %q: %v", lines[i], err)
		}
		i++
		start := la - 1
		if na == 0 {
			start = la
		}
		if start < pos {
			return "", fmt.Errorf("hunks overlap")
		}
		out = append(out, src[pos:start]...)
		pos = start
		if lb != len(out)+1 && !(nb == 0 && lb == len(out)) {
			return "", fmt.Errorf("hunk says new line %d, but it is %d", lb, len(out)+1)
		}
		gotA, gotB := 0, 0
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "@@") {
			l := lines[i]
			i++
			text := l[1:]
			if i < len(lines) && strings.HasPrefix(lines[i], `\ No newline`) {
				text = strings.TrimSuffix(text, "\n")
				i++
			}
			switch l[0] {
			case ' ', '-':
				if pos >= len(src) || src[pos] != text {
					return "", fmt.Errorf("line %d is %q, diff expects %q", pos+1, at(src, pos), text)
				}
				pos++
				gotA++
				if l[0] == ' ' {
					out = append(out, text)
					gotB++
				}
			case '+':
				out = append(out, text)
				gotB++
			default:
				return "", fmt.Errorf("bad diff line %q", l)
			}
		}
		if gotA != na || gotB != nb {
			return "", fmt.Errorf("hunk header counts %d,%d but has %d,%d", na, nb, gotA, gotB)
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, ""), nil
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "EOF (" + strconv.Itoa(len(lines)) + " lines)"
}
