package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

var restoreWindowSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "days"},
		{Name: "from"},
		{Name: "to"},
		{Name: "time_zone"},
	},
}

// decodeRestoreWindow decodes one `restore_window` block of a target. ok is
// false when the block has an error: the target then has no usable window,
// and checks that need one (the RPO it allows) are not made.
func (l *loader) decodeRestoreWindow(block *hcl.Block) (RestoreWindow, bool, hcl.Diagnostics) {
	w := RestoreWindow{Zone: DefaultTimeZone, Location: time.UTC, DeclRange: block.DefRange}
	content, diags := block.Body.Content(restoreWindowSchema)
	attrs := content.Attributes
	ok := !diags.HasErrors() // an unknown argument, say a misspelt time_zone
	bad := func(attr *hcl.Attribute, summary, detail string) {
		ok = false
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   detail,
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}

	// days: omitted means every day; an empty list is a mistake, not "never".
	if attr := attrs["days"]; attr != nil {
		items, set, ds := l.stringList(attr)
		diags = append(diags, ds...)
		switch {
		case ds.HasErrors():
			ok = false
		case set && len(items) == 0:
			bad(attr, "No days", `The argument "days" must list at least one day, such as ["mon-fri"]; omit it for every day.`)
		case set:
			for _, it := range items {
				days, err := parseDays(it.Value)
				if err != nil {
					ok = false
					diags = diags.Append(&hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid day",
						Detail:   err.Error(),
						Subject:  it.Range.Ptr(),
						Context:  attr.Range.Ptr(),
					})
					continue
				}
				for d, on := range days {
					w.Days[d] = w.Days[d] || on
				}
			}
		}
	} else {
		w.Days = [7]bool{true, true, true, true, true, true, true}
	}

	times := map[string]*int{"from": &w.From, "to": &w.To}
	timesOK := true
	for _, name := range []string{"from", "to"} {
		attr := attrs[name]
		s, set, ds := l.str(attr)
		diags = append(diags, ds...)
		if !set && !ds.HasErrors() {
			diags = diags.Append(missingAttr(name, block))
		}
		if !set || ds.HasErrors() {
			ok, timesOK = false, false
			continue
		}
		m, err := parseClock(s)
		if err != nil {
			timesOK = false
			bad(attr, "Invalid time of day", fmt.Sprintf("The argument %q: %s.", name, err))
			continue
		}
		*times[name] = m
	}
	if timesOK && w.From == w.To {
		bad(attrs["to"], "Empty restore window",
			fmt.Sprintf("The window opens and closes at %s: it is not clear whether it lasts no time or the whole day. For restores at any time, remove the restore_window block; otherwise give different times (a window may cross midnight, such as from = \"19:00\" to = \"07:00\").", clock(w.From)))
	}

	if attr := attrs["time_zone"]; attr != nil {
		zone, set, ds := l.nonEmptyStr(attr)
		diags = append(diags, ds...)
		switch {
		case ds.HasErrors():
			ok = false
		case !set:
		case zone == "Local" || strings.EqualFold(zone, "local"):
			// The plan is made in CI and applied by cron, perhaps on
			// machines set to different zones: the window must mean the
			// same hours everywhere.
			bad(attr, "Invalid time zone", `The time zone must be an IANA name such as "Europe/Berlin" or "UTC", not the machine's local zone: a plan made on one machine and applied on another must agree on the window.`)
		default:
			loc, err := time.LoadLocation(zone)
			if err != nil {
				bad(attr, "Unknown time zone", fmt.Sprintf("The time zone %q is not in the IANA time zone database; use a name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\" (names are case-sensitive).", zone))
			} else {
				w.Location, w.Zone = loc, zone
			}
		}
	}
	return w, ok, diags
}

// windowReferenceStart is where the longest closed stretch of a window is
// looked for during validation: a fixed year, so validate gives the same
// answer whatever the day it runs, and a whole one, so the stretches around
// both daylight saving changes are in it.
var windowReferenceStart = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

// checkWindowRPO warns when a target's restore windows alone make its
// primary's RPO unreachable: a standby's lag is measured on what it has
// restored, so by the time a window opens after its longest closed stretch
// the lag is at least that stretch, plus a log backup interval (the newest
// log may be that old when the window closes) and the restore delay.
func checkWindowRPO(d *targetDecl, p *Primary) hcl.Diagnostics {
	t := d.Target
	if len(t.RestoreWindows) == 0 || d.WindowRange == nil || !t.Restores() || p.RPO <= 0 {
		return nil
	}
	gap := t.RestoreWindows.LongestClosed(windowReferenceStart)
	closed := gap.End.Sub(gap.Start)
	worst := closed + p.LogBackup.Every + t.RestoreDelay
	if closed <= 0 || worst <= p.RPO {
		return nil
	}
	loc := t.RestoreWindows[0].Location
	stretch := fmt.Sprintf("%s, from %s to %s", formatDuration(closed),
		gap.Start.In(loc).Format("Mon 15:04"), gap.End.In(loc).Format("Mon 15:04 MST"))
	delay := ""
	if t.RestoreDelay > 0 {
		delay = fmt.Sprintf(" and restore_delay = %q", formatDuration(t.RestoreDelay))
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagWarning,
		Summary:  "Restore window makes the RPO unreachable",
		Detail: fmt.Sprintf("Target %q restores only inside its restore_window (%s). Its longest closed stretch is %s; with log backups every %s%s its lag reaches %s before the window opens again, beyond primary %q's rpo = %q, so it is in breach every time. Raise the rpo to at least %s, or widen the window (more days or longer hours).",
			t.Name, t.RestoreWindows, stretch, formatDuration(p.LogBackup.Every), delay, formatDuration(worst), p.Name, formatDuration(p.RPO), formatDuration(worst)),
		Subject: d.WindowRange.Ptr(),
	}}
}
