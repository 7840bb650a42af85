package config

import (
	"fmt"
	"net/url"
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// targetDecl is a decoded `target` block with what the cross-block checks
// need: the unresolved primary reference, each database's range, the
// destination's location.
type targetDecl struct {
	Target     *Target
	NameRange  hcl.Range
	PrimaryRef *reference // nil when missing or invalid
	Databases  []item     // nil when absent (all of the primary's)
	DestURL    *url.URL   // nil when missing or invalid
	DestAttr   *hcl.Attribute
	// DelayAttr is the restore_delay attribute when it decoded to a
	// positive duration.
	DelayAttr *hcl.Attribute
	// WindowRange is the first restore_window block when every one decoded
	// without error.
	WindowRange *hcl.Range
	// Attrs are the block's attributes, for checks that depend on the
	// primary's engine (postgres.go).
	Attrs hcl.Attributes
	// MissingServerPath is reported unless the primary's engine is one
	// whose backups drsctl carries (validate.go).
	MissingServerPath *hcl.Diagnostic
}

var targetSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "primary"},
		{Name: "kind"},
		{Name: "connection"},
		{Name: "databases"},
		{Name: "restore_mode"},
		{Name: "restore_delay"},
		{Name: "disconnect_users"},
		{Name: "data_dir"},
		{Name: "log_dir"},
		{Name: "restore_alert_after"},
		{Name: "drill_alert_after"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "destination"},
		{Type: "restore_window"},
	},
}

var destinationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "url"},
		{Name: "server_path"},
		{Name: "retention"},
		{Name: "part_size"},
		{Name: "concurrency"},
		{Name: "credential"},
	},
}

// Limits for destination tuning. Part sizes follow the object stores: S3
// refuses parts under 5 MiB (but the last), Azure blocks stop at 4000 MiB.
const (
	MinPartSize    = 5 << 20
	MaxPartSize    = 4000 << 20
	MaxConcurrency = 256
)

var (
	targetKinds  = []string{string(Standby), string(CopyOnly)}
	restoreModes = []string{string(RestoreStandby), string(RestoreNoRecovery)}
)

// decodeTarget decodes a `target "NAME"` block and checks what can be
// checked within it; checks against its primary are in validate.go.
func (l *loader) decodeTarget(block *hcl.Block) (*targetDecl, hcl.Diagnostics) {
	t := &Target{Name: block.Labels[0], Kind: Standby, RestoreMode: RestoreNoRecovery, DeclRange: block.DefRange}
	d := &targetDecl{Target: t, NameRange: block.LabelRanges[0]}
	diags := checkName(block)
	content, ds := block.Body.Content(targetSchema)
	diags = append(diags, ds...)
	attrs := content.Attributes
	d.Attrs = attrs

	d.PrimaryRef, ds = l.ref(attrs["primary"], "primary")
	diags = append(diags, ds...)
	if attrs["primary"] == nil {
		diags = diags.Append(missingAttr("primary", block))
	}

	kind, set, ds := l.str(attrs["kind"])
	diags = append(diags, ds...)
	kindKnown := !ds.HasErrors()
	if set && kindKnown {
		if !slices.Contains(targetKinds, kind) {
			diags = diags.Append(badEnum(attrs["kind"], "target kind", kind, targetKinds))
			kindKnown = false
		} else {
			t.Kind = TargetKind(kind)
		}
	}

	t.Connection, diags = l.connection(attrs["connection"], block, kindKnown && t.Kind == Standby, diags)

	if attr := attrs["databases"]; attr != nil {
		dbs, set, ds := l.stringList(attr)
		diags = append(diags, ds...)
		if set && !ds.HasErrors() {
			if len(dbs) == 0 {
				diags = diags.Append(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "No databases",
					Detail:   `The argument "databases" must list at least one database; omit it to protect all of the primary's databases.`,
					Subject:  attr.Expr.Range().Ptr(),
					Context:  attr.Range.Ptr(),
				})
			} else {
				diags = append(diags, checkDatabases(attr, dbs)...)
			}
		}
		d.Databases = dbs
		t.Databases = itemValues(dbs)
	}

	destBlock, ds := singleBlock(content.Blocks, "destination")
	diags = append(diags, ds...)
	if destBlock == nil {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing destination block",
			Detail:   `A target needs a destination block saying where its copies live, such as destination { url = "s3://bucket/prefix" … }.`,
			Subject:  block.DefRange.Ptr(),
		})
	} else {
		t.Destination, d.DestURL, d.DestAttr, d.MissingServerPath, ds = l.decodeDestination(destBlock, !kindKnown || t.Kind == Standby)
		diags = append(diags, ds...)
	}

	// Restore settings mean nothing on a copy_only target. restore_mode is
	// an error (the operator clearly expects restores); the others warn.
	copyOnly := kindKnown && t.Kind == CopyOnly
	if attr := attrs["restore_mode"]; attr != nil {
		mode, set, ds := l.str(attr)
		diags = append(diags, ds...)
		switch {
		case copyOnly:
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "restore_mode on a copy_only target",
				Detail:   `A copy_only target never restores, so it has no restore mode. Remove restore_mode, or make the target kind = "standby".`,
				Subject:  attr.NameRange.Ptr(),
				Context:  attr.Range.Ptr(),
			})
		case set && !ds.HasErrors() && !slices.Contains(restoreModes, mode):
			diags = diags.Append(badEnum(attr, "restore mode", mode, restoreModes))
		case set && !ds.HasErrors():
			t.RestoreMode = RestoreMode(mode)
		}
	}

	delayAttr := attrs["restore_delay"]
	delay, set, ds := l.duration(delayAttr)
	diags = append(diags, ds...)
	if set && !ds.HasErrors() {
		if delay < 0 {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Negative restore delay",
				Detail:   "The restore delay must be zero or positive.",
				Subject:  delayAttr.Expr.Range().Ptr(),
				Context:  delayAttr.Range.Ptr(),
			})
		} else {
			t.RestoreDelay = delay
			if delay > 0 {
				d.DelayAttr = delayAttr
			}
		}
	}

	t.DisconnectUsers, _, ds = l.boolean(attrs["disconnect_users"])
	diags = append(diags, ds...)
	t.DataDir, _, ds = l.nonEmptyStr(attrs["data_dir"])
	diags = append(diags, ds...)
	t.LogDir, _, ds = l.nonEmptyStr(attrs["log_dir"])
	diags = append(diags, ds...)

	windowsOK := true
	for _, wb := range content.Blocks.OfType("restore_window") {
		w, ok, ds := l.decodeRestoreWindow(wb)
		diags = append(diags, ds...)
		windowsOK = windowsOK && ok
		t.RestoreWindows = append(t.RestoreWindows, w)
		if copyOnly {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "restore_window has no effect on a copy_only target",
				Detail:   "A copy_only target never restores, so restore_window is ignored: its copies are shipped at any time.",
				Subject:  wb.DefRange.Ptr(),
			})
		}
	}
	if len(t.RestoreWindows) > 0 && windowsOK {
		d.WindowRange = t.RestoreWindows[0].DeclRange.Ptr()
	}
	diags = append(diags, l.decodeTargetAlerts(t, attrs, copyOnly)...)

	if copyOnly {
		for _, name := range []string{"restore_delay", "disconnect_users", "data_dir", "log_dir"} {
			if attr := attrs[name]; attr != nil {
				diags = diags.Append(&hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  fmt.Sprintf("%s has no effect on a copy_only target", name),
					Detail:   fmt.Sprintf("A copy_only target never restores, so %s is ignored.", name),
					Subject:  attr.NameRange.Ptr(),
					Context:  attr.Range.Ptr(),
				})
			}
		}
	}
	return d, diags
}

// decodeDestination decodes a target's `destination` block. server_path is
// required (unless url is file://) only for targets that restore: the
// standby server reads the copies from there.
func (l *loader) decodeDestination(block *hcl.Block, restores bool) (Destination, *url.URL, *hcl.Attribute, *hcl.Diagnostic, hcl.Diagnostics) {
	dest := Destination{DeclRange: block.DefRange}
	content, diags := block.Body.Content(destinationSchema)
	attrs := content.Attributes

	raw, u, set, ds := l.urlAttr(attrs["url"])
	diags = append(diags, ds...)
	if !set {
		diags = diags.Append(missingAttr("url", block))
	}
	dest.URL = raw

	sp, ds, missing := l.serverPath(attrs["server_path"], u, restores, block)
	diags = append(diags, ds...)
	dest.ServerPath = sp

	dest.Retention, ds = l.retention(attrs["retention"])
	diags = append(diags, ds...)

	if attr := attrs["part_size"]; attr != nil {
		n, set, ds := l.size(attr)
		diags = append(diags, ds...)
		if set && !ds.HasErrors() {
			if n < MinPartSize || n > MaxPartSize {
				diags = diags.Append(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "part_size out of range",
					Detail:   fmt.Sprintf("The part size must be between 5MiB and 4000MiB (%d and %d bytes); it is %d bytes. Omit it for the driver's default.", int64(MinPartSize), int64(MaxPartSize), n),
					Subject:  attr.Expr.Range().Ptr(),
					Context:  attr.Range.Ptr(),
				})
			} else {
				dest.PartSize = n
			}
		}
	}
	if attr := attrs["concurrency"]; attr != nil {
		n, set, ds := l.integer(attr)
		diags = append(diags, ds...)
		if set && !ds.HasErrors() {
			if n < 1 || n > MaxConcurrency {
				diags = diags.Append(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "concurrency out of range",
					Detail:   fmt.Sprintf("The concurrency must be between 1 and %d; it is %d. Omit it for the driver's default.", MaxConcurrency, n),
					Subject:  attr.Expr.Range().Ptr(),
					Context:  attr.Range.Ptr(),
				})
			} else {
				dest.Concurrency = int(n)
			}
		}
	}
	dest.Credential, _, ds = l.nonEmptyStr(attrs["credential"])
	diags = append(diags, ds...)

	var urlAttr *hcl.Attribute
	if u != nil {
		urlAttr = attrs["url"]
	}
	return dest, u, urlAttr, missing, diags
}

// badEnum reports a value outside a fixed set, suggesting the closest.
func badEnum(attr *hcl.Attribute, what, got string, valid []string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s", what),
		Detail:   fmt.Sprintf("The %s must be %s; %q is not one of them.%s", what, quotedOr(valid), got, didYouMean(got, valid)),
		Subject:  attr.Expr.Range().Ptr(),
		Context:  attr.Range.Ptr(),
	}
}
