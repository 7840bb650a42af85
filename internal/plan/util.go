package plan

import (
	"fmt"
	"strings"
	"time"
)

func actionID(k ActionKind, primary, db, target, art string) string {
	var sb strings.Builder
	sb.WriteString(k.String())
	sb.WriteString(":")
	sb.WriteString(primary)
	sb.WriteString("/")
	sb.WriteString(db)
	if target != "" {
		sb.WriteString("@")
		sb.WriteString(target)
	}
	if art != "" {
		sb.WriteString("#")
		sb.WriteString(art)
	}
	return sb.String()
}

// keyFromServerPath maps a path the server wrote to (as its history records
// it) back to a key in the backup folder whose server_path is base; ok is
// false when the path is not under the folder. Windows paths compare
// case-insensitively.
func keyFromServerPath(base, p string) (string, bool) {
	if base == "" || p == "" {
		return "", false
	}
	win := strings.Contains(base, `\`) || (len(base) > 1 && base[1] == ':')
	norm := func(s string) string {
		s = strings.ReplaceAll(s, `\`, "/")
		if win {
			s = strings.ToLower(s)
		}
		return strings.TrimRight(s, "/")
	}
	nb := norm(base)
	np := strings.ReplaceAll(p, `\`, "/")
	if !strings.HasPrefix(norm(np), nb+"/") {
		return "", false
	}
	return strings.TrimLeft(np[len(nb):], "/"), true
}

func quoteIdent(s string) string { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func appendUnique(xs []string, s string) []string {
	for _, x := range xs {
		if x == s {
			return xs
		}
	}
	return append(xs, s)
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// FormatDuration prints a duration the way the configuration writes them
// (90s, 15m, 2h30m, 7d).
func FormatDuration(d time.Duration) string { return fmtDur(d) }

func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour:
		d = d.Round(time.Minute)
		h, m := d/time.Hour, (d%time.Hour)/time.Minute
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	case d >= time.Minute:
		d = d.Round(time.Second)
		m, s := d/time.Minute, (d%time.Minute)/time.Second
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, s)
	default:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	}
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
