package cli

// The metric families `status -format prometheus` writes. writePrometheus
// writes each family through these values, and the Grafana dashboard's test
// (examples/grafana, checked in cmd/drsctl) reads PrometheusMetrics, so a
// metric renamed here fails the dashboard's test instead of leaving a
// panel empty.

// PromMetric is one gauge family: its name, help and the names of the labels
// every sample carries, in the order written.
type PromMetric struct {
	Name   string
	Help   string
	Labels []string
}

var (
	// A target database's sample: which target, fed by which primary, which
	// database.
	targetLabels = []string{"target", "primary", "database"}
	// A primary database's sample.
	backupLabels = []string{"primary", "database"}
)

var (
	promRPOLag    = PromMetric{"drsctl_rpo_lag_seconds", "Seconds since the finish of the newest backup restored (standby) or shipped (copy_only); -1 when none.", targetLabels}
	promRPOLimit  = PromMetric{"drsctl_rpo_limit_seconds", "The configured RPO.", targetLabels}
	promRPOBreach = PromMetric{"drsctl_rpo_breach", "1 when the lag exceeds the RPO.", targetLabels}
	promPromoted  = PromMetric{"drsctl_promoted", "1 when the target database was promoted: it gets no more restores and has no RPO.", targetLabels}

	promBackupAge        = PromMetric{"drsctl_log_backup_age_seconds", "Seconds since the newest backup of the primary database finished; -1 when none.", backupLabels}
	promBackupAlertAfter = PromMetric{"drsctl_log_backup_alert_after_seconds", "Age of the newest backup beyond which drsctl_log_backup_alert is 1 (log_backup alert_after); 0 when it never alerts.", backupLabels}
	promBackupAlert      = PromMetric{"drsctl_log_backup_alert", "1 when the primary database has had no backup for longer than its threshold, or none at all.", backupLabels}

	promRestoreAge        = PromMetric{"drsctl_restore_age_seconds", "Seconds since the newest restore (standby) or ship (copy_only); -1 when none.", targetLabels}
	promRestoreOverdue    = PromMetric{"drsctl_restore_overdue_seconds", "Seconds a backup the target needs has waited past the newest restore (ship) and its restore_delay; 0 when nothing waits (an idle database never waits). The restore alert compares this to its threshold.", targetLabels}
	promRestoreAlertAfter = PromMetric{"drsctl_restore_alert_after_seconds", "Wait beyond which drsctl_restore_alert is 1 (restore_alert_after); 0 when it never alerts.", targetLabels}
	promRestoreAlert      = PromMetric{"drsctl_restore_alert", "1 when a backup has waited longer than the threshold to be restored (standby) or shipped (copy_only).", targetLabels}

	promDrillLast        = PromMetric{"drsctl_drill_last_timestamp_seconds", "Unix time of the last restore drill; 0 when never.", targetLabels}
	promDrillLastSuccess = PromMetric{"drsctl_drill_last_success_timestamp_seconds", "Unix time of the last restore drill that passed; 0 when never.", targetLabels}
	promDrillLastOK      = PromMetric{"drsctl_drill_last_ok", "1 when the last restore drill passed; 0 when it failed or there was none.", targetLabels}
	promDrillDuration    = PromMetric{"drsctl_drill_last_duration_seconds", "How long the last restore drill took; 0 when never.", targetLabels}
	promDrillAlert       = PromMetric{"drsctl_drill_alert", "1 when drill_alert_after is set and no drill passed within it.", targetLabels}
)

// prometheusMetrics is every family, in the order written.
var prometheusMetrics = []PromMetric{
	promRPOLag, promRPOLimit, promRPOBreach, promPromoted,
	promBackupAge, promBackupAlertAfter, promBackupAlert,
	promRestoreAge, promRestoreOverdue, promRestoreAlertAfter, promRestoreAlert,
	promDrillLast, promDrillLastSuccess, promDrillLastOK, promDrillDuration, promDrillAlert,
}

// PrometheusMetrics returns every metric family status -format prometheus
// writes (a copy: callers cannot change what the exporter writes).
func PrometheusMetrics() []PromMetric {
	out := make([]PromMetric, len(prometheusMetrics))
	for i, m := range prometheusMetrics {
		m.Labels = append([]string(nil), m.Labels...)
		out[i] = m
	}
	return out
}
