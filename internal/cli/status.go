package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// StatusOptions are status's flags.
type StatusOptions struct {
	JSON   bool
	Format string // "" (human) or "prometheus"
	Check  bool
}

// statusReport is everything status shows, read from the configuration and
// the ledger alone (no server is asked, so monitoring can run it often).
type statusReport struct {
	now     time.Time
	backups []plan.BackupHealth
	targets []targetRow
}

// targetRow is one target database: its RPO (nil when promoted: the
// planner measures no RPO for a database that gets no more restores) and
// its health.
type targetRow struct {
	plan.TargetHealth
	rpo *plan.RPOStatus
}

// counts is what status -check counts: each is a reason to exit 2.
type counts struct{ breaches, backupAlerts, restoreAlerts, drillAlerts int }

func (c counts) any() bool { return c.breaches+c.backupAlerts+c.restoreAlerts+c.drillAlerts > 0 }

func (c counts) String() string {
	var parts []string
	add := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(c.breaches, "RPO breach", "RPO breaches")
	add(c.backupAlerts, "log backup alert", "log backup alerts")
	add(c.restoreAlerts, "restore alert", "restore alerts")
	add(c.drillAlerts, "drill alert", "drill alerts")
	return strings.Join(parts, ", ")
}

func newStatusReport(cfg *config.Config, st *state.State, now time.Time) *statusReport {
	p := plan.Make(cfg, st, nil, now, plan.Options{})
	backups, health := plan.Health(cfg, st, now)
	r := &statusReport{now: now, backups: backups}
	for _, h := range health {
		row := targetRow{TargetHealth: h}
		for i := range p.RPO {
			if p.RPO[i].Target == h.Target && p.RPO[i].Database == h.Database {
				row.rpo = &p.RPO[i]
			}
		}
		r.targets = append(r.targets, row)
	}
	return r
}

func (r *statusReport) counts() counts {
	var c counts
	for _, b := range r.backups {
		if b.Alert {
			c.backupAlerts++
		}
	}
	for _, t := range r.targets {
		if t.rpo != nil && t.rpo.Breach {
			c.breaches++
		}
		if t.Alert {
			c.restoreAlerts++
		}
		if t.DrillAlert {
			c.drillAlerts++
		}
	}
	return c
}

// Status runs `drsctl status`: per primary database, how recently it was
// backed up; per target database, its RPO, how recently it was restored
// (shipped, for copy-only targets) and its last restore drill; from the
// ledger (fast, no servers asked), for people, monitoring and alerting.
// -check exits 2 on an RPO breach or any alert.
func (e *Env) Status(ctx context.Context, g Globals, o StatusOptions) int {
	cfg, st, code := e.configAndState(ctx, g)
	if st == nil {
		return code
	}
	r := newStatusReport(cfg, st, e.now())
	switch {
	case o.Format == "prometheus":
		writePrometheus(e.Stdout, r)
	case o.Format != "":
		return e.errorf("-format %q: the only format is prometheus", o.Format)
	case o.JSON:
		writeStatusJSON(e.Stdout, r)
	default:
		writeStatusHuman(e.Stdout, r)
	}
	if c := r.counts(); o.Check && c.any() {
		// Cron mail and CI logs show stderr: say why the check failed even
		// when stdout is JSON or metrics.
		fmt.Fprintf(e.Stderr, "status -check: %s.\n", c)
		return ExitChanges
	}
	return ExitOK
}

// ago renders a past instant relative to now ("never" when zero).
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d >= 48*time.Hour {
		// Drills run weekly or monthly: days read better than 168h.
		return fmt.Sprintf("%dd ago", d/(24*time.Hour))
	}
	return plan.FormatDuration(d) + " ago"
}

func writeStatusHuman(w io.Writer, r *statusReport) {
	if len(r.backups) > 0 {
		fmt.Fprintf(w, "%-16s %-20s %-12s %-12s %s\n", "PRIMARY", "DATABASE", "LAST BACKUP", "ALERT AFTER", "STATUS")
		for _, b := range r.backups {
			status := "ok"
			if b.Alert {
				status = "ALERT"
			}
			fmt.Fprintf(w, "%-16s %-20s %-12s %-12s %s\n", b.Primary, b.Database, ago(r.now, b.Last), alertAfter(b.AlertAfter), status)
		}
		fmt.Fprintln(w)
	}
	if len(r.targets) == 0 {
		fmt.Fprintln(w, "No targets are configured.")
	}
	fmt.Fprintf(w, "%-16s %-20s %-8s %-10s %-8s %-16s %-18s %s\n", "TARGET", "DATABASE", "RPO", "LAG", "STATUS", "RESTORED", "DRILL", "THROUGH")
	for _, t := range r.targets {
		rpo, lag, status, through := "-", "-", "promoted", ""
		if t.PromotedAt != nil {
			through = fmt.Sprintf("promoted %s (%s)", ago(r.now, *t.PromotedAt), t.PromotedHow)
		}
		if t.rpo != nil {
			rpo, lag, status, through = plan.FormatDuration(t.rpo.Limit), plan.FormatDuration(t.rpo.Lag), "ok", t.rpo.Artifact
			if t.rpo.Breach {
				status = "BREACH"
			}
			if t.rpo.Through.IsZero() {
				lag, through = "-", "nothing yet"
			}
			if t.rpo.Window != "" {
				through += "; " + t.rpo.Window
			}
		}
		restored := "-"
		if t.PromotedAt == nil {
			restored = ago(r.now, t.Last)
			if t.Kind == config.CopyOnly {
				restored = "shipped " + restored
			}
			if t.Alert {
				restored = "ALERT " + restored
			}
		}
		fmt.Fprintf(w, "%-16s %-20s %-8s %-10s %-8s %-16s %-18s %s\n", t.Target, t.Database, rpo, lag, status, restored, drillCell(r.now, t.TargetHealth), through)
	}
	var replay []string
	for _, t := range r.targets {
		if !t.Replayed.IsZero() {
			replay = append(replay, fmt.Sprintf("%-16s %-20s %-14s %s", t.Target, t.Database, t.Replayed.PostgresText(), plan.FormatBytes(t.Unreplayed)))
		}
	}
	if len(replay) > 0 {
		fmt.Fprintf(w, "\nPostgreSQL standbys (replay confirmed by pg_last_wal_replay_lsn; WAL backed up and not yet replayed):\n")
		fmt.Fprintf(w, "%-16s %-20s %-14s %s\n", "TARGET", "DATABASE", "REPLAYED", "NOT YET REPLAYED")
		for _, l := range replay {
			fmt.Fprintln(w, l)
		}
	}
	var notes []string
	for _, b := range r.backups {
		if b.Alert {
			why := "no backup yet"
			if !b.Last.IsZero() {
				why = fmt.Sprintf("no backup for %s, the newest is %s", plan.FormatDuration(b.Age), b.Artifact)
			}
			notes = append(notes, fmt.Sprintf("primary %q database %q: %s (alert after %s)", b.Primary, b.Database, why, plan.FormatDuration(b.AlertAfter)))
		}
	}
	for _, t := range r.targets {
		if t.Alert {
			verb := "restored"
			if t.Kind == config.CopyOnly {
				verb = "shipped"
			}
			notes = append(notes, fmt.Sprintf("target %q database %q: a backup has waited %s to be %s, last %s %s (alert after %s)",
				t.Target, t.Database, plan.FormatDuration(t.Overdue), verb, verb, ago(r.now, t.Last), plan.FormatDuration(t.AlertAfter)))
		}
		if t.DrillAlert {
			notes = append(notes, fmt.Sprintf("target %q database %q: no drill passed in %s (last passed %s)",
				t.Target, t.Database, plan.FormatDuration(t.DrillAlertAfter), agoPtr(r.now, t.DrillOKAt)))
		}
	}
	// A failed drill is shown with its cause but is not an alert of its
	// own: drill_alert_after says how long one may go without a pass.
	var failed []string
	for _, t := range r.targets {
		if d := t.LastDrill; d != nil && !d.OK {
			failed = append(failed, fmt.Sprintf("target %q database %q, %s: %s", t.Target, t.Database, ago(r.now, d.At), d.Error))
		}
	}
	for _, sec := range []struct {
		title string
		lines []string
	}{{"Alerts", notes}, {"Failed drills", failed}} {
		if len(sec.lines) > 0 {
			fmt.Fprintf(w, "\n%s:\n", sec.title)
			for _, n := range sec.lines {
				fmt.Fprintln(w, "  "+n)
			}
		}
	}
}

func alertAfter(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return plan.FormatDuration(d)
}

func agoPtr(now time.Time, t *time.Time) string {
	if t == nil {
		return "never"
	}
	return ago(now, *t)
}

// drillCell is the DRILL column: the last drill's result and age.
func drillCell(now time.Time, h plan.TargetHealth) string {
	if h.Kind == config.CopyOnly {
		return "-" // nothing to restore a drill on
	}
	s := "never"
	if d := h.LastDrill; d != nil {
		s = "FAILED " + ago(now, d.At)
		if d.OK {
			s = "ok " + ago(now, d.At)
		}
	}
	if h.DrillAlert {
		s = "ALERT " + s
	}
	return s
}

// timeOrNil renders an optional instant for JSON: null when zero.
func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func writeStatusJSON(w io.Writer, r *statusReport) {
	enc := json.NewEncoder(w)
	for _, b := range r.backups {
		m := plan.NewMessage("info", "backup", fmt.Sprintf("%s/%s", b.Primary, b.Database), r.now)
		m["backup"] = map[string]any{"primary": b.Primary, "database": b.Database, "last": timeOrNil(b.Last), "artifact": b.Artifact,
			"age_seconds": int64(b.Age / time.Second), "alert_after_seconds": int64(b.AlertAfter / time.Second), "alert": b.Alert}
		enc.Encode(m)
	}
	for _, t := range r.targets {
		m := plan.NewMessage("info", "rpo", fmt.Sprintf("%s/%s", t.Target, t.Database), r.now)
		row := map[string]any{"target": t.Target, "primary": t.Primary, "database": t.Database, "kind": t.Kind}
		if t.rpo != nil {
			row["through"], row["artifact"], row["breach"] = t.rpo.Through, t.rpo.Artifact, t.rpo.Breach
			row["lag_seconds"], row["limit_seconds"] = int64(t.rpo.Lag/time.Second), int64(t.rpo.Limit/time.Second)
			if t.rpo.Window != "" {
				row["window"] = t.rpo.Window
			}
		}
		if t.PromotedAt != nil {
			row["promoted"] = map[string]any{"at": t.PromotedAt.UTC(), "how": t.PromotedHow}
		} else {
			// For a copy_only target, "last" is the newest ship.
			row["restore"] = map[string]any{"last": timeOrNil(t.Last), "waiting_since": timeOrNil(t.Waiting),
				"overdue_seconds": int64(t.Overdue / time.Second), "alert_after_seconds": int64(t.AlertAfter / time.Second), "alert": t.Alert}
		}
		if t.Kind == config.Standby {
			drill := map[string]any{"last": nil, "ok_at": nil, "alert_after_seconds": int64(t.DrillAlertAfter / time.Second), "alert": t.DrillAlert}
			if d := t.LastDrill; d != nil {
				drill["last"] = map[string]any{"at": d.At.UTC(), "duration_seconds": d.Duration.Seconds(), "artifact": d.Artifact,
					"through": timeOrNil(d.Through), "stop_at": timeOrNil(d.StopAt), "ok": d.OK, "check": d.Check, "error": d.Error}
			}
			if t.DrillOKAt != nil {
				drill["ok_at"] = t.DrillOKAt.UTC()
			}
			row["drill"] = drill
		}
		if !t.Replayed.IsZero() {
			row["replayed_lsn"], row["unreplayed_bytes"] = t.Replayed.PostgresText(), t.Unreplayed
		}
		m["rpo"] = row
		enc.Encode(m)
	}
}

// Prometheus text exposition format: label values escape \, " and newline
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
var promLabelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

type promSample struct {
	labels []string // the values of the family's Labels, in order
	value  float64
}

// promFamily writes one gauge: HELP, TYPE, then its samples, so every
// family appears once and whole, as the format requires.
func promFamily(w io.Writer, m PromMetric, samples []promSample) {
	name := m.Name
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, m.Help, name)
	for _, s := range samples {
		var b strings.Builder
		b.WriteString(name)
		b.WriteByte('{')
		for i, l := range m.Labels {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=\"%s\"", l, promLabelEscaper.Replace(s.labels[i]))
		}
		b.WriteString("} ")
		b.WriteString(strconv.FormatFloat(s.value, 'f', -1, 64))
		fmt.Fprintln(w, b.String())
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixOr0(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

func writePrometheus(w io.Writer, r *statusReport) {
	type rowFn func(targetRow) (float64, bool)
	targetFamily := func(m PromMetric, f rowFn) {
		var ss []promSample
		for _, t := range r.targets {
			if v, ok := f(t); ok {
				ss = append(ss, promSample{labels: []string{t.Target, t.Primary, t.Database}, value: v}) // targetLabels
			}
		}
		promFamily(w, m, ss)
	}
	backupFamily := func(m PromMetric, f func(plan.BackupHealth) float64) {
		var ss []promSample
		for _, b := range r.backups {
			ss = append(ss, promSample{labels: []string{b.Primary, b.Database}, value: f(b)}) // backupLabels
		}
		promFamily(w, m, ss)
	}
	rpo := func(f func(*plan.RPOStatus) float64) rowFn {
		return func(t targetRow) (float64, bool) {
			if t.rpo == nil {
				return 0, false // promoted: no RPO
			}
			return f(t.rpo), true
		}
	}
	targetFamily(promRPOLag, rpo(func(r *plan.RPOStatus) float64 {
		if r.Through.IsZero() {
			return -1
		}
		return r.Lag.Seconds()
	}))
	targetFamily(promRPOLimit, rpo(func(r *plan.RPOStatus) float64 { return r.Limit.Seconds() }))
	targetFamily(promRPOBreach, rpo(func(r *plan.RPOStatus) float64 { return bool01(r.Breach) }))
	targetFamily(promPromoted, func(t targetRow) (float64, bool) {
		return bool01(t.PromotedAt != nil), true
	})

	backupFamily(promBackupAge, func(b plan.BackupHealth) float64 {
		if b.Last.IsZero() {
			return -1
		}
		return b.Age.Seconds()
	})
	backupFamily(promBackupAlertAfter, func(b plan.BackupHealth) float64 {
		return b.AlertAfter.Seconds()
	})
	backupFamily(promBackupAlert, func(b plan.BackupHealth) float64 { return bool01(b.Alert) })

	served := func(f func(targetRow) float64) rowFn {
		return func(t targetRow) (float64, bool) {
			if t.PromotedAt != nil {
				return 0, false
			}
			return f(t), true
		}
	}
	targetFamily(promRestoreAge, served(func(t targetRow) float64 {
		if t.Last.IsZero() {
			return -1
		}
		return r.now.Sub(t.Last).Seconds()
	}))
	targetFamily(promRestoreOverdue, served(func(t targetRow) float64 {
		return t.Overdue.Seconds()
	}))
	targetFamily(promRestoreAlertAfter, served(func(t targetRow) float64 {
		return t.AlertAfter.Seconds()
	}))
	targetFamily(promRestoreAlert, served(func(t targetRow) float64 { return bool01(t.Alert) }))

	drilled := func(f func(targetRow) float64) rowFn {
		return func(t targetRow) (float64, bool) {
			if t.Kind != config.Standby {
				return 0, false // no server to drill on
			}
			return f(t), true
		}
	}
	last := func(t targetRow) state.Drill {
		if t.LastDrill == nil {
			return state.Drill{}
		}
		return *t.LastDrill
	}
	targetFamily(promDrillLast, drilled(func(t targetRow) float64 { return unixOr0(last(t).At) }))
	targetFamily(promDrillLastSuccess, drilled(func(t targetRow) float64 {
		if t.DrillOKAt == nil {
			return 0
		}
		return unixOr0(*t.DrillOKAt)
	}))
	targetFamily(promDrillLastOK, drilled(func(t targetRow) float64 { return bool01(last(t).OK) }))
	targetFamily(promDrillDuration, drilled(func(t targetRow) float64 { return last(t).Duration.Seconds() }))
	targetFamily(promDrillAlert, drilled(func(t targetRow) float64 { return bool01(t.DrillAlert) }))
}
