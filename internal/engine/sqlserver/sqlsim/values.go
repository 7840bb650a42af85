package sqlsim

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
	"unicode/utf16"
)

// kind is a SQL Server data type family.
type kind int

const (
	kNull        kind = iota
	kInt              // size 1, 2, 4, 8: tinyint, smallint, int, bigint
	kBit              //
	kFloat            // size 4 (real) or 8 (float)
	kNumeric          // prec, scale
	kNVarChar         // size in characters; -1 = max
	kVarChar          // size in bytes; -1 = max
	kChar             // size in bytes
	kVarBinary        // size in bytes; -1 = max
	kDateTime         // datetime
	kDateTime2        // scale
	kDateTimeOff      // scale
	kDate             //
	kGUID             //
	kVariant          // sql_variant holding an nvarchar
)

type sqlType struct {
	k     kind
	size  int
	prec  uint8
	scale uint8
}

var (
	tInt      = sqlType{k: kInt, size: 4}
	tSmallInt = sqlType{k: kInt, size: 2}
	tTinyInt  = sqlType{k: kInt, size: 1}
	tBigInt   = sqlType{k: kInt, size: 8}
	tBit      = sqlType{k: kBit, size: 1}
	tLSN      = sqlType{k: kNumeric, prec: 25, scale: 0}
	tNum20    = sqlType{k: kNumeric, prec: 20, scale: 0}
	tDateTime = sqlType{k: kDateTime, size: 8}
	tGUID     = sqlType{k: kGUID, size: 16}
	tSysname  = sqlType{k: kNVarChar, size: 128}
	tChar1    = sqlType{k: kChar, size: 1}
	tVariant  = sqlType{k: kVariant}
)

func tNVarChar(n int) sqlType { return sqlType{k: kNVarChar, size: n} }

func (t sqlType) String() string {
	switch t.k {
	case kNull:
		return "null"
	case kInt:
		switch t.size {
		case 1:
			return "tinyint"
		case 2:
			return "smallint"
		case 8:
			return "bigint"
		}
		return "int"
	case kBit:
		return "bit"
	case kFloat:
		if t.size == 4 {
			return "real"
		}
		return "float"
	case kNumeric:
		return fmt.Sprintf("numeric(%d,%d)", t.prec, t.scale)
	case kNVarChar:
		return "nvarchar"
	case kVarChar:
		return "varchar"
	case kChar:
		return "char"
	case kVarBinary:
		return "varbinary"
	case kDateTime:
		return "datetime"
	case kDateTime2:
		return "datetime2"
	case kDateTimeOff:
		return "datetimeoffset"
	case kDate:
		return "date"
	case kGUID:
		return "uniqueidentifier"
	case kVariant:
		return "sql_variant"
	}
	return "?"
}

// value is a typed SQL value. v holds: nil (NULL), int64 (ints, bit as
// bool), bool, float64, *big.Int (numeric: unscaled), string, []byte,
// time.Time (datetime/datetime2/date: UTC wall clock; datetimeoffset: with
// its zone), [16]byte (uniqueidentifier in canonical big-endian order).
type value struct {
	t sqlType
	v any
}

func null(t sqlType) value { return value{t: t} }

func (v value) isNull() bool { return v.v == nil }

func intVal(n int64) value { return value{t: tInt, v: n} }

// strVal is an nvarchar value as wide as s: nvarchar(n) counts UTF-16 code
// units, so a character outside the Basic Multilingual Plane counts twice.
func strVal(s string) value {
	return value{t: tNVarChar(max(utf16Len(s), 1)), v: s}
}

// utf16Len is the length of s in UTF-16 code units: what nvarchar(n), LEN
// on an nvarchar and every TDS character count measure (as ucs2 encodes).
func utf16Len(s string) int {
	n := 0
	for _, r := range s { // invalid UTF-8 ranges as U+FFFD, one unit
		n += utf16.RuneLen(r)
	}
	return n
}

// truncUTF16 is the longest prefix of s that fits n UTF-16 code units
// without splitting a surrogate pair.
func truncUTF16(s string, n int) string {
	units := 0
	for i, r := range s {
		w := utf16.RuneLen(r)
		if units+w > n {
			return s[:i]
		}
		units += w
	}
	return s
}

func bitVal(b bool) value { return value{t: tBit, v: b} }

// lsnVal turns a decimal LSN string ("" = NULL) into a numeric(25,0).
func lsnVal(s string) value {
	if s == "" {
		return null(tLSN)
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return null(tLSN)
	}
	return value{t: tLSN, v: n}
}

func timeVal(t time.Time) value {
	if t.IsZero() {
		return null(tDateTime)
	}
	return value{t: tDateTime, v: t.UTC()}
}

func guidVal(s string) value {
	g, ok := parseGUID(s)
	if !ok {
		return null(tGUID)
	}
	return value{t: tGUID, v: g}
}

// ---- LSNs: decimal strings, compared and advanced with math/big ----

func lsnCmp(a, b string) int {
	x, _ := new(big.Int).SetString(a, 10)
	y, _ := new(big.Int).SetString(b, 10)
	if x == nil || y == nil {
		return strings.Compare(a, b)
	}
	return x.Cmp(y)
}

func lsnAdd(a string, n int64) string {
	x, ok := new(big.Int).SetString(a, 10)
	if !ok {
		x = new(big.Int)
	}
	return x.Add(x, big.NewInt(n)).String()
}

func validLSN(s string) bool {
	x, ok := new(big.Int).SetString(s, 10)
	return ok && x.Sign() > 0 && len(s) <= 25
}

// ---- GUIDs ----

func parseGUID(s string) ([16]byte, bool) {
	var g [16]byte
	s = strings.Trim(s, "{}")
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return g, false
	}
	for i := 0; i < 16; i++ {
		var b byte
		for j := 0; j < 2; j++ {
			c := h[2*i+j]
			switch {
			case c >= '0' && c <= '9':
				b = b<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				b = b<<4 | (c - 'a' + 10)
			case c >= 'A' && c <= 'F':
				b = b<<4 | (c - 'A' + 10)
			default:
				return g, false
			}
		}
		g[i] = b
	}
	return g, true
}

func formatGUID(g [16]byte) string {
	return fmt.Sprintf("%X-%X-%X-%X-%X", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}

// ---- numeric helpers ----

// numericString formats an unscaled integer with scale digits after the point.
func numericString(n *big.Int, scale uint8) string {
	s := new(big.Int).Abs(n).String()
	if scale > 0 {
		for len(s) <= int(scale) {
			s = "0" + s
		}
		s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	}
	if n.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// toRat converts a numeric-family value to an exact rational.
func (v value) toRat() (*big.Rat, bool) {
	switch x := v.v.(type) {
	case int64:
		return new(big.Rat).SetInt64(x), true
	case bool:
		if x {
			return big.NewRat(1, 1), true
		}
		return new(big.Rat), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(x), true
	case *big.Int:
		r := new(big.Rat).SetInt(x)
		if v.t.scale > 0 {
			d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(v.t.scale)), nil)
			r.Quo(r, new(big.Rat).SetInt(d))
		}
		return r, true
	}
	return nil, false
}

func isNumericKind(k kind) bool {
	return k == kInt || k == kBit || k == kFloat || k == kNumeric
}

func isStringKind(k kind) bool {
	return k == kNVarChar || k == kVarChar || k == kChar || k == kVariant
}

func isTimeKind(k kind) bool {
	return k == kDateTime || k == kDateTime2 || k == kDateTimeOff || k == kDate
}

// instant gives the moment a time value denotes: naive values (datetime,
// datetime2, date) are read as UTC, as SQL Server does when it compares them
// with a datetimeoffset.
func (v value) instant() time.Time {
	t := v.v.(time.Time)
	if v.t.k == kDateTimeOff {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// display renders a value as text (for conversions and messages).
func (v value) display() string {
	switch x := v.v.(type) {
	case nil:
		return "NULL"
	case int64:
		return fmt.Sprint(x)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case float64:
		return fmt.Sprint(x)
	case *big.Int:
		return numericString(x, v.t.scale)
	case string:
		return x
	case []byte:
		return fmt.Sprintf("0x%X", x)
	case time.Time:
		return x.Format("2006-01-02 15:04:05.000")
	case [16]byte:
		return formatGUID(x)
	}
	return fmt.Sprint(v.v)
}

// compare returns -1, 0, 1; ok=false when either side is NULL. An error is
// returned for a conversion SQL Server would refuse.
func compare(a, b value) (int, bool, *sqlError) {
	if a.isNull() || b.isNull() {
		return 0, false, nil
	}
	ak, bk := a.t.k, b.t.k
	switch {
	case isNumericKind(ak) && isNumericKind(bk):
		x, _ := a.toRat()
		y, _ := b.toRat()
		if x == nil || y == nil {
			return 0, false, nil
		}
		return x.Cmp(y), true, nil
	case isNumericKind(ak) && isStringKind(bk):
		c, ok, err := compare(b, a)
		return -c, ok, err
	case isStringKind(ak) && isNumericKind(bk):
		s := strings.TrimSpace(a.v.(string))
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return 0, false, errConversion(s, a.t.String(), b.t.String())
		}
		y, _ := b.toRat()
		return r.Cmp(y), true, nil
	case isStringKind(ak) && isStringKind(bk):
		x := strings.ToUpper(strings.TrimRight(a.v.(string), " "))
		y := strings.ToUpper(strings.TrimRight(b.v.(string), " "))
		return strings.Compare(x, y), true, nil
	case isTimeKind(ak) && isTimeKind(bk):
		return a.instant().Compare(b.instant()), true, nil
	case isTimeKind(ak) && isStringKind(bk):
		t, err := parseDateString(b.v.(string))
		if err != nil {
			return 0, false, err
		}
		return a.instant().Compare(t), true, nil
	case isStringKind(ak) && isTimeKind(bk):
		c, ok, err := compare(b, a)
		return -c, ok, err
	case ak == kGUID && bk == kGUID:
		x, y := a.v.([16]byte), b.v.([16]byte)
		return bytes.Compare(x[:], y[:]), true, nil
	case ak == kGUID && isStringKind(bk):
		g, ok := parseGUID(b.v.(string))
		if !ok {
			return 0, false, newErr(8169, 16, "Conversion failed when converting from a character string to uniqueidentifier.")
		}
		x := a.v.([16]byte)
		return bytes.Compare(x[:], g[:]), true, nil
	case isStringKind(ak) && bk == kGUID:
		c, ok, err := compare(b, a)
		return -c, ok, err
	case ak == kVarBinary && bk == kVarBinary:
		return bytes.Compare(a.v.([]byte), b.v.([]byte)), true, nil
	}
	return 0, false, newErr(206, 16, "Operand type clash: %s is incompatible with %s", b.t, a.t)
}

func parseDateString(s string) (time.Time, *sqlError) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999 -07:00", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02", "20060102"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, newErr(241, 16, "Conversion failed when converting date and/or time from character string.")
}

// roundDateTime rounds to SQL Server datetime precision (1/300 s), keeping
// the value comparable with what a client reads back.
func roundDateTime(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	ticks := math.Round(float64(t.Sub(day)) * 300 / float64(time.Second))
	d := time.Duration(ticks * float64(time.Second) / 300)
	return day.Add(d.Round(time.Millisecond))
}
