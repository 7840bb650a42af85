package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// primaryDecl is a decoded `primary` block with what the cross-block checks
// need: the unresolved backup_folder reference and each database's range.
type primaryDecl struct {
	Primary   *Primary
	NameRange hcl.Range
	FolderRef *reference // nil when missing or invalid
	// RPOAttr is the rpo attribute when it decoded to a positive duration.
	RPOAttr *hcl.Attribute
}

var primarySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "engine"},
		{Name: "connection"},
		{Name: "databases"},
		{Name: "backup_folder"},
		{Name: "rpo"},
		{Name: "compression"},
		{Name: "credential"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "full_backup"},
		{Type: "log_backup"},
	},
}

var scheduleSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "every"}},
}

// logScheduleSchema is log_backup's: it alone has an alert threshold, as
// SQL Server's log shipping alerts on log backups (14420), not on fulls.
var logScheduleSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "every"}, {Name: "alert_after"}},
}

// decodePrimary decodes a `primary "NAME"` block and checks what can be
// checked within it: required arguments, the engine, the databases, and how
// the backup intervals relate to each other and to the RPO.
func (l *loader) decodePrimary(block *hcl.Block) (*primaryDecl, hcl.Diagnostics) {
	p := &Primary{Name: block.Labels[0], DeclRange: block.DefRange}
	d := &primaryDecl{Primary: p, NameRange: block.LabelRanges[0]}
	diags := checkName(block)
	content, ds := block.Body.Content(primarySchema)
	diags = append(diags, ds...)
	attrs := content.Attributes

	engine, set, ds := l.nonEmptyStr(attrs["engine"])
	diags = append(diags, ds...)
	switch {
	case !set:
		diags = diags.Append(missingAttr("engine", block))
	case !ds.HasErrors() && l.engines != nil && !slices.Contains(l.engines, engine):
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported engine",
			Detail:   fmt.Sprintf("The engine %q is not supported; supported engines: %s.%s", engine, strings.Join(l.engines, ", "), didYouMean(engine, l.engines)),
			Subject:  attrs["engine"].Expr.Range().Ptr(),
			Context:  attrs["engine"].Range.Ptr(),
		})
	}
	p.Engine = engine

	p.Connection, diags = l.connection(attrs["connection"], block, true, diags)
	if bad := checkConnection(engine, p.Connection); bad != nil {
		diags = diags.Append(bad)
	}

	dbs, set, ds := l.stringList(attrs["databases"])
	diags = append(diags, ds...)
	if engine == EnginePostgres {
		// A PostgreSQL primary is protected as a whole cluster.
		diags = append(diags, checkPostgresPrimary(attrs)...)
		dbs = []item{{Value: ClusterDatabase}}
	} else if !set {
		diags = diags.Append(missingAttr("databases", block))
	} else if !ds.HasErrors() {
		diags = append(diags, checkDatabases(attrs["databases"], dbs)...)
		diags = append(diags, checkDatabaseNames(engine, attrs["databases"], dbs)...)
	}
	p.Databases = itemValues(dbs)

	d.FolderRef, ds = l.ref(attrs["backup_folder"], "backup_folder")
	diags = append(diags, ds...)
	if attrs["backup_folder"] == nil {
		diags = diags.Append(missingAttr("backup_folder", block))
	}

	var fullEvery, logEvery *hcl.Attribute
	p.FullBackup, fullEvery, ds = l.decodeSchedule(content.Blocks, "full_backup", block)
	diags = append(diags, ds...)
	p.LogBackup, logEvery, ds = l.decodeSchedule(content.Blocks, "log_backup", block)
	diags = append(diags, ds...)

	rpoAttr := attrs["rpo"]
	rpo, set, ds := l.duration(rpoAttr)
	diags = append(diags, ds...)
	switch {
	case !set:
		diags = diags.Append(missingAttr("rpo", block))
		rpoAttr = nil
	case ds.HasErrors():
		rpoAttr = nil
	case rpo <= 0:
		diags = diags.Append(notPositive(rpoAttr, "The RPO"))
		rpoAttr = nil
	}
	p.RPO, d.RPOAttr = rpo, rpoAttr

	if logEvery != nil && rpoAttr != nil && p.LogBackup.Every > p.RPO {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Log backup interval longer than RPO",
			Detail: fmt.Sprintf("Log backups every %s cannot keep data loss within the RPO of %s: the newest log backup could be up to %s old before it is even taken. Take log backups more often than the RPO.",
				formatDuration(p.LogBackup.Every), formatDuration(p.RPO), formatDuration(p.LogBackup.Every)),
			Subject: logEvery.Expr.Range().Ptr(),
			Context: logEvery.Range.Ptr(),
		})
	}
	if fullEvery != nil && logEvery != nil && p.FullBackup.Every < p.LogBackup.Every {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Full backup interval shorter than log backup interval",
			Detail: fmt.Sprintf("Full backups every %s are more frequent than log backups every %s; a full backup is the start of a chain of log backups, so it should be taken less often.",
				formatDuration(p.FullBackup.Every), formatDuration(p.LogBackup.Every)),
			Subject: fullEvery.Expr.Range().Ptr(),
			Context: fullEvery.Range.Ptr(),
		})
	}

	p.Compression, _, ds = l.boolean(attrs["compression"])
	diags = append(diags, ds...)
	p.Credential, _, ds = l.nonEmptyStr(attrs["credential"])
	diags = append(diags, ds...)
	return d, diags
}

// decodeSchedule decodes the one full_backup or log_backup block of a
// primary. It returns the every attribute when it decoded to a positive
// interval, so relations between intervals are only checked on good values.
func (l *loader) decodeSchedule(blocks hcl.Blocks, typ string, parent *hcl.Block) (Schedule, *hcl.Attribute, hcl.Diagnostics) {
	block, diags := singleBlock(blocks, typ)
	if block == nil {
		return Schedule{}, nil, diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Missing %s block", typ),
			Detail:   fmt.Sprintf("A primary needs a %s block, such as %s { every = %q }.", typ, typ, map[string]string{"full_backup": "24h", "log_backup": "15m"}[typ]),
			Subject:  parent.DefRange.Ptr(),
		})
	}
	s := Schedule{DeclRange: block.DefRange}
	schema := scheduleSchema
	if typ == "log_backup" {
		schema = logScheduleSchema
	}
	content, ds := block.Body.Content(schema)
	diags = append(diags, ds...)
	attr := content.Attributes["every"]
	every, set, ds := l.duration(attr)
	diags = append(diags, ds...)
	// alert_after is checked against a good interval only, but decoded
	// whatever every holds, so its own mistakes show at once.
	okEvery := time.Duration(0)
	if set && !ds.HasErrors() && every > 0 {
		okEvery = every
	}
	s.AlertAfter, ds = l.alertAfter(content.Attributes["alert_after"], okEvery)
	diags = append(diags, ds...)
	switch {
	case !set:
		return s, nil, diags.Append(missingAttr("every", block))
	case ds.HasErrors():
		return s, nil, diags
	case every <= 0:
		return s, nil, diags.Append(notPositive(attr, "The interval"))
	}
	s.Every = every
	return s, attr, diags
}

func notPositive(attr *hcl.Attribute, what string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Interval not positive",
		Detail:   fmt.Sprintf("%s must be longer than zero.", what),
		Subject:  attr.Expr.Range().Ptr(),
		Context:  attr.Range.Ptr(),
	}
}

// connection decodes a connection string into a Secret. An unset
// environment variable makes it unknown, not wrong; the value never appears
// in a diagnostic.
func (l *loader) connection(attr *hcl.Attribute, block *hcl.Block, required bool, diags hcl.Diagnostics) (Secret, hcl.Diagnostics) {
	s, set, ds := l.secret(attr)
	diags = append(diags, ds...)
	if !set && required {
		diags = diags.Append(missingAttr("connection", block))
	}
	if s.IsSet() {
		if v, _ := s.Value(); strings.TrimSpace(v) == "" {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Empty value",
				Detail:   `The argument "connection" must not be empty.`,
				Subject:  attr.Expr.Range().Ptr(),
				Context:  attr.Range.Ptr(),
			})
		}
	}
	return s, diags
}

// checkDatabases reports an empty list, empty names and names listed twice
// (also when spelled in another case).
func checkDatabases(attr *hcl.Attribute, dbs []item) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if len(dbs) == 0 {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No databases",
			Detail:   `The argument "databases" must list at least one database.`,
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}
	seen := map[string]hcl.Range{}
	folded := map[string]item{}
	for _, db := range dbs {
		if strings.TrimSpace(db.Value) == "" {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Empty database name",
				Detail:   "A database name must not be empty.",
				Subject:  db.Range.Ptr(),
				Context:  attr.Range.Ptr(),
			})
			continue
		}
		if first, ok := seen[db.Value]; ok {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Database listed twice",
				Detail:   fmt.Sprintf("The database %q is already listed (line %d, column %d); list each database once.", db.Value, first.Start.Line, first.Start.Column),
				Subject:  db.Range.Ptr(),
				Context:  attr.Range.Ptr(),
			})
			continue
		}
		seen[db.Value] = db.Range
		if first, ok := folded[strings.ToLower(db.Value)]; ok && sameButCase(first.Value, db.Value) {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Database names differ only in case",
				Detail: fmt.Sprintf("The databases %q (line %d, column %d) and %q differ only in case: SQL Server's usual case-insensitive collations take them for one database, and SMB shares and Windows file systems would mix up the backup files drsctl names after them. List the database once, spelled as on the primary.",
					first.Value, first.Range.Start.Line, first.Range.Start.Column, db.Value),
				Subject: db.Range.Ptr(),
				Context: attr.Range.Ptr(),
			})
			continue
		}
		folded[strings.ToLower(db.Value)] = db
	}
	return diags
}

func itemValues(items []item) []string {
	if items == nil {
		return nil
	}
	vs := make([]string, len(items))
	for i, it := range items {
		vs[i] = it.Value
	}
	return vs
}
