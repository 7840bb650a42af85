package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// stateDecl is a decoded `state` block.
type stateDecl struct {
	State StateBlock
	set   bool // url was given
}

var stateSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "url"}},
}

// decodeState decodes a `state` block. Its url is either a path (relative
// paths are resolved against the configuration directory, see
// Config.StateLocation) or a URL with one of the known schemes.
func (l *loader) decodeState(block *hcl.Block) (*stateDecl, hcl.Diagnostics) {
	d := &stateDecl{State: StateBlock{URL: DefaultStateURL, DeclRange: block.DefRange}}
	content, diags := block.Body.Content(stateSchema)
	attr := content.Attributes["url"]
	s, set, ds := l.nonEmptyStr(attr)
	diags = append(diags, ds...)
	if !set || ds.HasErrors() {
		return d, diags
	}
	d.State.URL, d.set = s, true
	if strings.Contains(s, "://") {
		u, err := l.checkURL(s)
		if err == nil && !slices.Contains(StateSchemes, u.Scheme) {
			err = &urlError{"Unsupported state URL scheme", fmt.Sprintf("A remote state lives in s3:// or azblob://, whose conditional writes can lock it; %s %s:// share has none. Mount the share and give the state file's path.", article(u.Scheme), u.Scheme)}
		}
		if err != nil {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  err.summary,
				Detail:   fmt.Sprintf("%s The state url may also be a plain file path.", err.detail),
				Subject:  attr.Expr.Range().Ptr(),
				Context:  attr.Range.Ptr(),
			})
		}
	}
	return d, diags
}
