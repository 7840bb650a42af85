package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/drsctl/drsctl/internal/engine"
)

var _ engine.Advisor = (*session)(nil)

// Advise says what an operator should know before drsctl works on the
// server: for a primary, see advisePrimary; a standby has no advice yet.
func (s *session) Advise(ctx context.Context, req engine.AdviceRequest) []engine.Advice {
	if req.Primary {
		return s.advisePrimary(ctx)
	}
	return nil
}

// advisePrimary says what keeps a PostgreSQL primary from being protected,
// or from staying safe while it is: what the login may not do, what the
// server is not set up for, and a slot whose retention nothing bounds. It
// never fails: what it cannot check, it says so.
func (s *session) advisePrimary(ctx context.Context) []engine.Advice {
	c, err := s.sql(ctx)
	if err != nil {
		return []engine.Advice{{Summary: "cannot connect to the primary to check its settings", Detail: err.Error()}}
	}
	defer closeSQL(c)
	var (
		role                                    string
		super, repl, switchWAL, alterRO, signal bool
		walLevel                                string
		senders, maxSlots, slots                int
	)
	err = c.QueryRow(ctx, `SELECT current_user, r.rolsuper, r.rolreplication,
	has_function_privilege('pg_switch_wal()', 'EXECUTE'),
	has_parameter_privilege('default_transaction_read_only', 'ALTER SYSTEM'),
	pg_has_role('pg_signal_backend', 'MEMBER'),
	current_setting('wal_level'),
	current_setting('max_wal_senders')::int, current_setting('max_replication_slots')::int,
	(SELECT count(*) FROM pg_replication_slots WHERE slot_name <> $1)::int
	FROM pg_roles r WHERE r.rolname = current_user`, s.slot).Scan(&role, &super, &repl, &switchWAL, &alterRO, &signal, &walLevel, &senders, &maxSlots, &slots)
	if err != nil {
		return []engine.Advice{{Summary: "could not read the primary's settings and the login's privileges", Detail: err.Error()}}
	}
	var out []engine.Advice
	add := func(summary, detail string, args ...any) {
		out = append(out, engine.Advice{Summary: summary, Detail: fmt.Sprintf(detail, args...)})
	}
	if !super && !repl {
		add(fmt.Sprintf("role %q lacks REPLICATION: it cannot take base backups or WAL", role), "ALTER ROLE %q REPLICATION;", role)
	}
	if !super && !switchWAL {
		add(fmt.Sprintf("role %q cannot run pg_switch_wal(): a log backup cannot close the current WAL segment", role), "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO %q;", role)
	}
	if !super && !alterRO {
		add(fmt.Sprintf("role %q cannot make the primary read-only for a planned switchover", role), "GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO %q; GRANT EXECUTE ON FUNCTION pg_reload_conf() TO %q;", role, role)
	}
	if !super && !signal {
		add(fmt.Sprintf("role %q cannot end other sessions when a planned switchover disconnects users", role), "GRANT pg_signal_backend TO %q;", role)
	}
	if walLevel == "minimal" {
		add("wal_level is minimal: the primary's WAL cannot rebuild a standby", "ALTER SYSTEM SET wal_level = replica; then restart the server")
	}
	if senders < 1 {
		add("max_wal_senders is 0: no replication connection is possible", "ALTER SYSTEM SET max_wal_senders = 10; then restart the server")
	}
	if slots >= maxSlots {
		add(fmt.Sprintf("max_replication_slots (%d) leaves no slot free for drsctl's (%d in use by others)", maxSlots, slots), "ALTER SYSTEM SET max_replication_slots = %d; then restart the server", slots+1)
	}
	// An unbounded max_slot_wal_keep_size is said by the plan from
	// ObservePrimary's Retained, with what the slot holds now.
	out = append(out, s.otherSlots(ctx, c)...)
	if super || repl {
		rc, err := s.replication(ctx)
		if err == nil {
			_, err = pglogrepl.IdentifySystem(ctx, rc)
			closeRepl(rc)
		}
		if err != nil {
			add(fmt.Sprintf("the primary refuses a replication connection for role %q", role),
				"a replication=database connection is matched in pg_hba.conf by the database's lines (not \"replication\" ones) and needs a free WAL sender (max_wal_senders); the server said: %v", err)
		}
	}
	return out
}

// otherSlots names drsctl slots of other ledgers that hold WAL with no one
// streaming from them. Each ledger keeps its own slot (slotFor); a ledger
// rebuilt or started over, or a configuration removed, leaves its slot
// behind, and a slot nobody moves keeps every WAL segment from then on
// until the primary's disk is full — the failure the slot's bound exists
// for. drsctl does not drop it: another configuration may still use it.
func (s *session) otherSlots(ctx context.Context, c *pgx.Conn) []engine.Advice {
	rows, err := c.Query(ctx, `SELECT slot_name, coalesce((pg_current_wal_lsn() - restart_lsn)::bigint, 0)
	FROM pg_replication_slots
	WHERE slot_type = 'physical' AND NOT active AND slot_name <> $1 AND (slot_name = $2 OR slot_name LIKE $2 || '\_%')
	ORDER BY slot_name`, s.slot, SlotName)
	if err != nil {
		return []engine.Advice{{Summary: "could not list the primary's replication slots", Detail: err.Error()}}
	}
	defer rows.Close()
	var out []engine.Advice
	for rows.Next() {
		var name string
		var held int64
		if err := rows.Scan(&name, &held); err != nil {
			return append(out, engine.Advice{Summary: "could not list the primary's replication slots", Detail: err.Error()})
		}
		out = append(out, engine.Advice{
			Summary: fmt.Sprintf("replication slot %q, not this configuration's, holds WAL with nothing streaming from it", name),
			Detail: fmt.Sprintf("It holds %d MiB now. drsctl keeps one slot per ledger (this one's is %q); %q belongs to another drsctl configuration, or to a ledger since rebuilt or started over, and if none uses it, it keeps WAL until the primary's disk is full. If no configuration protects this primary through it, drop it: SELECT pg_drop_replication_slot('%s');",
				held>>20, s.slot, name, name),
		})
	}
	if err := rows.Err(); err != nil {
		return append(out, engine.Advice{Summary: "could not list the primary's replication slots", Detail: err.Error()})
	}
	return out
}
