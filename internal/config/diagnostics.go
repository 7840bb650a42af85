package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcled"
	wordwrap "github.com/mitchellh/go-wordwrap"
)

const (
	ansiReset     = "\x1b[0m"
	ansiBold      = "\x1b[1m"
	ansiRed       = "\x1b[1;31m"
	ansiYellow    = "\x1b[1;33m"
	ansiUnderline = "\x1b[1;4m"
)

// WriteDiagnostics renders diagnostics the way Terraform does:
//
//	Error: Reference to undeclared primary
//
//	  on sales.drs.hcl line 14, in target "dr_east":
//	  14:   primary = primary.sals
//	                  ^^^^^^^^^^^^
//
//	No primary named "sals" is declared. Did you mean "sales"?
//
// files supplies the sources for snippets (Config.Files); a diagnostic whose
// file is missing is shown without one. width wraps the detail text (0: no
// wrapping). With color the severity is colored and the range underlined
// with ANSI escapes; without it the range is marked with carets and no
// escape sequence is written. Expression values are never shown, so a
// secret cannot leak through a diagnostic's evaluation context.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint, color bool) error {
	bw := bufio.NewWriter(w)
	for _, d := range diags {
		writeDiagnostic(bw, files, d, width, color)
	}
	return bw.Flush()
}

func writeDiagnostic(w *bufio.Writer, files map[string]*hcl.File, d *hcl.Diagnostic, width uint, color bool) {
	sev, sevColor := "Error", ansiRed
	if d.Severity == hcl.DiagWarning {
		sev, sevColor = "Warning", ansiYellow
	}
	if color {
		fmt.Fprintf(w, "%s%s:%s %s%s%s\n\n", sevColor, sev, ansiReset, ansiBold, d.Summary, ansiReset)
	} else {
		fmt.Fprintf(w, "%s: %s\n\n", sev, d.Summary)
	}

	if d.Subject != nil {
		subject := *d.Subject
		file := files[subject.Filename]
		if file == nil || file.Bytes == nil {
			fmt.Fprintf(w, "  on %s line %d:\n  (source code not available)\n\n", subject.Filename, subject.Start.Line)
		} else {
			where := ""
			if c := hcled.ContextString(file, subject.Start.Byte); c != "" {
				where = ", in " + c
			}
			fmt.Fprintf(w, "  on %s line %d%s:\n", subject.Filename, subject.Start.Line, where)
			writeSnippet(w, file.Bytes, snippetRange(d), highlightRange(subject), color)
			w.WriteString("\n")
		}
	}

	if d.Detail != "" {
		detail := d.Detail
		if width > 0 {
			detail = wordwrap.WrapString(detail, width)
		}
		fmt.Fprintf(w, "%s\n\n", detail)
	}
}

// snippetRange is the source shown for a diagnostic: its subject, extended
// to its context when that is in the same file.
func snippetRange(d *hcl.Diagnostic) hcl.Range {
	r := *d.Subject
	if d.Context != nil && d.Context.Filename == r.Filename {
		r = hcl.RangeOver(r, *d.Context)
	}
	return r
}

// highlightRange widens an empty range to one byte so it can be shown.
func highlightRange(r hcl.Range) hcl.Range {
	if r.Empty() {
		r.End.Byte++
		r.End.Column++
	}
	return r
}

// srcLine is one line of a source file.
type srcLine struct {
	Number int
	Start  int // byte offset of the line's first byte
	Text   string
}

// sourceLines returns the lines of src from r's first line to its last.
func sourceLines(src []byte, r hcl.Range) []srcLine {
	var lines []srcLine
	n, start := 1, 0
	for start <= len(src) && n <= r.End.Line {
		end := bytes.IndexByte(src[start:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += start
		}
		if n >= r.Start.Line {
			lines = append(lines, srcLine{Number: n, Start: start, Text: strings.TrimSuffix(string(src[start:end]), "\r")})
		}
		if end == len(src) {
			break
		}
		n, start = n+1, end+1
	}
	return lines
}

// visible replaces what would act on the terminal instead of showing
// (control characters but tab, line separators, text-direction controls
// that reorder the rest of the line) with U+FFFD, one rune for one so the
// carets below still line up.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\t' && unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			return '\uFFFD'
		}
		return r
	}, s)
}

func writeSnippet(w *bufio.Writer, src []byte, snip, hl hcl.Range, color bool) {
	for _, line := range sourceLines(src, snip) {
		// The highlighted part of this line, as offsets into line.Text.
		hs := min(max(hl.Start.Byte-line.Start, 0), len(line.Text))
		he := min(max(hl.End.Byte-line.Start, 0), len(line.Text))
		if hl.Start.Byte-line.Start > len(line.Text) || hl.End.Byte <= line.Start {
			hs, he = 0, 0
		}
		prefix := fmt.Sprintf("%4d: ", line.Number)
		switch {
		case color && he > hs:
			fmt.Fprintf(w, "%s%s%s%s%s%s\n", prefix, visible(line.Text[:hs]), ansiUnderline, visible(line.Text[hs:he]), ansiReset, visible(line.Text[he:]))
		default:
			fmt.Fprintf(w, "%s%s\n", prefix, visible(line.Text))
		}
		if !color && (he > hs || (hs == he && hl.Start.Line == line.Number)) {
			var marks strings.Builder
			marks.WriteString(strings.Repeat(" ", len(prefix)))
			for _, r := range line.Text[:hs] {
				if r == '\t' {
					marks.WriteByte('\t')
				} else {
					marks.WriteByte(' ')
				}
			}
			marks.WriteString(strings.Repeat("^", max(utf8.RuneCountInString(line.Text[hs:he]), 1)))
			fmt.Fprintf(w, "%s\n", marks.String())
		}
	}
}
