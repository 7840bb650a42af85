package config

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcled"
)

// The shape of `terraform validate -json` (format_version 1.0), so CI
// tooling that reads Terraform's output reads ours.
type jsonValidate struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []jsonDiagnostic `json:"diagnostics"`
}

type jsonDiagnostic struct {
	Severity string       `json:"severity"`
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail"`
	Range    *jsonRange   `json:"range,omitempty"`
	Snippet  *jsonSnippet `json:"snippet,omitempty"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

type jsonSnippet struct {
	// Context is the enclosing block, e.g. `target "dr_east"`, or null.
	Context *string `json:"context"`
	// Code is the source lines shown, without the final newline.
	Code      string `json:"code"`
	StartLine int    `json:"start_line"`
	// The highlighted subject as byte offsets into Code.
	HighlightStartOffset int `json:"highlight_start_offset"`
	HighlightEndOffset   int `json:"highlight_end_offset"`
	// Values is always empty: expression values are never shown (they
	// could be secrets). Kept for Terraform's shape.
	Values []struct{} `json:"values"`
}

// ValidateJSON writes diagnostics in the shape of `terraform validate
// -json`: format_version, valid, error_count, warning_count and diagnostics
// with severity, summary, detail, range and snippet. files supplies the
// sources for snippets (Config.Files).
func ValidateJSON(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	out := jsonValidate{FormatVersion: "1.0", Diagnostics: []jsonDiagnostic{}}
	for _, d := range diags {
		jd := jsonDiagnostic{Summary: d.Summary, Detail: d.Detail, Severity: "error"}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
			out.WarningCount++
		} else {
			out.ErrorCount++
		}
		if d.Subject != nil {
			s := *d.Subject
			jd.Range = &jsonRange{
				Filename: s.Filename,
				Start:    jsonPos{Line: s.Start.Line, Column: s.Start.Column, Byte: s.Start.Byte},
				End:      jsonPos{Line: s.End.Line, Column: s.End.Column, Byte: s.End.Byte},
			}
			if f := files[s.Filename]; f != nil && f.Bytes != nil {
				jd.Snippet = jsonSnippetFor(f, d)
			}
		}
		out.Diagnostics = append(out.Diagnostics, jd)
	}
	out.Valid = out.ErrorCount == 0
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func jsonSnippetFor(f *hcl.File, d *hcl.Diagnostic) *jsonSnippet {
	lines := sourceLines(f.Bytes, snippetRange(d))
	if len(lines) == 0 {
		return nil
	}
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.Text
	}
	code := strings.Join(texts, "\n")
	hl := highlightRange(*d.Subject)
	sn := &jsonSnippet{
		Code:                 code,
		StartLine:            lines[0].Number,
		HighlightStartOffset: codeOffset(lines, hl.Start.Byte),
		HighlightEndOffset:   codeOffset(lines, hl.End.Byte),
		Values:               []struct{}{},
	}
	if c := hcled.ContextString(f, d.Subject.Start.Byte); c != "" {
		sn.Context = &c
	}
	return sn
}

// codeOffset turns a byte offset in the file into an offset in the code
// built from lines (joined with "\n", carriage returns dropped).
func codeOffset(lines []srcLine, b int) int {
	off := 0
	for i, l := range lines {
		if b < l.Start {
			return off
		}
		if b <= l.Start+len(l.Text) || i == len(lines)-1 {
			return off + min(b-l.Start, len(l.Text))
		}
		off += len(l.Text) + 1
	}
	return off
}
