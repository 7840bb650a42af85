package smbblob

import (
	"fmt"
	"strconv"
	"strings"
)

// Keys become paths on the share. Characters an SMB server refuses or
// changes (control characters, \ : * ? " < > |, a segment's trailing dot or
// space, Windows device names such as CON or LPT1), empty segments (a leading,
// doubled or trailing "/"), "." and ".." segments and any segment's leading
// "." are written as "__0x<hex>__", as gocloud.dev's fileblob does. Keys made
// of ordinary names — every key drsctl's own layout produces — map to the
// same path unchanged, so a database server reading the share sees the
// names drsctl chose.
//
// A name whose first character is "." is therefore never a key: the driver
// uses such names for its temporary files and listing skips them.
//
// SMB servers usually compare names case-insensitively: keys that differ only
// in case name the same file.

// escapeKey maps a key to its path segments on the share.
func escapeKey(key string) []string {
	r := []rune(key)
	var segs []string
	var seg []rune
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c == '/' && i > 0 && r[i-1] != '/' && i < len(r)-1 {
			segs = append(segs, escapeSegment(seg))
			seg = seg[:0]
			continue
		}
		seg = append(seg, c)
	}
	return append(segs, escapeSegment(seg))
}

// escapeSegment escapes one segment (which may contain escaped-to-be "/").
func escapeSegment(seg []rune) string {
	var b strings.Builder
	for i, c := range seg {
		if mustEscape(seg, i) || isEscapeSequence(seg, i) {
			fmt.Fprintf(&b, "__%#x__", c)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func mustEscape(seg []rune, i int) bool {
	c := seg[i]
	switch {
	case c < 32 || c == 0x7f:
		return true
	case strings.ContainsRune(`/\:*?"<>|`, c):
		return true
	case i == 0 && c == '.':
		return true
	case i == len(seg)-1 && (c == '.' || c == ' '):
		return true
	case i == 0 && isDeviceName(seg):
		return true
	}
	return false
}

// isDeviceName reports whether a segment is a name Windows reserves for a
// device, with or without an extension.
func isDeviceName(seg []rune) bool {
	base := strings.ToUpper(string(seg))
	if j := strings.IndexByte(base, '.'); j >= 0 {
		base = base[:j]
	}
	switch base {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '1' && base[3] <= '9' {
		return true
	}
	return false
}

// isEscapeSequence reports whether an escape sequence starts at seg[i]; its
// first "_" must then be escaped too, or unescaping would not be lossless.
func isEscapeSequence(seg []rune, i int) bool {
	_, _, ok := unescapeAt(seg, i)
	return ok
}

// unescapeAt parses "__0x<hex>__" at seg[i]: the rune and the index of the
// sequence's last rune.
func unescapeAt(seg []rune, i int) (rune, int, bool) {
	const lead = "__0x"
	if len(seg)-i < len(lead)+3 || string(seg[i:i+len(lead)]) != lead {
		return 0, 0, false
	}
	j := i + len(lead)
	start := j
	for j < len(seg) && seg[j] != '_' {
		j++
	}
	if j+1 >= len(seg) || seg[j+1] != '_' || j == start {
		return 0, 0, false
	}
	v, err := strconv.ParseInt(string(seg[start:j]), 16, 32)
	if err != nil {
		return 0, 0, false
	}
	return rune(v), j + 1, true
}

// unescapeSegment reverses escapeSegment.
func unescapeSegment(s string) string {
	if !strings.Contains(s, "__0x") {
		return s
	}
	seg := []rune(s)
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		if c, end, ok := unescapeAt(seg, i); ok {
			b.WriteRune(c)
			i = end
			continue
		}
		b.WriteRune(seg[i])
	}
	return b.String()
}

// unescapePath maps path segments on the share back to a key.
func unescapePath(segs []string) string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = unescapeSegment(s)
	}
	return strings.Join(out, "/")
}
