package config

import (
	"fmt"
	"net/url"

	"github.com/hashicorp/hcl/v2"
)

// EnginePostgres is the engine name of PostgreSQL primaries.
const EnginePostgres = "postgres"

// ClusterDatabase is the one "database" of a PostgreSQL primary: drsctl
// protects a PostgreSQL cluster as a whole (a base backup and the WAL are
// the cluster's, not a database's), and plans, the ledger and file names
// call it by this name.
const ClusterDatabase = "cluster"

// checkPostgresPrimary refuses what a PostgreSQL primary cannot mean.
func checkPostgresPrimary(attrs hcl.Attributes) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if attr := attrs["databases"]; attr != nil {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "databases on a PostgreSQL primary",
			Detail:   fmt.Sprintf("A PostgreSQL primary is protected as a whole cluster: its base backups and WAL hold every database, and a standby is a copy of the cluster. Remove databases; plans and the ledger call the cluster %q.", ClusterDatabase),
			Subject:  attr.NameRange.Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}
	for _, name := range []string{"credential", "compression"} {
		if attr := attrs[name]; attr != nil {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  name + " on a PostgreSQL primary",
				Detail:   fmt.Sprintf("%s is a SQL Server setting. drsctl carries PostgreSQL backups itself: base backups are stored as the server sends them and WAL is always compressed. Remove %s.", name, name),
				Subject:  attr.NameRange.Ptr(),
				Context:  attr.Range.Ptr(),
			})
		}
	}
	return diags
}

// checkPostgresTarget checks a target of a PostgreSQL primary: a standby
// is a cluster drsctl builds and runs from data_dir on the host drsctl
// runs on, always a hot standby (readable between restores).
func checkPostgresTarget(d *targetDecl, pd *primaryDecl) hcl.Diagnostics {
	if pd.Primary.Engine != EnginePostgres {
		return nil
	}
	var diags hcl.Diagnostics
	t := d.Target
	refuse := func(name, detail string) {
		if attr := d.Attrs[name]; attr != nil {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  name + " on a PostgreSQL target",
				Detail:   detail,
				Subject:  attr.NameRange.Ptr(),
				Context:  attr.Range.Ptr(),
			})
		}
	}
	refuse("databases", "A PostgreSQL standby is a copy of the whole cluster. Remove databases.")
	refuse("log_dir", "A PostgreSQL standby keeps its WAL in data_dir. Remove log_dir.")
	refuse("disconnect_users", "Readers never block a PostgreSQL standby's replay or promotion (max_standby_archive_delay decides what replay does to long queries). Remove disconnect_users.")
	if !t.Restores() {
		return diags
	}
	if attr := d.Attrs["restore_mode"]; attr != nil && t.RestoreMode == RestoreNoRecovery {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "restore_mode norecovery on a PostgreSQL target",
			Detail:   `A PostgreSQL standby built by drsctl is a hot standby: readable between restores, which is how drsctl confirms what it replayed. Write restore_mode = "standby", or omit it.`,
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}
	t.RestoreMode = RestoreStandby
	if t.DataDir == "" && d.Attrs["data_dir"] == nil {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing data_dir on a PostgreSQL target",
			Detail:   `A PostgreSQL standby runs from a data directory on the host drsctl runs on: drsctl unpacks the base backup there, starts the cluster and feeds it WAL. Set data_dir = "/var/lib/postgresql/15/dr" (an empty or missing directory; drsctl never builds over a cluster it did not create), and run drsctl for this target on that host (drsctl apply -target NAME).`,
			Subject:  t.DeclRange.Ptr(),
		})
	}
	return diags
}

// checkPostgresConnection refuses a libpq connection string drsctl would
// misread. A password may come with it (from env(), like any connection)
// or from PGPASSWORD or a password file; it is a secret either way.
func checkPostgresConnection(v string, bad func(summary, detail string) *hcl.Diagnostic) *hcl.Diagnostic {
	const forms = "postgres://USER@HOST:PORT/postgres?sslmode=… (the password from PGPASSWORD or ~/.pgpass)"
	m := dsnScheme.FindStringSubmatch(v)
	if m == nil {
		return nil // key=value form
	}
	if m[1] != "postgres" && m[1] != "postgresql" {
		return bad("Unsupported connection string scheme", fmt.Sprintf("A PostgreSQL connection string starts with postgres:// or postgresql://, not %s://. Write %s.", m[1], forms))
	}
	u, err := url.Parse(v)
	if err != nil {
		return bad("Invalid connection string", "The connection string starts with "+m[1]+":// but is not a URL (a character may need escaping, such as %40 for @). Write "+forms+".")
	}
	if u.Query().Has("replication") {
		return bad("replication in connection string", "drsctl opens replication connections itself where it needs them. Remove the replication parameter.")
	}
	if msg := portProblem(u); msg != "" {
		return bad("Invalid port", fmt.Sprintf("The connection string has a %s.", msg))
	}
	return nil
}
