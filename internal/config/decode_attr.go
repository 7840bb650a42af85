package config

import (
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// loader holds what decoding needs across blocks and files: the evaluation
// context (functions, no variables: references are traversals, not values)
// and the blocks decoded so far, with the source ranges the cross-block
// checks in validate.go point at.
type loader struct {
	dir     string
	engines []string // nil: any
	schemes []string
	ctx     *hcl.EvalContext
	unset   *unsetRecorder

	states    []*stateDecl
	folders   []*folderDecl
	primaries []*primaryDecl
	targets   []*targetDecl
}

func newLoader(dir string, opts LoadOptions) *loader {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	schemes := opts.KnownSchemes
	if schemes == nil {
		schemes = DefaultSchemes
	}
	unset := &unsetRecorder{}
	return &loader{
		dir:     dir,
		engines: opts.KnownEngines,
		schemes: schemes,
		unset:   unset,
		ctx:     &hcl.EvalContext{Functions: functions(dir, getenv, unset)},
	}
}

// item is one string value with the range it came from, such as one
// element of a databases list.
type item struct {
	Value string
	Range hcl.Range
}

// reference is a decoded `kind.name` traversal such as primary.sales.
type reference struct {
	Kind, Name string
	Range      hcl.Range
}

// value evaluates attr and converts it to ty. It returns cty.NilVal when
// attr is nil, a null of ty when the expression is null, and the names of the
// environment variables that made the value unknown, if any.
func (l *loader) value(attr *hcl.Attribute, ty cty.Type) (cty.Value, []string, hcl.Diagnostics) {
	if attr == nil {
		return cty.NilVal, nil, nil
	}
	return l.exprValue(attr.Name, attr.Expr, attr.Range, ty)
}

func (l *loader) exprValue(name string, expr hcl.Expression, context hcl.Range, ty cty.Type) (cty.Value, []string, hcl.Diagnostics) {
	l.unset.reset()
	val, diags := expr.Value(l.ctx)
	unset := l.unset.taken()
	if diags.HasErrors() {
		return cty.DynamicVal, unset, diags
	}
	if ty == cty.DynamicPseudoType {
		return val, unset, diags
	}
	conv, err := convert.Convert(val, ty)
	if err != nil {
		// cty's conversion errors name types ("string required"), never
		// values, so they are safe for secrets too.
		return cty.DynamicVal, unset, diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for argument %q: %s.", name, err),
			Subject:  expr.Range().Ptr(),
			Context:  context.Ptr(),
		})
	}
	return conv, unset, diags
}

// unknownDiag is the error for an attribute whose value is needed but
// depends on an unset environment variable.
func unknownDiag(name string, expr hcl.Expression, context hcl.Range, unset []string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Unset environment variable",
		Detail: fmt.Sprintf("The argument %q needs a known value; %s. Set it and run again: every command, validate included, needs %q. (Only a connection may be left unset, and only for validate, which does not connect.)",
			name, unsetReason(unset), name),
		Subject: expr.Range().Ptr(),
		Context: context.Ptr(),
	}
}

// unsetReason says which variables are not set, e.g. `environment variable
// "X" is not set`.
func unsetReason(names []string) string {
	switch len(names) {
	case 0:
		return "its value is not known"
	case 1:
		return fmt.Sprintf("environment variable %q is not set", names[0])
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return fmt.Sprintf("environment variables %s are not set", strings.Join(q, ", "))
}

// str decodes a string attribute. set is false when the attribute is absent
// or null; when diags has errors the value must not be used.
func (l *loader) str(attr *hcl.Attribute) (s string, set bool, diags hcl.Diagnostics) {
	val, unset, diags := l.value(attr, cty.String)
	if attr == nil || diags.HasErrors() {
		return "", attr != nil, diags
	}
	if val.IsNull() {
		return "", false, diags
	}
	if !val.IsWhollyKnown() {
		return "", true, diags.Append(unknownDiag(attr.Name, attr.Expr, attr.Range, unset))
	}
	return val.AsString(), true, diags
}

// nonEmptyStr is str for attributes where "" makes no sense.
func (l *loader) nonEmptyStr(attr *hcl.Attribute) (string, bool, hcl.Diagnostics) {
	s, set, diags := l.str(attr)
	if set && !diags.HasErrors() && strings.TrimSpace(s) == "" {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty value",
			Detail:   fmt.Sprintf("The argument %q must not be empty.", attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}
	return s, set, diags
}

func (l *loader) boolean(attr *hcl.Attribute) (b bool, set bool, diags hcl.Diagnostics) {
	val, unset, diags := l.value(attr, cty.Bool)
	if attr == nil || diags.HasErrors() {
		return false, attr != nil, diags
	}
	if val.IsNull() {
		return false, false, diags
	}
	if !val.IsWhollyKnown() {
		return false, true, diags.Append(unknownDiag(attr.Name, attr.Expr, attr.Range, unset))
	}
	return val.True(), true, diags
}

// integer decodes a whole number attribute.
func (l *loader) integer(attr *hcl.Attribute) (n int64, set bool, diags hcl.Diagnostics) {
	val, unset, diags := l.value(attr, cty.Number)
	if attr == nil || diags.HasErrors() {
		return 0, attr != nil, diags
	}
	if val.IsNull() {
		return 0, false, diags
	}
	if !val.IsWhollyKnown() {
		return 0, true, diags.Append(unknownDiag(attr.Name, attr.Expr, attr.Range, unset))
	}
	n, err := wholeNumber(val.AsBigFloat())
	if err != nil {
		return 0, true, diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid number",
			Detail:   fmt.Sprintf("The argument %q must be a whole number: %s.", attr.Name, err),
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}
	return n, true, diags
}

func wholeNumber(f *big.Float) (int64, error) {
	if !f.IsInt() {
		return 0, fmt.Errorf("%s has a fraction", f.Text('g', -1))
	}
	n, acc := f.Int64()
	if acc != big.Exact {
		return 0, fmt.Errorf("%s is out of range", f.Text('g', -1))
	}
	return n, nil
}

// duration decodes a duration string such as "15m" or "7d".
func (l *loader) duration(attr *hcl.Attribute) (d time.Duration, set bool, diags hcl.Diagnostics) {
	s, set, diags := l.str(attr)
	if !set || diags.HasErrors() {
		return 0, set, diags
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, true, diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("The argument %q must be a duration such as \"90s\", \"15m\", \"24h\" or \"7d\": %s.", attr.Name, err),
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}
	return d, true, diags
}

// size decodes a byte count written as a number (bytes) or a string with a
// unit ("16MiB", "8MB").
func (l *loader) size(attr *hcl.Attribute) (n int64, set bool, diags hcl.Diagnostics) {
	val, unset, diags := l.value(attr, cty.DynamicPseudoType)
	if attr == nil || diags.HasErrors() {
		return 0, attr != nil, diags
	}
	if val.IsNull() {
		return 0, false, diags
	}
	if !val.IsWhollyKnown() {
		return 0, true, diags.Append(unknownDiag(attr.Name, attr.Expr, attr.Range, unset))
	}
	bad := func(err error) (int64, bool, hcl.Diagnostics) {
		return 0, true, diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid size",
			Detail:   fmt.Sprintf("The argument %q must be a number of bytes or a string such as \"16MiB\": %s.", attr.Name, err),
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}
	switch val.Type() {
	case cty.Number:
		n, err := wholeNumber(val.AsBigFloat())
		if err != nil {
			return bad(err)
		}
		return n, true, diags
	case cty.String:
		n, err := parseSize(val.AsString())
		if err != nil {
			return bad(err)
		}
		return n, true, diags
	}
	return bad(fmt.Errorf("got %s", val.Type().FriendlyName()))
}

// sizeUnits are the units parseSize accepts, compared case-insensitively.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"kb":  1000,
	"mb":  1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
}

// parseSize parses "16MiB", "8 MB", "5242880".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] == '.' || ('0' <= t[i] && t[i] <= '9')) {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q has no number", s)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit (use B, KB, MB, GB, KiB, MiB or GiB)", s)
	}
	f, _, err := big.ParseFloat(num, 10, 128, big.ToNearestEven)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	f.Mul(f, new(big.Float).SetInt64(mult))
	if !f.IsInt() {
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	n, acc := f.Int64()
	if acc != big.Exact {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

// secret decodes a sensitive string. A value that depends on an unset
// environment variable is not an error: it becomes an unknown Secret that
// says which variable is missing. Diagnostics never contain the value.
func (l *loader) secret(attr *hcl.Attribute) (Secret, bool, hcl.Diagnostics) {
	val, unset, diags := l.value(attr, cty.String)
	if attr == nil || diags.HasErrors() {
		return Secret{}, attr != nil, diags
	}
	rng := attr.Expr.Range()
	if val.IsNull() {
		return Secret{}, false, diags
	}
	if !val.IsWhollyKnown() {
		return UnknownSecret(unsetReason(unset), rng), true, diags
	}
	return NewSecret(val.AsString(), rng), true, diags
}

// stringList decodes a list of strings, keeping each element's range when
// the list is written literally (["a", "b"]) so checks can point at the
// offending element.
func (l *loader) stringList(attr *hcl.Attribute) (items []item, set bool, diags hcl.Diagnostics) {
	if attr == nil {
		return nil, false, nil
	}
	exprs, listDiags := hcl.ExprList(attr.Expr)
	if listDiags.HasErrors() {
		// Not a literal list (a function call, say): evaluate it whole.
		val, unset, diags := l.value(attr, cty.List(cty.String))
		if diags.HasErrors() {
			return nil, true, diags
		}
		if val.IsNull() {
			return nil, false, diags
		}
		if !val.IsWhollyKnown() {
			return nil, true, diags.Append(unknownDiag(attr.Name, attr.Expr, attr.Range, unset))
		}
		items = []item{}
		for _, v := range val.AsValueSlice() {
			if v.IsNull() {
				diags = diags.Append(nullElementDiag(attr, attr.Expr))
				continue
			}
			items = append(items, item{Value: v.AsString(), Range: attr.Expr.Range()})
		}
		return items, true, diags
	}
	items = []item{}
	for _, e := range exprs {
		v, unset, ds := l.exprValue(attr.Name, e, attr.Range, cty.String)
		diags = append(diags, ds...)
		switch {
		case ds.HasErrors():
		case v.IsNull():
			diags = diags.Append(nullElementDiag(attr, e))
		case !v.IsWhollyKnown():
			diags = diags.Append(unknownDiag(attr.Name, e, attr.Range, unset))
		default:
			items = append(items, item{Value: v.AsString(), Range: e.Range()})
		}
	}
	return items, true, diags
}

func nullElementDiag(attr *hcl.Attribute, e hcl.Expression) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Null list element",
		Detail:   fmt.Sprintf("The elements of %q must be strings, not null.", attr.Name),
		Subject:  e.Range().Ptr(),
		Context:  attr.Range.Ptr(),
	}
}

// ref decodes a reference such as primary.sales. References are traversals
// read with hcl.AbsTraversalForExpr, never evaluated: they name blocks, they
// do not carry values.
func (l *loader) ref(attr *hcl.Attribute, wantKind string) (*reference, hcl.Diagnostics) {
	if attr == nil {
		return nil, nil
	}
	example := wantKind + ".NAME"
	trav, diags := hcl.AbsTraversalForExpr(attr.Expr)
	if diags.HasErrors() {
		detail := fmt.Sprintf("The argument %q must be a reference such as %s, not a value.", attr.Name, example)
		// A quoted name is the common slip: primary = "sales".
		if v, vd := attr.Expr.Value(nil); !vd.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			detail = fmt.Sprintf("The argument %q must be a reference such as %s, not a string: write %s.%s without quotes.", attr.Name, example, wantKind, v.AsString())
		}
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference",
			Detail:   detail,
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		}}
	}
	var name string
	if len(trav) == 2 {
		if a, ok := trav[1].(hcl.TraverseAttr); ok {
			name = a.Name
		}
	}
	root := trav.RootName()
	if name == "" || !isBlockKind(root) {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference",
			Detail:   fmt.Sprintf("The argument %q must be a reference such as %s.", attr.Name, example),
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		}}
	}
	if root != wantKind {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Wrong reference kind",
			Detail:   fmt.Sprintf("The argument %q must refer to a %s (%s), but this refers to a %s.", attr.Name, blockKindWords(wantKind), example, blockKindWords(root)),
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		}}
	}
	return &reference{Kind: root, Name: name, Range: attr.Expr.Range()}, nil
}

func isBlockKind(s string) bool {
	switch s {
	case "state", "backup_folder", "primary", "target":
		return true
	}
	return false
}

// blockKindWords names a block kind in prose.
func blockKindWords(kind string) string { return strings.ReplaceAll(kind, "_", " ") }

// missingAttr is the error for a required argument that is absent (or null).
func missingAttr(name string, block *hcl.Block) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Missing required argument",
		Detail:   fmt.Sprintf("The argument %q is required, but no definition was found in this %s block.", name, block.Type),
		Subject:  block.DefRange.Ptr(),
	}
}

// singleBlock returns the one block of type typ among blocks, reporting
// duplicates; nil when there is none.
func singleBlock(blocks hcl.Blocks, typ string) (*hcl.Block, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var first *hcl.Block
	for _, b := range blocks.OfType(typ) {
		if first == nil {
			first = b
			continue
		}
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s block", typ),
			Detail:   fmt.Sprintf("Only one %s block is allowed here; the first is at %s.", typ, rangeWhere(first.DefRange)),
			Subject:  b.DefRange.Ptr(),
		})
	}
	return first, diags
}

// rangeWhere renders a range as file:line for diagnostic details.
func rangeWhere(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }
