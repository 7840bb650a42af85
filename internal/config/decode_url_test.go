package config

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestCheckURL(t *testing.T) {
	l := newLoader(t.TempDir(), LoadOptions{})
	tests := []struct {
		raw        string
		err        string // summary; "" for a good URL
		serverPath string // fileURLPath for good file URLs
	}{
		{"file:///var/backups", "", "/var/backups"},
		{"file://localhost/var/backups", "", "/var/backups"},
		{"file://./backups", "", "backups"},
		{"file:///C:/Backups", "", "C:/Backups"},
		{"smb://fs01/drs/sales", "", ""},
		{"s3://bucket/prefix?region=us-east-1", "", ""},
		{"azblob://container/prefix", "", ""},
		{"S3://bucket/prefix", "", ""},
		{"file://backups/x", "Invalid file URL", ""},
		{"file:///", "Invalid file URL", ""},
		{"/var/backups", "URL has no scheme", ""},
		{`C:\Backups`, "URL has no scheme", ""},
		{`\\fs01\drs`, "URL has no scheme", ""},
		{"backups", "URL has no scheme", ""},
		{"ftp://host/x", "Unsupported URL scheme", ""},
		{"s3:bucket", "Invalid URL", ""},
		{"s3:///prefix", "URL has no host", ""},
		{"smb://fs01/%zz", "Invalid URL", ""},
		{"smb://[fs01/x", "Invalid URL", ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := l.checkURL(tt.raw)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("checkURL(%q) = %s: %s", tt.raw, err.summary, err.detail)
			case tt.err != "" && err == nil:
				t.Fatalf("checkURL(%q) accepted, want %q", tt.raw, tt.err)
			case tt.err != "" && err.summary != tt.err:
				t.Fatalf("checkURL(%q) = %q, want %q", tt.raw, err.summary, tt.err)
			}
			if tt.serverPath != "" {
				if got := fileURLPath(u); got != tt.serverPath {
					t.Errorf("fileURLPath = %q, want %q", got, tt.serverPath)
				}
			}
		})
	}
}

func TestLocationKey(t *testing.T) {
	l := newLoader(t.TempDir(), LoadOptions{})
	same := [][2]string{
		{"s3://drs-east/sales", "s3://drs-east/sales/"},
		{"s3://drs-east/sales?region=us-east-1", "s3://drs-east/sales"},
		{"smb://FS01/drs", "smb://fs01/drs"},
	}
	for _, p := range same {
		a, _ := l.checkURL(p[0])
		b, _ := l.checkURL(p[1])
		if locationKey(a) != locationKey(b) {
			t.Errorf("%q and %q are different places: %q vs %q", p[0], p[1], locationKey(a), locationKey(b))
		}
	}
	a, _ := l.checkURL("s3://drs-east/sales")
	b, _ := l.checkURL("s3://drs-east/sales2")
	if locationKey(a) == locationKey(b) {
		t.Error("different prefixes compare equal")
	}
}

func TestParseSize(t *testing.T) {
	tests := map[string]int64{
		"5242880": 5 << 20, "16MiB": 16 << 20, "16 mib": 16 << 20, "8MB": 8_000_000,
		"1GiB": 1 << 30, "1.5MiB": 3 << 19, "512KiB": 512 << 10, "100B": 100,
	}
	for in, want := range tests {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "16XB", "0.3B", "1..2MB", "99999999999GiB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// Snippet offsets stay right in files with Windows line endings.
func TestValidateJSON_CRLF(t *testing.T) {
	dir := writeConfig(t, map[string]string{"c.drs.hcl": "state {\r\n  url = \"ftp://x/state\"\r\n}\r\n" +
		"backup_folder \"f\" {\r\n  url = \"file:///b\"\r\n}\r\n"})
	cfg, diags := Load(dir, testOptions)
	if len(diags) != 1 {
		t.Fatalf("want one diagnostic, got:%s", diagsText(diags))
	}
	var buf bytes.Buffer
	if err := ValidateJSON(&buf, cfg.Files, diags); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Diagnostics []struct {
			Snippet struct {
				Code                 string `json:"code"`
				HighlightStartOffset int    `json:"highlight_start_offset"`
				HighlightEndOffset   int    `json:"highlight_end_offset"`
			} `json:"snippet"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	sn := got.Diagnostics[0].Snippet
	if hl := sn.Code[sn.HighlightStartOffset:sn.HighlightEndOffset]; hl != `"ftp://x/state"` {
		t.Errorf("highlight = %q in %q", hl, sn.Code)
	}
}

func TestJSONSnippet_MultiLineCRLF(t *testing.T) {
	src := "a {\r\n  b = 1\r\n  c = 2\r\n}\r\n"
	f := &hcl.File{Bytes: []byte(src)}
	// Subject `c = 2` (line 3), context lines 2-3.
	subject := hcl.Range{Filename: "x", Start: hcl.Pos{Line: 3, Column: 3, Byte: 16}, End: hcl.Pos{Line: 3, Column: 8, Byte: 21}}
	context := hcl.Range{Filename: "x", Start: hcl.Pos{Line: 2, Column: 3, Byte: 7}, End: subject.End}
	sn := jsonSnippetFor(f, &hcl.Diagnostic{Subject: &subject, Context: &context})
	if sn.Code != "  b = 1\n  c = 2" || sn.StartLine != 2 {
		t.Fatalf("snippet = %+v", sn)
	}
	if hl := sn.Code[sn.HighlightStartOffset:sn.HighlightEndOffset]; hl != "c = 2" {
		t.Errorf("highlight = %q", hl)
	}
}
