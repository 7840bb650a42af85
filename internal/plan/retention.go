package plan

import (
	"fmt"

	"github.com/drsctl/drsctl/internal/engine"
)

// retention warns about the log a primary keeps for drsctl (PostgreSQL's
// replication slot): the top complaint of log shipping on PostgreSQL is an
// archiver that stalls and lets pg_wal fill the primary's disk. Kept
// without a bound, a drsctl that stops running can take the primary down;
// with a bound, the server drops what drsctl has not taken and the chain
// restarts with a full backup (LogChain turns false) instead.
func (b *builder) retention(d *dbPlan, o *engine.PrimaryDatabase) {
	r := o.Retained
	if r == nil {
		return
	}
	switch {
	case r.Status == "unreserved":
		b.problem(Warning, d.p.Name, d.name, "", fmt.Sprintf("primary %q is about to drop WAL drsctl has not backed up (%s held)", d.p.Name, FormatBytes(r.Bytes)),
			"Its replication slot holds more than max_slot_wal_keep_size allows: at the next checkpoint the server drops it, and the next apply must take a new full backup and seed every standby again. Apply now, and find why log backups fell behind.")
		b.lasting("retention-unreserved:" + d.p.Name)
	case r.SafeBytes < 0:
		b.once("retention-unbounded:"+d.p.Name, Warning, d.p.Name, "", "", fmt.Sprintf("primary %q keeps WAL for drsctl without a bound (%s held now)", d.p.Name, FormatBytes(r.Bytes)),
			"drsctl's replication slot holds every WAL segment until a log backup takes it. If drsctl stops running (a broken cron, a lost runner), pg_wal grows until the primary's disk is full and it stops. Set max_slot_wal_keep_size on the primary (e.g. ALTER SYSTEM SET max_slot_wal_keep_size = '50GB'; SELECT pg_reload_conf();): past it the server drops the slot's WAL, and drsctl starts a new chain with a full backup instead.")
		b.lasting("retention-unbounded:" + d.p.Name)
	}
}
