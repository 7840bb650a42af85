package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Style controls human rendering.
type Style struct {
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

func (s Style) paint(code, text string) string {
	if !s.Color {
		return text
	}
	return code + text + ansiReset
}

// symbol and color per action kind; the switch is exhaustive by design.
func (s Style) symbol(k ActionKind) string {
	switch k {
	case BackupFull, BackupLog, Adopt:
		return s.paint(ansiGreen, "+")
	case Ship:
		return s.paint(ansiCyan, "→")
	case Verify:
		return s.paint(ansiCyan, "✓")
	case RestoreFull, RestoreLog:
		return s.paint(ansiYellow, "↻")
	case Record:
		return s.paint(ansiYellow, "=")
	case Prune:
		return s.paint(ansiRed, "-")
	case Promote:
		return s.paint(ansiRed, "!")
	}
	return "?"
}

// Verb is how an action reads in a sentence.
func (a *Action) Verb() string {
	w := a.words()
	switch a.Kind {
	case BackupFull:
		return w.backupFull
	case BackupLog:
		if a.TailLog {
			return w.backupTail
		}
		return w.backupLog
	case Adopt:
		return "adopt " + a.Artifact
	case Ship:
		return "ship " + a.subject()
	case Verify:
		return "verify " + a.subject()
	case RestoreFull:
		s := w.restoreFull + a.subject() + w.mode(a.Kind, a.Mode)
		if a.Replace {
			s += w.replace
		}
		return s
	case RestoreLog:
		return w.restoreLog + a.subject() + w.mode(a.Kind, a.Mode)
	case Record:
		return "record restored through " + a.Artifact
	case Prune:
		return "prune " + a.subject()
	case Promote:
		switch a.Mode {
		case PromotePlanned:
			return w.promotePlanned
		case PromoteRecorded:
			return "promote (record)"
		case PromoteUnplanned:
			return w.promoteFailover
		}
		return "promote"
	}
	return a.Kind.String()
}

func (a *Action) subject() string {
	if a.Artifact != "" {
		return a.Artifact
	}
	if k := a.words().kinds[a.ArtifactKind]; k != "" {
		return "(new " + k + " backup)"
	}
	return "(new " + string(a.ArtifactKind) + " backup)"
}

// Summary is the one-line count of a plan's actions.
func (p *Plan) Summary() string {
	c := p.Counts()
	part := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	return fmt.Sprintf("Plan: %s, %s, %s, %s, %s.",
		part(c[BackupFull]+c[BackupLog], "backup", "backups"),
		part(c[Ship], "ship", "ships"),
		part(c[Verify], "verify", "verifies"),
		part(c[RestoreFull]+c[RestoreLog], "restore", "restores"),
		part(c[Prune], "prune", "prunes"))
}

// WriteHuman renders the plan for a person: grouped per primary, database
// and target, each action with its reason, then problems, RPO and a summary.
func WriteHuman(w io.Writer, p *Plan, s Style) error {
	ew := &errWriter{w: w}
	if !p.Refreshed {
		ew.printf("%s\n\n", s.paint(ansiYellow, "Note: planned from the state file alone (-refresh=false); the servers and storage were not asked."))
	}
	writeReview(ew, p, s)
	switch {
	case !p.HasChanges() && p.HasErrors():
		ew.printf("%s\n", s.paint(ansiRed, "No actions can be planned for what drsctl could not observe or decide; see the errors below."))
	case !p.HasChanges():
		ew.printf("%s\n", s.paint(ansiGreen, "No changes. Every target is up to date with what is due."))
	default:
		ew.printf("drsctl will perform the following actions:\n")
		type group struct {
			key     string
			actions []*Action
		}
		var groups []*group
		byKey := map[string]*group{}
		for _, a := range p.Actions {
			k := a.Primary + "\x00" + a.Database
			g := byKey[k]
			if g == nil {
				g = &group{key: k}
				byKey[k] = g
				groups = append(groups, g)
			}
			g.actions = append(g.actions, a)
		}
		// One column for reasons, as wide as the longest verb needs (capped).
		width := 20
		for _, a := range p.Actions {
			n := utf8.RuneCountInString(a.Verb())
			if a.Target != "" {
				n += 2
			}
			if n > width {
				width = n
			}
		}
		if width > 64 {
			width = 64
		}
		for _, g := range groups {
			first := g.actions[0]
			ew.printf("\n%s\n", s.paint(ansiBold, fmt.Sprintf("primary %q database %q", first.Primary, first.Database)))
			var targets []string
			perTarget := map[string][]*Action{}
			for _, a := range g.actions {
				if a.Target == "" {
					ew.printf("  %s %-*s  %s\n", s.symbol(a.Kind), width, a.Verb(), a.Reason)
					continue
				}
				if _, ok := perTarget[a.Target]; !ok {
					targets = append(targets, a.Target)
				}
				perTarget[a.Target] = append(perTarget[a.Target], a)
			}
			for _, t := range targets {
				ew.printf("  target %q\n", t)
				for _, a := range perTarget[t] {
					ew.printf("    %s %-*s  %s\n", s.symbol(a.Kind), width-2, a.Verb(), a.Reason)
				}
			}
		}
	}
	for _, pr := range p.Problems {
		label := s.paint(ansiYellow, "Warning:")
		if pr.Severity == Error {
			label = s.paint(ansiRed, "Error:")
		}
		ew.printf("\n%s %s\n", label, pr.Summary)
		if where := pr.where(); where != "" {
			ew.printf("  %s\n", where)
		}
		for _, line := range strings.Split(strings.TrimSpace(pr.Detail), "\n") {
			if line != "" {
				ew.printf("  %s\n", line)
			}
		}
	}
	if len(p.RPO) > 0 {
		ew.printf("\nRPO:\n")
		rows := append([]RPOStatus(nil), p.RPO...)
		sort.SliceStable(rows, func(i, j int) bool {
			if rows[i].Target != rows[j].Target {
				return rows[i].Target < rows[j].Target
			}
			return rows[i].Database < rows[j].Database
		})
		for _, r := range rows {
			ew.printf("  %-16s %-20s %s\n", r.Target, r.Database, r.describe(s))
		}
	}
	ew.printf("\n%s\n", s.paint(ansiBold, p.Summary()))
	return ew.err
}

// writeReview says what the configuration causes apart from routine
// work: with a base configuration always, otherwise when it causes any.
func writeReview(ew *errWriter, p *Plan, s Style) {
	r := p.Review
	if r == nil || !r.Base && !p.HasConfigChanges() {
		return
	}
	if !p.HasConfigChanges() {
		ew.printf("%s\n", s.paint(ansiGreen, "The configuration change causes no actions and changes nothing drsctl does."))
	} else {
		ew.printf("%s\n", s.paint(ansiBold, "Changes the configuration causes:"))
		for _, l := range r.Settings {
			ew.printf("  ~ %s\n", l)
		}
		for _, l := range r.Causes {
			ew.printf("  + %s\n", l)
		}
		for _, l := range r.Stopped {
			ew.printf("  - no longer planned: %s\n", l)
		}
	}
	if r.Routine > 0 {
		ew.printf("Routine work, due whatever the configuration: %d action(s) (backups, ships, verifies, restores, prunes as before).\n", r.Routine)
	}
	ew.printf("\n")
}

func (pr Problem) where() string {
	var parts []string
	if pr.Primary != "" {
		parts = append(parts, fmt.Sprintf("primary %q", pr.Primary))
	}
	if pr.Database != "" {
		parts = append(parts, fmt.Sprintf("database %q", pr.Database))
	}
	if pr.Target != "" {
		parts = append(parts, fmt.Sprintf("target %q", pr.Target))
	}
	return strings.Join(parts, ", ")
}

func (r RPOStatus) describe(s Style) string {
	limit := "limit " + fmtDur(r.Limit)
	if r.Unknown != "" {
		text := "nothing restored or shipped yet"
		if !r.Through.IsZero() {
			text = fmt.Sprintf("ledger says %s behind, through %s", fmtDur(r.Lag), r.Artifact)
		}
		return s.paint(ansiRed, "UNKNOWN") + " " + text + " (" + limit + "): " + r.Unknown
	}
	window := ""
	if r.Window != "" {
		window = "; " + r.Window
	}
	if r.Through.IsZero() {
		return s.paint(ansiRed, "BREACH") + "  nothing restored or shipped yet (" + limit + ")" + window
	}
	text := fmt.Sprintf("%s behind, through %s (%s)%s", fmtDur(r.Lag), r.Artifact, limit, window)
	if r.Breach {
		return s.paint(ansiRed, "BREACH") + "  " + text
	}
	return s.paint(ansiGreen, "ok") + "      " + text
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

// Message is one line of the -json stream (newline-delimited JSON), shaped
// like Terraform's machine-readable UI: every message has @level, @message,
// @timestamp and type.
type Message map[string]any

// NewMessage builds a message of the given type.
func NewMessage(level, typ, text string, now time.Time) Message {
	return Message{"@level": level, "@message": text, "@timestamp": now.UTC().Format(time.RFC3339Nano), "type": typ}
}

// WriteJSON renders the plan as newline-delimited JSON messages: a version
// header, one planned_action per action, one diagnostic per problem, one
// rpo per target database, and a change_summary.
func WriteJSON(w io.Writer, p *Plan, version string) error {
	enc := json.NewEncoder(w)
	ts := p.CreatedAt
	msgs := []Message{VersionMessage(version, ts)}
	for _, a := range p.Actions {
		m := NewMessage("info", "planned_action", a.Describe(), ts)
		m["action"] = a
		msgs = append(msgs, m)
	}
	for _, pr := range p.Problems {
		m := NewMessage(string(pr.Severity), "diagnostic", pr.Summary, ts)
		m["diagnostic"] = pr
		msgs = append(msgs, m)
	}
	for _, r := range p.RPO {
		m := NewMessage("info", "rpo", fmt.Sprintf("%s/%s: %s behind", r.Target, r.Database, fmtDur(r.Lag)), ts)
		view := map[string]any{"target": r.Target, "primary": r.Primary, "database": r.Database,
			"limit_seconds": int64(r.Limit / time.Second), "lag_seconds": int64(r.Lag / time.Second), "breach": r.Breach}
		if r.Unknown != "" {
			view["unknown"] = r.Unknown
		}
		if r.Window != "" {
			view["window"] = r.Window
		}
		if !r.Through.IsZero() {
			view["through"] = r.Through
			view["artifact"] = r.Artifact
		}
		m["rpo"] = view
		msgs = append(msgs, m)
	}
	if p.Review != nil {
		text := "the configuration causes no actions"
		if p.HasConfigChanges() {
			text = "the configuration causes changes"
		}
		m := NewMessage("info", "review", text, ts)
		m["review"] = p.Review
		m["configuration_changes"] = p.HasConfigChanges()
		msgs = append(msgs, m)
	}
	counts := map[string]int{"total": len(p.Actions)}
	for k, n := range p.Counts() {
		counts[k.String()] = n
	}
	m := NewMessage("info", "change_summary", p.Summary(), ts)
	m["changes"] = counts
	m["errors"] = p.HasErrors()
	msgs = append(msgs, m)
	for _, m := range msgs {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return nil
}

// VersionMessage is the first message of every -json stream.
func VersionMessage(version string, now time.Time) Message {
	m := NewMessage("info", "version", "drsctl "+version, now)
	m["drsctl"] = version
	m["ui"] = FormatVersion
	return m
}
