package sqlserver

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// The engine puts names and paths into statement text only through
// quoteIdent ([…] with ] doubled) and quoteString (N'…' with ' doubled).
// FuzzQuote builds every statement shape the engine sends with a fuzzed
// database name, path and credential, and checks with an independent T-SQL
// tokenizer (tsqlTokens below, written from the T-SQL lexical rules, not
// from the simulator) that each arrives as ONE identifier or literal whose
// unescaped text is exactly the input, and that every other token is the
// one the statement has with harmless placeholders: nothing leaks out of
// its quotes. It also checks that MOVE file names made from the name stay
// inside the data directory.

// Placeholders: a statement built with them is the template the fuzzed one
// must match token for token.
const (
	phName = "n"
	phPath = "p"
	phCred = "c"
)

// statementShapes are the statements the engine builds from a database
// name, a server path and a credential name.
var statementShapes = []struct {
	name  string
	build func(name, path, cred string) string
}{
	{"identifier", func(n, _, _ string) string { return quoteIdent(n) }},
	{"literal", func(_, p, _ string) string { return quoteString(p) }},
	{"backup full to disk", func(n, p, _ string) string {
		return backupStatement(engine.BackupRequest{Database: n, Kind: artifact.Full, ServerPath: p, Compression: true}, device{path: p})
	}},
	{"tail-log backup to a URL with a credential", func(n, p, c string) string {
		return backupStatement(engine.BackupRequest{Database: n, Kind: artifact.Log, ServerPath: p, Credential: c, CopyOnly: true, NoRecovery: true},
			device{path: "https://a.blob.core.windows.net/x/" + p, url: true})
	}},
	{"restore full standby with moves", func(n, p, _ string) string {
		return restoreStatement(engine.RestoreRequest{Database: n, Kind: artifact.Full, ServerPath: p, Mode: engine.StandbyMode, UndoFile: p, Replace: true},
			device{path: p}, []move{{logical: n, to: p}, {logical: p, to: n}})
	}},
	{"restore log from a URL with a credential", func(n, p, c string) string {
		return restoreStatement(engine.RestoreRequest{Database: n, Kind: artifact.Log, ServerPath: p, Mode: engine.NoRecovery, Credential: c},
			device{path: "https://a.blob.core.windows.net/x/" + p, url: true}, nil)
	}},
	{"headeronly", func(_, p, _ string) string { return "RESTORE HEADERONLY FROM " + device{path: p}.clause() }},
	{"recover", func(n, _, _ string) string { return "RESTORE DATABASE " + quoteIdent(n) + " WITH RECOVERY" }},
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{
		"Sales", "", "]", "]]", "[", "'", "''", `"`, ";", "--", "/*", "*/", "/", `\`, "..", " ", "a b",
		"Sales]; DROP DATABASE x; --", "x'; DROP DATABASE x; --", "O'Brien", `a"b`, "a\x00b", "\x00", "two\nlines", "cr\rlf\r\n",
		"Zürich 日本", "Sales 💾", "𠀋", "\xed\xa0\x80", "\xff\xfe", "tab\there", "N'x'", "]' --", "\u2028", "\ufeff",
		"ＤＲＯＰ］", "'＇", strings.Repeat("]", 200), strings.Repeat("a", 130),
	} {
		f.Add(s, `D:\b\`+s+`.bak`, s)
	}
	f.Fuzz(func(t *testing.T, name, path, cred string) {
		if cred == "" || credentialMatches(cred, "https://a.blob.core.windows.net/x/"+path) {
			// No CREDENTIAL option then (the server finds the credential
			// named after the URL by itself): another statement shape.
			cred = phCred
		}
		for _, shape := range statementShapes {
			tmpl, err := tsqlTokens(shape.build(phName, phPath, phCred))
			if err != nil {
				t.Fatalf("%s: template does not tokenize: %v", shape.name, err)
			}
			stmt := shape.build(name, path, cred)
			got, err := tsqlTokens(stmt)
			if err != nil {
				t.Fatalf("%s: %v\nstatement: %q", shape.name, err, stmt)
			}
			if len(got) != len(tmpl) {
				t.Fatalf("%s: %d tokens, the template has %d: something left its quotes\nstatement: %q\ntokens: %q", shape.name, len(got), len(tmpl), stmt, got)
			}
			for i, want := range tmpl {
				if want.kind == tokQIdent || want.kind == tokNString {
					switch want.text {
					case phName:
						want.text = sent(name)
					case phPath:
						want.text = sent(path)
					case phCred:
						want.text = sent(cred)
					case "https://a.blob.core.windows.net/x/" + phPath:
						want.text = sent("https://a.blob.core.windows.net/x/" + path)
					}
				}
				if got[i] != want {
					t.Fatalf("%s: token %d is %v, want %v\nstatement: %q", shape.name, i, got[i], want, stmt)
				}
			}
		}
		// MOVE targets made from the name stay in the data directory.
		for _, dir := range []string{`D:\Data`, "/var/opt/mssql/data"} {
			for _, file := range []backupFile{{logical: path, physical: path, typ: "D", fileID: 1}, {logical: name, physical: `C:\x\` + path, typ: "L", fileID: 2}} {
				base := movedName(name, file)
				if base == "" || base == "." || base == ".." || strings.ContainsAny(base, `/\`) {
					t.Fatalf("movedName(%q, %+v) = %q: not one file name", name, file, base)
				}
				for _, r := range base {
					if r < 0x20 || r == 0x7f {
						t.Fatalf("movedName(%q, %+v) = %q has a control character", name, file, base)
					}
				}
				full := joinServerPath(dir, base)
				if !strings.HasPrefix(full, dir) || strings.ContainsAny(full[len(dir)+1:], `/\`) {
					t.Fatalf("joinServerPath(%q, %q) = %q leaves the directory", dir, base, full)
				}
			}
		}
	})
}

// sent is s as the server receives it: go-mssqldb sends the batch as
// UTF-16, so bytes that are not UTF-8 arrive as U+FFFD, one per byte.
func sent(s string) string { return string([]rune(s)) }

type tokKind int

const (
	tokWord    tokKind = iota // keyword or regular identifier
	tokNumber                 // 10
	tokPunct                  // = , ( ) ; .
	tokQIdent                 // [..] or ".." (text unescaped)
	tokString                 // '..'
	tokNString                // N'..'
)

type tsqlToken struct {
	kind tokKind
	text string
}

func (t tsqlToken) String() string { return fmt.Sprintf("%d:%q", t.kind, t.text) }

// tsqlTokens splits T-SQL into tokens by the language's lexical rules:
// whitespace separates; [..] ends at a ] not followed by another (]] is
// one ]); "..", '..' and N'..' end likewise at their quote, a doubled quote
// being one; anything else is a word, a number or punctuation. Inside
// quotes every character (NUL, newlines, U+FFFD) is text. (Were a server to
// end a batch at NUL, a name with one would leave an unclosed quote: an
// error, still nothing run.) The engine never writes a comment, so -- is
// kept as a token (the rest of its line skipped) and /* is an error, as is
// any other character outside quotes.
func tsqlTokens(src string) ([]tsqlToken, error) {
	rs := []rune(src)
	var out []tsqlToken
	quoted := func(i int, close rune) (string, int, error) {
		var sb strings.Builder
		for j := i; j < len(rs); j++ {
			if rs[j] == close {
				if j+1 < len(rs) && rs[j+1] == close {
					sb.WriteRune(close)
					j++
					continue
				}
				return sb.String(), j + 1, nil
			}
			sb.WriteRune(rs[j])
		}
		return "", 0, fmt.Errorf("unclosed quotation mark after %q", sb.String())
	}
	isWord := func(r rune, first bool) bool {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r == '#', r == '@':
			return true
		case r >= '0' && r <= '9', r == '$':
			return !first
		}
		return false
	}
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '-' && i+1 < len(rs) && rs[i+1] == '-':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			out = append(out, tsqlToken{tokPunct, "--"}) // a comment is never in a statement the engine builds
		case c == '/' && i+1 < len(rs) && rs[i+1] == '*':
			return nil, fmt.Errorf("a comment at rune %d", i)
		case (c == 'N' || c == 'n') && i+1 < len(rs) && rs[i+1] == '\'':
			s, j, err := quoted(i+2, '\'')
			if err != nil {
				return nil, err
			}
			out, i = append(out, tsqlToken{tokNString, s}), j
		case c == '\'':
			s, j, err := quoted(i+1, '\'')
			if err != nil {
				return nil, err
			}
			out, i = append(out, tsqlToken{tokString, s}), j
		case c == '[':
			s, j, err := quoted(i+1, ']')
			if err != nil {
				return nil, err
			}
			out, i = append(out, tsqlToken{tokQIdent, s}), j
		case c == '"':
			s, j, err := quoted(i+1, '"')
			if err != nil {
				return nil, err
			}
			out, i = append(out, tsqlToken{tokQIdent, s}), j
		case c >= '0' && c <= '9':
			j := i
			for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
				j++
			}
			out, i = append(out, tsqlToken{tokNumber, string(rs[i:j])}), j
		case isWord(c, true):
			j := i + 1
			for j < len(rs) && isWord(rs[j], false) {
				j++
			}
			out, i = append(out, tsqlToken{tokWord, strings.ToUpper(string(rs[i:j]))}), j
		case strings.ContainsRune("=,();.", c):
			out, i = append(out, tsqlToken{tokPunct, string(c)}), i+1
		default:
			return nil, fmt.Errorf("unexpected %q outside quotes at rune %d", c, i)
		}
	}
	return out, nil
}

// TestTSQLTokens checks the tokenizer the fuzz target trusts.
func TestTSQLTokens(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []tsqlToken
		err  bool
	}{
		{in: "BACKUP DATABASE [a]]b] TO DISK = N'it''s'", want: []tsqlToken{{tokWord, "BACKUP"}, {tokWord, "DATABASE"}, {tokQIdent, "a]b"},
			{tokWord, "TO"}, {tokWord, "DISK"}, {tokPunct, "="}, {tokNString, "it's"}}},
		{in: "[a] ; DROP DATABASE x; --]", want: []tsqlToken{{tokQIdent, "a"}, {tokPunct, ";"}, {tokWord, "DROP"}, {tokWord, "DATABASE"},
			{tokWord, "X"}, {tokPunct, ";"}, {tokPunct, "--"}}},
		{in: "N'a\x00\nb' \"q\"\"\" 'x' STATS = 10", want: []tsqlToken{{tokNString, "a\x00\nb"}, {tokQIdent, `q"`}, {tokString, "x"},
			{tokWord, "STATS"}, {tokPunct, "="}, {tokNumber, "10"}}},
		{in: "[a]]", err: true},
		{in: "N'a''", err: true},
		{in: "x ]", err: true},
		{in: "/* c */", err: true},
	} {
		got, err := tsqlTokens(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("tsqlTokens(%q) error %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if !tt.err && fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("tsqlTokens(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if !utf8.ValidString(sent("\xed\xa0\x80")) {
		t.Error("sent must give valid UTF-8")
	}
}
