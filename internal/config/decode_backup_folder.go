package config

import (
	"fmt"
	"net/url"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// folderDecl is a decoded `backup_folder` block with the ranges the
// cross-block checks point at.
type folderDecl struct {
	Folder    *BackupFolder
	NameRange hcl.Range
	url       *url.URL // nil when missing or invalid
	// missingServerPath is reported unless every primary using the folder
	// is one whose backups drsctl carries (validate.go).
	missingServerPath *hcl.Diagnostic
}

var backupFolderSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "url"},
		{Name: "server_path"},
		{Name: "retention"},
	},
}

// decodeBackupFolder decodes a `backup_folder "NAME"` block.
func (l *loader) decodeBackupFolder(block *hcl.Block) (*folderDecl, hcl.Diagnostics) {
	d := &folderDecl{
		Folder:    &BackupFolder{Name: block.Labels[0], DeclRange: block.DefRange},
		NameRange: block.LabelRanges[0],
	}
	diags := checkName(block)
	content, ds := block.Body.Content(backupFolderSchema)
	diags = append(diags, ds...)

	raw, u, set, ds := l.urlAttr(content.Attributes["url"])
	diags = append(diags, ds...)
	if !set {
		diags = diags.Append(missingAttr("url", block))
	}
	d.Folder.URL, d.url = raw, u

	sp, ds, missing := l.serverPath(content.Attributes["server_path"], u, true, block)
	diags = append(diags, ds...)
	d.Folder.ServerPath, d.missingServerPath = sp, missing

	d.Folder.Retention, ds = l.retention(content.Attributes["retention"])
	diags = append(diags, ds...)
	return d, diags
}

// retention decodes an optional retention: zero (or absent) keeps
// artifacts forever; negative makes no sense.
func (l *loader) retention(attr *hcl.Attribute) (time.Duration, hcl.Diagnostics) {
	d, set, diags := l.duration(attr)
	if set && !diags.HasErrors() && d < 0 {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Negative retention",
			Detail:   "The retention must be zero (keep forever) or positive.",
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
		return 0, diags
	}
	return d, diags
}

// checkName reports a block label that cannot be referenced (primary.NAME)
// or used on the command line and in state addresses.
func checkName(block *hcl.Block) hcl.Diagnostics {
	name := block.Labels[0]
	if hclsyntax.ValidIdentifier(name) {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid name",
		Detail: fmt.Sprintf("A %s name must start with a letter or underscore and contain only letters, digits, underscores and dashes, so that it can be referenced as %s.NAME.",
			blockKindWords(block.Type), block.Type),
		Subject: block.LabelRanges[0].Ptr(),
	}}
}
