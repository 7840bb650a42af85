package main

import (
	"fmt"
	"slices"
	"sort"

	"github.com/drsctl/drsctl/internal/cli"
)

// unknownCommand reports a verb drsctl does not have, suggesting the
// nearest one when the name looks like a typo of it (drsctl aply).
func unknownCommand(env *cli.Env, name string) int {
	if s := suggest(name); s != "" {
		fmt.Fprintf(env.Stderr, "Error: unknown command %q. Did you mean %q?\nRun \"drsctl help\" for the list of commands.\n", name, s)
		return cli.ExitError
	}
	fmt.Fprintf(env.Stderr, "Error: unknown command %q.\n\n", name)
	usage(env.Stderr)
	return cli.ExitError
}

// suggest returns the command nearest to name by edit distance, if it is
// close enough to be a typo: at most a third of the name's letters differ
// (at least one), as git and Terraform suggest.
func suggest(name string) string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	return nearest(name, names)
}

// nearest returns the candidate nearest to name, or "" when none is close
// enough to be a typo of it.
func nearest(name string, candidates []string) string {
	names := slices.Clone(candidates)
	sort.Strings(names) // ties go to the first in order, so the answer is stable
	best, bestD := "", -1
	for _, n := range names {
		d := editDistance(name, n)
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	if limit := max(len([]rune(name))/3, 1); bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, with the swap
// of two adjacent letters counting as one edit (optimal string alignment):
// "paln" is one edit from "plan".
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}
