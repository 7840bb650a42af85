package config

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Monitoring thresholds, in the spirit of SQL Server log shipping's alerts
// 14420 (no log backup on the primary within its backup threshold) and
// 14421 (no restore on the secondary within its restore threshold). SQL
// Server's defaults are 60 and 45 minutes for 15-minute jobs; drsctl scales
// them with the schedule instead, so a primary backed up every minute is
// not left unwatched for an hour, nor one backed up hourly alerted between
// two backups.
const alertIntervals = 3

// LogBackupAlert is how long a database of this primary may go without a
// backup before status alerts: log_backup's alert_after, by default three
// log backup intervals. Zero means never.
func (p *Primary) LogBackupAlert() time.Duration {
	if p.LogBackup.AlertAfter != nil {
		return *p.LogBackup.AlertAfter
	}
	return alertIntervals * p.LogBackup.Every
}

// RestoreAlert is how long a backup may wait for this target (restored on a
// standby, shipped to a copy-only target) before status alerts:
// restore_alert_after, by default three of the primary's log backup
// intervals. The wait starts when the backup could first be restored (after
// restore_delay), so a delay needs no larger threshold. Zero means never.
func (t *Target) RestoreAlert() time.Duration {
	if t.RestoreAlertAfter != nil {
		return *t.RestoreAlertAfter
	}
	if t.Primary == nil {
		return 0
	}
	return alertIntervals * t.Primary.LogBackup.Every
}

// alertAfter decodes an alert threshold: a duration, zero to turn the alert
// off. every, when known (non-zero), is the interval the alert watches: a
// shorter threshold would alert between any two backups.
func (l *loader) alertAfter(attr *hcl.Attribute, every time.Duration) (*time.Duration, hcl.Diagnostics) {
	d, set, diags := l.duration(attr)
	if !set || diags.HasErrors() {
		return nil, diags
	}
	switch {
	case d < 0:
		return nil, diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Negative alert threshold",
			Detail:   fmt.Sprintf("The argument %q must be zero (never alert) or a positive duration.", attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
	case d > 0 && every > 0 && d < every:
		return nil, diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Alert threshold shorter than the interval",
			Detail: fmt.Sprintf("With %s = %q and backups every %s, status would alert between any two backups. Use at least the interval (the default is %d intervals: %s), or \"0s\" to never alert.",
				attr.Name, formatDuration(d), formatDuration(every), alertIntervals, formatDuration(alertIntervals*every)),
			Subject: attr.Expr.Range().Ptr(),
			Context: attr.Range.Ptr(),
		})
	}
	return &d, diags
}

// decodeTargetAlerts decodes a target's restore_alert_after and
// drill_alert_after. Drills restore on the standby's server, so a copy-only
// target has none to alert on.
func (l *loader) decodeTargetAlerts(t *Target, attrs hcl.Attributes, copyOnly bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	d, ds := l.alertAfter(attrs["restore_alert_after"], 0)
	diags = append(diags, ds...)
	t.RestoreAlertAfter = d
	attr := attrs["drill_alert_after"]
	d, ds = l.alertAfter(attr, 0)
	diags = append(diags, ds...)
	if d != nil {
		t.DrillAlertAfter = *d
	}
	if copyOnly && attr != nil {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "drill_alert_after on a copy_only target",
			Detail:   "A copy_only target has no server to run a restore drill on, so it can never have one. Remove drill_alert_after, or make the target kind = \"standby\".",
			Subject:  attr.NameRange.Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}
	return diags
}
