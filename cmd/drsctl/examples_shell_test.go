package main

import (
	"fmt"
	"strings"
	"testing"
)

// The examples' shell (workflow steps, crontab entries, systemd ExecStart)
// is read with a small POSIX-shell word splitter, enough to find each simple
// command with its arguments and redirections. It knows quotes, escapes,
// comments, line continuations, the list and pipe operators and
// redirections; it does not expand anything: a drsctl argument holding a $
// is reported, so that the test can never check a word other than the one
// the shell would pass.

// simpleCommand is one command of a shell line: its words after any leading
// reserved words (if, then, !) and variable assignments.
type simpleCommand struct {
	argv []string
	// stdout and stderr are the files the command's output is redirected
	// to ("" when not redirected; "&1" for 2>&1).
	stdout, stderr string
	// piped reports that stdout goes into a pipe (cmd | next).
	piped bool
	// next is the operator after the command: | || && ; & ) or "".
	next string
}

type token struct {
	text string
	op   bool // an operator: | || && ; & ( ) or a redirection
}

// shellTokens splits shell source into words and operators.
func shellTokens(src string) ([]token, error) {
	var toks []token
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			toks = append(toks, token{text: w.String()})
			w.Reset()
			inWord = false
		}
	}
	r := []rune(src)
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '\\':
			if i+1 < len(r) && r[i+1] == '\n' {
				i++ // line continuation
				continue
			}
			if i+1 < len(r) {
				i++
				w.WriteRune(r[i])
				inWord = true
			}
		case c == '\'':
			inWord = true
			for i++; i < len(r) && r[i] != '\''; i++ {
				w.WriteRune(r[i])
			}
			if i >= len(r) {
				return nil, fmt.Errorf("unterminated single quote in %q", src)
			}
		case c == '"':
			inWord = true
			i++
			for ; i < len(r) && r[i] != '"'; i++ {
				if r[i] == '\\' && i+1 < len(r) && strings.ContainsRune("\"\\$`\n", r[i+1]) {
					i++
					if r[i] == '\n' {
						continue
					}
				}
				w.WriteRune(r[i])
			}
			if i >= len(r) {
				return nil, fmt.Errorf("unterminated double quote in %q", src)
			}
		case c == '#' && !inWord:
			for i < len(r) && r[i] != '\n' {
				i++
			}
			i-- // the newline ends the command
		case c == '\n':
			flush()
			toks = append(toks, token{text: ";", op: true})
		case c == ' ' || c == '\t':
			flush()
		case c == '|' || c == '&' || c == ';' || c == '(' || c == ')':
			flush()
			op := string(c)
			if (c == '|' || c == '&') && i+1 < len(r) && r[i+1] == c {
				op += string(c)
				i++
			}
			toks = append(toks, token{text: op, op: true})
		case c == '>' || c == '<':
			fd := ""
			if inWord && isDigits(w.String()) {
				fd = w.String()
				w.Reset()
				inWord = false
			}
			flush()
			op := fd + string(c)
			if i+1 < len(r) && (r[i+1] == '>' || r[i+1] == '&') {
				op += string(r[i+1])
				i++
			}
			toks = append(toks, token{text: op, op: true})
		default:
			w.WriteRune(c)
			inWord = true
		}
	}
	flush()
	return toks, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

var reservedWords = map[string]bool{"if": true, "then": true, "else": true, "elif": true, "fi": true,
	"do": true, "done": true, "while": true, "until": true, "!": true, "{": true, "}": true, "time": true}

// shellCommands returns the simple commands of shell source.
func shellCommands(src string) ([]simpleCommand, error) {
	toks, err := shellTokens(src)
	if err != nil {
		return nil, err
	}
	var cmds []simpleCommand
	var cur simpleCommand
	end := func(op string) {
		if len(cur.argv) > 0 {
			cur.piped, cur.next = op == "|", op
			cmds = append(cmds, cur)
		}
		cur = simpleCommand{}
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !t.op {
			if len(cur.argv) == 0 && (reservedWords[t.text] || isAssignment(t.text)) {
				continue
			}
			cur.argv = append(cur.argv, t.text)
			continue
		}
		if strings.ContainsAny(t.text, "<>") {
			if i+1 >= len(toks) || toks[i+1].op {
				return nil, fmt.Errorf("redirection %s without a target in %q", t.text, src)
			}
			i++
			target := toks[i].text
			switch t.text {
			case ">", ">>", "1>", "1>>":
				cur.stdout = target
			case ">&", "1>&":
				cur.stdout = "&" + target
			case "2>", "2>>":
				cur.stderr = target
			case "2>&":
				cur.stderr = "&" + target
			}
			continue
		}
		end(t.text)
	}
	end("")
	return cmds, nil
}

func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i, c := range name {
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func TestShellCommands(t *testing.T) {
	tests := map[string]struct {
		src  string
		want []simpleCommand
	}{
		"pipe, list and assignments": {
			src: `set -a && . /etc/x.env && set +a && A=1 drsctl -chdir /etc/d apply -auto-approve | logger -t drsctl`,
			want: []simpleCommand{
				{argv: []string{"set", "-a"}, next: "&&"}, {argv: []string{".", "/etc/x.env"}, next: "&&"}, {argv: []string{"set", "+a"}, next: "&&"},
				{argv: []string{"drsctl", "-chdir", "/etc/d", "apply", "-auto-approve"}, piped: true, next: "|"},
				{argv: []string{"logger", "-t", "drsctl"}},
			},
		},
		"redirections and reserved words": {
			src: "if drsctl apply plan.json 2> apply.err; then\n  exit 0 # done\nfi\ndrsctl plan -out 'a b.json' >plan.txt || code=$?",
			want: []simpleCommand{
				{argv: []string{"drsctl", "apply", "plan.json"}, stderr: "apply.err", next: ";"},
				{argv: []string{"exit", "0"}, next: ";"},
				{argv: []string{"drsctl", "plan", "-out", "a b.json"}, stdout: "plan.txt", next: "||"},
			},
		},
		"quotes, escapes and continuations": {
			src: "go install \"github.com/x/y@${V}\" \\\n  -v 2>&1 && echo it\\'s",
			want: []simpleCommand{
				{argv: []string{"go", "install", "github.com/x/y@${V}", "-v"}, stderr: "&1", next: "&&"},
				{argv: []string{"echo", "it's"}},
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := shellCommands(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := shellCommands(`drsctl plan 'unterminated`); err == nil {
		t.Error("an unterminated quote was accepted")
	}
}
