package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestWriteDiagnostics(t *testing.T) {
	path := "testdata/invalid/unknown_primary_reference.drs.hcl"
	cfg, diags := Load(path, testOptions)
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, cfg.Files, diags, 0, false); err != nil {
		t.Fatal(err)
	}
	want := `Error: Reference to undeclared primary

  on testdata/invalid/unknown_primary_reference.drs.hcl line 19, in target "dr_east":
  19:   primary    = primary.sals
                     ^^^^^^^^^^^^

No primary named "sals" is declared. Did you mean "sales"?

`
	if got := buf.String(); got != want {
		t.Errorf("WriteDiagnostics:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteDiagnostics_Color(t *testing.T) {
	cfg, diags := Load("testdata/invalid/unknown_primary_reference.drs.hcl", testOptions)
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, cfg.Files, diags, 0, true); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, want := range []string{"\x1b[1;31mError:\x1b[0m", "primary    = \x1b[1;4mprimary.sals\x1b[0m\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("colored output lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, "^^^") {
		t.Errorf("colored output has carets:\n%s", got)
	}
}

func TestWriteDiagnostics_Shapes(t *testing.T) {
	src := "target \"t\" {\n\tprimary = primary.p\n  url = \"a\n}\n"
	f := &hcl.File{Bytes: []byte(src)}
	files := map[string]*hcl.File{"x.drs.hcl": f}
	rng := func(sl, sc, sb, el, ec, eb int) *hcl.Range {
		return &hcl.Range{Filename: "x.drs.hcl", Start: hcl.Pos{Line: sl, Column: sc, Byte: sb}, End: hcl.Pos{Line: el, Column: ec, Byte: eb}}
	}
	tests := map[string]struct {
		diag *hcl.Diagnostic
		want []string
		not  []string
	}{
		"warning without subject": {
			diag: &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Careful", Detail: "Something."},
			want: []string{"Warning: Careful\n\nSomething.\n"},
			not:  []string{" on "},
		},
		"tab keeps the carets aligned": {
			diag: &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "S", Subject: rng(2, 12, 24, 2, 21, 33)},
			want: []string{"   2: \tprimary = primary.p\n      \t          ^^^^^^^^^\n"},
		},
		"subject with context shows both": {
			diag: &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "S", Subject: rng(3, 9, 42, 3, 11, 44), Context: rng(2, 2, 14, 3, 11, 44)},
			want: []string{"   2: \tprimary = primary.p\n   3:   url = \"a\n              ^^\n"},
		},
		"empty subject gets one caret": {
			diag: &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "S", Subject: rng(1, 1, 0, 1, 1, 0)},
			want: []string{"   1: target \"t\" {\n      ^\n"},
		},
		"file not available": {
			diag: &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "S", Subject: &hcl.Range{Filename: "other.drs.hcl", Start: hcl.Pos{Line: 4}}},
			want: []string{"  on other.drs.hcl line 4:\n  (source code not available)\n"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteDiagnostics(&buf, files, hcl.Diagnostics{tt.diag}, 0, false); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, buf.String())
				}
			}
			for _, w := range tt.not {
				if strings.Contains(buf.String(), w) {
					t.Errorf("output has %q:\n%s", w, buf.String())
				}
			}
		})
	}
}

func TestWriteDiagnostics_WrapsDetail(t *testing.T) {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "S", Detail: strings.Repeat("word ", 40)}
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, nil, hcl.Diagnostics{d}, 30, false); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		if len(line) > 30 {
			t.Errorf("line longer than 30: %q", line)
		}
	}
}

func TestValidateJSON(t *testing.T) {
	path := "testdata/invalid/two_problems_at_once.drs.hcl"
	cfg, diags := Load(path, testOptions)
	diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "A warning without a place"})
	var buf bytes.Buffer
	if err := ValidateJSON(&buf, cfg.Files, diags); err != nil {
		t.Fatal(err)
	}
	var got struct {
		FormatVersion string `json:"format_version"`
		Valid         *bool  `json:"valid"`
		ErrorCount    int    `json:"error_count"`
		WarningCount  int    `json:"warning_count"`
		Diagnostics   []struct {
			Severity string `json:"severity"`
			Summary  string `json:"summary"`
			Detail   string `json:"detail"`
			Range    *struct {
				Filename string `json:"filename"`
				Start    struct{ Line, Column, Byte int }
				End      struct{ Line, Column, Byte int }
			} `json:"range"`
			Snippet *struct {
				Context              *string `json:"context"`
				Code                 string  `json:"code"`
				StartLine            int     `json:"start_line"`
				HighlightStartOffset int     `json:"highlight_start_offset"`
				HighlightEndOffset   int     `json:"highlight_end_offset"`
				Values               []any   `json:"values"`
			} `json:"snippet"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, buf.String())
	}
	if got.FormatVersion != "1.0" || got.Valid == nil || *got.Valid || got.ErrorCount != 3 || got.WarningCount != 1 || len(got.Diagnostics) != 4 {
		t.Fatalf("header = %q valid=%v errors=%d warnings=%d diagnostics=%d", got.FormatVersion, got.Valid, got.ErrorCount, got.WarningCount, len(got.Diagnostics))
	}

	// The reference error on line 19: `  primary    = primary.sale`.
	d := got.Diagnostics[2]
	if d.Severity != "error" || d.Summary != "Reference to undeclared primary" || !strings.Contains(d.Detail, `Did you mean "sales"?`) {
		t.Errorf("diagnostic = %+v", d)
	}
	if d.Range == nil || d.Range.Filename != path || d.Range.Start.Line != 19 || d.Range.Start.Column != 16 ||
		d.Range.End.Line != 19 || d.Range.End.Column != 28 || d.Range.End.Byte-d.Range.Start.Byte != len("primary.sale") {
		t.Errorf("range = %+v", d.Range)
	}
	sn := d.Snippet
	if sn == nil {
		t.Fatal("no snippet")
	}
	if sn.Context == nil || *sn.Context != `target "dr_east"` || sn.Code != "  primary    = primary.sale" || sn.StartLine != 19 || sn.Values == nil {
		t.Errorf("snippet = %+v", sn)
	}
	if hl := sn.Code[sn.HighlightStartOffset:sn.HighlightEndOffset]; hl != "primary.sale" {
		t.Errorf("highlight = %q, want primary.sale", hl)
	}

	w := got.Diagnostics[3]
	if w.Severity != "warning" || w.Range != nil || w.Snippet != nil {
		t.Errorf("warning = %+v", w)
	}
}

func TestValidateJSON_Valid(t *testing.T) {
	var buf bytes.Buffer
	if err := ValidateJSON(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["valid"] != true || got["error_count"] != 0.0 || got["warning_count"] != 0.0 {
		t.Errorf("got %v", got)
	}
	if ds, ok := got["diagnostics"].([]any); !ok || len(ds) != 0 {
		t.Errorf("diagnostics = %#v, want an empty array (not null)", got["diagnostics"])
	}
}
