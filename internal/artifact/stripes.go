package artifact

import (
	"fmt"
	"path"
	"strings"
)

// MaxStripes is how many URLs one SQL Server backup may be striped across.
const MaxStripes = 64

// StripePath names stripe i (1-based) of a backup striped across n files
// whose first stripe is p: the first is p itself, the others insert
// ".sIIofNN" before p's extension (Sales/full_x.bak, Sales/full_x.s02of03.bak,
// Sales/full_x.s03of03.bak). It works on object keys and on the paths and
// URLs a server is given alike, so the core (which names and ships the
// stripes) and the engine (which writes and restores them) agree. The
// first stripe keeps the artifact's name because that name is chosen
// before the backup, and how many stripes it needs is only known when it
// starts; an artifact of one file is named as before.
func StripePath(p string, i, n int) string {
	if n <= 1 || i <= 1 {
		return p
	}
	dir, file := p[:len(p)-len(path.Base(p))], path.Base(p)
	ext := path.Ext(file)
	return dir + strings.TrimSuffix(file, ext) + fmt.Sprintf(".s%02dof%02d", i, n) + ext
}

// StripePaths lists the n stripes whose first is p (one path when n <= 1).
func StripePaths(p string, n int) []string {
	out := []string{p}
	for i := 2; i <= n; i++ {
		out = append(out, StripePath(p, i, n))
	}
	return out
}

// ParseStripe recognises a stripe's name other than the first (which has
// no mark of its own): the first stripe's name, the stripe's number and the
// count. ok is false for any other name.
func ParseStripe(p string) (first string, i, n int, ok bool) {
	dir, file := p[:len(p)-len(path.Base(p))], path.Base(p)
	ext := path.Ext(file)
	stem := strings.TrimSuffix(file, ext)
	dot := strings.LastIndex(stem, ".s")
	if dot < 0 || len(stem)-dot != len(".s00of00") {
		return "", 0, 0, false
	}
	m := stem[dot:] // .sIIofNN
	if m[4:6] != "of" || !digits(m[2:4]) || !digits(m[6:8]) {
		return "", 0, 0, false
	}
	i, n = int(m[2]-'0')*10+int(m[3]-'0'), int(m[6]-'0')*10+int(m[7]-'0')
	if StripePath(dir+stem[:dot]+ext, i, n) != p || i < 2 || i > n || n > MaxStripes {
		return "", 0, 0, false
	}
	return dir + stem[:dot] + ext, i, n, true
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
