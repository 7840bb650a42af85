package config

import (
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines around each change.
const diffContext = 3

// lineOp is one line of an edit script: ' ' kept, '-' deleted from a,
// '+' inserted from b. A and B are the positions in a and b at that line.
type lineOp struct {
	Kind byte
	A, B int
	Text string
}

// unifiedDiff returns a unified diff (as `diff -u` writes it) turning a into
// b, or "" when they are equal.
func unifiedDiff(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	ops := diffLines(splitLines(a), splitLines(b))
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", nameA, nameB)
	for i := 0; i < len(ops); {
		// Find the next change and the hunk around it: changes closer
		// than twice the context share a hunk.
		for i < len(ops) && ops[i].Kind == ' ' {
			i++
		}
		if i == len(ops) {
			break
		}
		start := max(i-diffContext, 0)
		end := i
		for {
			for end < len(ops) && ops[end].Kind != ' ' {
				end++
			}
			next := end
			for next < len(ops) && ops[next].Kind == ' ' {
				next++
			}
			if next == len(ops) || next-end > 2*diffContext {
				break
			}
			end = next
		}
		end = min(end+diffContext, len(ops))
		writeHunk(&sb, ops[start:end])
		i = end
	}
	return sb.String()
}

func writeHunk(sb *strings.Builder, ops []lineOp) {
	var na, nb int
	for _, op := range ops {
		if op.Kind != '+' {
			na++
		}
		if op.Kind != '-' {
			nb++
		}
	}
	// An empty side is numbered by the line before it (diff -u's rule).
	la, lb := ops[0].A+1, ops[0].B+1
	if na == 0 {
		la--
	}
	if nb == 0 {
		lb--
	}
	fmt.Fprintf(sb, "@@ -%d,%d +%d,%d @@\n", la, na, lb, nb)
	for _, op := range ops {
		sb.WriteByte(op.Kind)
		sb.WriteString(op.Text)
		if !strings.HasSuffix(op.Text, "\n") {
			sb.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// splitLines splits s after each newline, keeping it; the last line lacks
// one when s does not end with a newline.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// diffLines returns a shortest edit script from a to b (Myers' O(ND)
// algorithm), after setting aside the common prefix and suffix.
func diffLines(a, b []string) []lineOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []lineOp
	for i := 0; i < pre; i++ {
		ops = append(ops, lineOp{' ', i, i, a[i]})
	}
	for _, op := range myers(a[pre:len(a)-suf], b[pre:len(b)-suf]) {
		op.A += pre
		op.B += pre
		ops = append(ops, op)
	}
	for i := 0; i < suf; i++ {
		ia, ib := len(a)-suf+i, len(b)-suf+i
		ops = append(ops, lineOp{' ', ia, ib, a[ia]})
	}
	return ops
}

func myers(a, b []string) []lineOp {
	n, m := len(a), len(b)
	maxD := n + m
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int
search:
	for d := 0; d <= maxD; d++ {
		trace = append(trace, append([]int(nil), v...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: insert
			} else {
				x = v[off+k-1] + 1 // right: delete
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				break search
			}
		}
	}

	// Walk the trace back from (n, m), collecting the script in reverse.
	var rev []lineOp
	x, y := n, m
	for d := len(trace) - 1; d >= 0; d-- {
		v := trace[d]
		k := x - y
		var prevK int
		if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := v[off+prevK]
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			rev = append(rev, lineOp{' ', x - 1, y - 1, a[x-1]})
			x, y = x-1, y-1
		}
		if d == 0 {
			break
		}
		if x == prevX {
			rev = append(rev, lineOp{'+', x, y - 1, b[y-1]})
		} else {
			rev = append(rev, lineOp{'-', x - 1, y, a[x-1]})
		}
		x, y = prevX, prevY
	}
	ops := make([]lineOp, len(rev))
	for i, op := range rev {
		ops[len(rev)-1-i] = op
	}
	return ops
}
