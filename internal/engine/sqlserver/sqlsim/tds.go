package sqlsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"time"
	"unicode/utf16"
)

// TDS packet types (MS-TDS 2.2.3.1.1).
const (
	pktSQLBatch  = 1
	pktRPC       = 3
	pktReply     = 4
	pktAttention = 6
	pktLogin7    = 16
	pktPrelogin  = 18
)

// Packet status bits.
const (
	stEOM   = 0x01
	stReset = 0x08
)

// Token types (MS-TDS 2.2.7).
const (
	tokReturnStatus = 0x79
	tokColMetadata  = 0x81
	tokError        = 0xAA
	tokInfo         = 0xAB
	tokLoginAck     = 0xAD
	tokRow          = 0xD1
	tokEnvChange    = 0xE3
	tokDone         = 0xFD
	tokDoneProc     = 0xFE
	tokDoneInProc   = 0xFF
)

// DONE status bits.
const (
	doneMore  = 0x01
	doneError = 0x02
	doneCount = 0x10
	doneAttn  = 0x20
)

// DONE CurCmd values SQL Server uses.
const (
	cmdNone   = 0x00
	cmdSelect = 0xC1
	cmdInsert = 0xC3
)

// TDS type ids.
const (
	tyNull           = 0x1F
	tyInt1           = 0x30
	tyBit            = 0x32
	tyInt2           = 0x34
	tyInt4           = 0x38
	tyDateTim4       = 0x3A
	tyFlt4           = 0x3B
	tyMoney          = 0x3C
	tyDateTime       = 0x3D
	tyFlt8           = 0x3E
	tyMoney4         = 0x7A
	tyInt8           = 0x7F
	tyGUID           = 0x24
	tyIntN           = 0x26
	tyDecimal        = 0x37
	tyNumeric        = 0x3F
	tyBitN           = 0x68
	tyDecimalN       = 0x6A
	tyNumericN       = 0x6C
	tyFltN           = 0x6D
	tyMoneyN         = 0x6E
	tyDateTimeN      = 0x6F
	tyDateN          = 0x28
	tyTimeN          = 0x29
	tyDateTime2N     = 0x2A
	tyDateTimeOffset = 0x2B
	tyChar           = 0x2F
	tyVarChar        = 0x27
	tyBinary         = 0x2D
	tyVarBinary      = 0x25
	tyBigVarBin      = 0xA5
	tyBigVarChar     = 0xA7
	tyBigBinary      = 0xAD
	tyBigChar        = 0xAF
	tyNVarChar       = 0xE7
	tyNChar          = 0xEF
	tyVariant        = 0x62
)

// collation is SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, case- and
// accent-insensitive flags, sort id 52.
var collation = []byte{0x09, 0x04, 0xD0, 0x00, 0x34}

// ---- packets ----

// readMessage reads packets up to one with EOM and returns the message's type,
// the status of its first packet and its payload.
func readMessage(r io.Reader) (typ byte, status byte, payload []byte, err error) {
	hdr := make([]byte, 8)
	first := true
	for {
		if _, err = io.ReadFull(r, hdr); err != nil {
			return 0, 0, nil, err
		}
		size := int(binary.BigEndian.Uint16(hdr[2:4]))
		if size < 8 {
			return 0, 0, nil, errors.New("sqlsim: TDS packet shorter than its header")
		}
		if first {
			typ, status = hdr[0], hdr[1]
			first = false
		}
		body := make([]byte, size-8)
		if _, err = io.ReadFull(r, body); err != nil {
			return 0, 0, nil, err
		}
		payload = append(payload, body...)
		if hdr[1]&stEOM != 0 {
			return typ, status, payload, nil
		}
		if len(payload) > 64<<20 {
			return 0, 0, nil, errors.New("sqlsim: TDS message too large")
		}
	}
}

// packetWriter buffers a response's tokens and cuts them into packets of at
// most size bytes when flushed.
type packetWriter struct {
	w    io.Writer
	size int
	spid uint16
	seq  byte
	buf  []byte
	err  error
}

func (p *packetWriter) write(b []byte) { p.buf = append(p.buf, b...) }

// flush sends what is buffered; final marks the end of the response (EOM).
func (p *packetWriter) flush(final bool) error {
	for len(p.buf) > p.size-8 {
		p.send(p.buf[:p.size-8], false)
		p.buf = p.buf[p.size-8:]
	}
	if len(p.buf) > 0 || final {
		p.send(p.buf, final)
	}
	p.buf = nil
	return p.err
}

func (p *packetWriter) send(body []byte, final bool) {
	if p.err != nil {
		return
	}
	pkt := make([]byte, 8+len(body))
	pkt[0] = pktReply
	if final {
		pkt[1] = stEOM
	}
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	binary.BigEndian.PutUint16(pkt[4:], p.spid)
	p.seq++
	pkt[6] = p.seq
	copy(pkt[8:], body)
	_, p.err = p.w.Write(pkt)
}

// ---- token encoding ----

type tbuf struct{ b []byte }

func (t *tbuf) u8(v byte)    { t.b = append(t.b, v) }
func (t *tbuf) u16(v uint16) { t.b = binary.LittleEndian.AppendUint16(t.b, v) }
func (t *tbuf) u32(v uint32) { t.b = binary.LittleEndian.AppendUint32(t.b, v) }
func (t *tbuf) u64(v uint64) { t.b = binary.LittleEndian.AppendUint64(t.b, v) }
func (t *tbuf) raw(v []byte) { t.b = append(t.b, v...) }

func ucs2(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUCS2(b []byte) string {
	if len(b)%2 == 1 {
		b = b[:len(b)-1]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// bvarchar: length in UTF-16 code units as one byte, then UCS-2.
func (t *tbuf) bvarchar(s string) {
	b := ucs2(s)
	if len(b) > 510 {
		b = b[:510]
	}
	t.u8(byte(len(b) / 2))
	t.raw(b)
}

// usvarchar: length in UTF-16 code units as uint16, then UCS-2.
func (t *tbuf) usvarchar(s string) {
	b := ucs2(s)
	if len(b) > 2*65535 {
		b = b[:2*65535]
	}
	t.u16(uint16(len(b) / 2))
	t.raw(b)
}

func msgToken(tok byte, m sqlMsg, server, proc string) []byte {
	var body tbuf
	body.u32(uint32(m.Number))
	body.u8(m.State)
	body.u8(m.Class)
	body.usvarchar(m.Text)
	body.bvarchar(server)
	body.bvarchar(proc)
	body.u32(uint32(m.Line))
	var t tbuf
	t.u8(tok)
	t.u16(uint16(len(body.b)))
	t.raw(body.b)
	return t.b
}

func doneToken(tok byte, status, curcmd uint16, rows uint64) []byte {
	var t tbuf
	t.u8(tok)
	t.u16(status)
	t.u16(curcmd)
	t.u64(rows)
	return t.b
}

func envChangeToken(typ byte, newv, oldv string) []byte {
	var body tbuf
	body.u8(typ)
	body.bvarchar(newv)
	body.bvarchar(oldv)
	var t tbuf
	t.u8(tokEnvChange)
	t.u16(uint16(len(body.b)))
	t.raw(body.b)
	return t.b
}

func collationEnvToken() []byte {
	var body tbuf
	body.u8(7)
	body.u8(byte(len(collation)))
	body.raw(collation)
	body.u8(0)
	var t tbuf
	t.u8(tokEnvChange)
	t.u16(uint16(len(body.b)))
	t.raw(body.b)
	return t.b
}

func resetAckToken() []byte {
	return []byte{tokEnvChange, 3, 0, 18, 0, 0}
}

// column describes one result column.
type column struct {
	name     string
	t        sqlType
	nullable bool
}

func numericBytes(prec uint8) int {
	switch {
	case prec <= 9:
		return 5
	case prec <= 19:
		return 9
	case prec <= 28:
		return 13
	}
	return 17
}

func timeBytes(scale uint8) int {
	switch {
	case scale <= 2:
		return 3
	case scale <= 4:
		return 4
	}
	return 5
}

func colMetadataToken(cols []column) []byte {
	var t tbuf
	t.u8(tokColMetadata)
	t.u16(uint16(len(cols)))
	for _, c := range cols {
		t.u32(0) // UserType
		flags := uint16(0)
		if c.nullable {
			flags |= 0x01
		}
		t.u16(flags)
		writeTypeInfo(&t, c.t)
		t.bvarchar(c.name)
	}
	return t.b
}

func writeTypeInfo(t *tbuf, ty sqlType) {
	switch ty.k {
	case kNull, kInt:
		size := ty.size
		if ty.k == kNull || size == 0 {
			size = 4
		}
		t.u8(tyIntN)
		t.u8(byte(size))
	case kBit:
		t.u8(tyBitN)
		t.u8(1)
	case kFloat:
		t.u8(tyFltN)
		if ty.size == 4 {
			t.u8(4)
		} else {
			t.u8(8)
		}
	case kNumeric:
		t.u8(tyNumericN)
		t.u8(byte(numericBytes(ty.prec)))
		t.u8(ty.prec)
		t.u8(ty.scale)
	case kNVarChar:
		t.u8(tyNVarChar)
		if ty.size < 0 || ty.size > 4000 {
			t.u16(0xFFFF)
		} else {
			t.u16(uint16(2 * max(ty.size, 1)))
		}
		t.raw(collation)
	case kVarChar:
		t.u8(tyBigVarChar)
		if ty.size < 0 || ty.size > 8000 {
			t.u16(0xFFFF)
		} else {
			t.u16(uint16(max(ty.size, 1)))
		}
		t.raw(collation)
	case kChar:
		t.u8(tyBigChar)
		t.u16(uint16(max(ty.size, 1)))
		t.raw(collation)
	case kVarBinary:
		t.u8(tyBigVarBin)
		if ty.size < 0 || ty.size > 8000 {
			t.u16(0xFFFF)
		} else {
			t.u16(uint16(max(ty.size, 1)))
		}
	case kDateTime:
		t.u8(tyDateTimeN)
		t.u8(8)
	case kDateTime2:
		t.u8(tyDateTime2N)
		t.u8(ty.scale)
	case kDateTimeOff:
		t.u8(tyDateTimeOffset)
		t.u8(ty.scale)
	case kDate:
		t.u8(tyDateN)
	case kGUID:
		t.u8(tyGUID)
		t.u8(16)
	case kVariant:
		t.u8(tyVariant)
		t.u32(8016)
	default:
		panic(fmt.Sprintf("sqlsim: no TDS type for %v", ty))
	}
}

func isPLP(ty sqlType) bool {
	switch ty.k {
	case kNVarChar:
		return ty.size < 0 || ty.size > 4000
	case kVarChar, kVarBinary:
		return ty.size < 0 || ty.size > 8000
	}
	return false
}

func rowToken(cols []column, row []value) []byte {
	var t tbuf
	t.u8(tokRow)
	for i, c := range cols {
		writeValue(&t, c.t, row[i])
	}
	return t.b
}

// fitsColumn refuses a value longer than its column's declared length:
// nvarchar(n) holds n UTF-16 code units, varchar, char and varbinary n
// bytes. (PLP columns, nvarchar(max) and the like, hold anything.)
func fitsColumn(c column, v value) *sqlError {
	if v.isNull() || isPLP(c.t) {
		return nil
	}
	n, unit := 0, "bytes"
	switch c.t.k {
	case kNVarChar:
		n, unit = utf16Len(toString(v)), "UTF-16 code units"
	case kVarChar, kChar:
		n = len(toString(v))
	case kVarBinary:
		b, _ := v.v.([]byte)
		n = len(b)
	default:
		return nil
	}
	if n > max(c.t.size, 1) {
		return errUnsupported("the value of column %q is %d %s, longer than its type %s allows", c.name, n, unit, c.t)
	}
	return nil
}

// writeValue encodes v (converted to column type ty) as a TYPE_VARBYTE.
func writeValue(t *tbuf, ty sqlType, v value) {
	if isPLP(ty) {
		if v.isNull() {
			t.u64(math.MaxUint64)
			return
		}
		var b []byte
		switch x := v.v.(type) {
		case string:
			if ty.k == kNVarChar {
				b = ucs2(x)
			} else {
				b = []byte(x)
			}
		case []byte:
			b = x
		default:
			b = ucs2(v.display())
		}
		t.u64(uint64(len(b)))
		if len(b) > 0 {
			t.u32(uint32(len(b)))
			t.raw(b)
		}
		t.u32(0)
		return
	}
	switch ty.k {
	case kNull, kInt, kBit, kFloat, kNumeric, kDateTime, kDateTime2, kDateTimeOff, kDate, kGUID:
		if v.isNull() {
			t.u8(0)
			return
		}
	case kNVarChar, kVarChar, kChar, kVarBinary:
		if v.isNull() {
			t.u16(0xFFFF)
			return
		}
	case kVariant:
		if v.isNull() {
			t.u32(0)
			return
		}
	}
	switch ty.k {
	case kNull:
		t.u8(0)
	case kInt:
		n := toInt64(v)
		size := ty.size
		t.u8(byte(size))
		switch size {
		case 1:
			t.u8(byte(n))
		case 2:
			t.u16(uint16(n))
		case 4:
			t.u32(uint32(n))
		default:
			t.u64(uint64(n))
		}
	case kBit:
		t.u8(1)
		if toInt64(v) != 0 {
			t.u8(1)
		} else {
			t.u8(0)
		}
	case kFloat:
		f := toFloat(v)
		if ty.size == 4 {
			t.u8(4)
			t.u32(math.Float32bits(float32(f)))
		} else {
			t.u8(8)
			t.u64(math.Float64bits(f))
		}
	case kNumeric:
		n := toUnscaled(v, ty.scale)
		size := numericBytes(ty.prec)
		t.u8(byte(size))
		if n.Sign() < 0 {
			t.u8(0)
		} else {
			t.u8(1)
		}
		mag := new(big.Int).Abs(n).Bytes() // big-endian
		le := make([]byte, size-1)
		for i := 0; i < len(mag) && i < len(le); i++ {
			le[i] = mag[len(mag)-1-i]
		}
		t.raw(le)
	case kNVarChar:
		b := ucs2(toString(v))
		t.u16(uint16(len(b)))
		t.raw(b)
	case kVarChar, kChar:
		b := []byte(toString(v))
		if ty.k == kChar && len(b) < ty.size {
			for len(b) < ty.size {
				b = append(b, ' ')
			}
		}
		t.u16(uint16(len(b)))
		t.raw(b)
	case kVarBinary:
		b, _ := v.v.([]byte)
		t.u16(uint16(len(b)))
		t.raw(b)
	case kDateTime:
		tm := v.v.(time.Time)
		days, ticks := encodeDateTime(tm)
		t.u8(8)
		t.u32(uint32(days))
		t.u32(ticks)
	case kDateTime2:
		tm := v.v.(time.Time)
		tb := timeBytes(ty.scale)
		t.u8(byte(tb + 3))
		writeTime(t, tm, ty.scale)
		writeDate(t, tm)
	case kDateTimeOff:
		tm := v.v.(time.Time)
		_, off := tm.Zone()
		u := tm.UTC()
		tb := timeBytes(ty.scale)
		t.u8(byte(tb + 5))
		writeTime(t, u, ty.scale)
		writeDate(t, u)
		t.u16(uint16(int16(off / 60)))
	case kDate:
		t.u8(3)
		writeDate(t, v.v.(time.Time))
	case kGUID:
		g := v.v.([16]byte)
		t.u8(16)
		t.raw(guidToWire(g))
	case kVariant:
		b := ucs2(toString(v))
		t.u32(uint32(2 + 7 + len(b)))
		t.u8(tyNVarChar)
		t.u8(7)
		t.raw(collation)
		t.u16(uint16(max(len(b), 2)))
		t.raw(b)
	}
}

// guidToWire turns a canonical GUID into SQL Server's byte order (the first
// three groups little-endian).
func guidToWire(g [16]byte) []byte {
	b := make([]byte, 16)
	copy(b, g[:])
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	return b
}

func guidFromWire(b []byte) [16]byte {
	var g [16]byte
	copy(g[:], b)
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	return g
}

var day0001 = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
var day1900 = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// civilDays counts the days from base to t's calendar date (time.Duration
// cannot span the centuries since 0001-01-01).
func civilDays(t time.Time, base time.Time) int {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return int((d.Unix() - base.Unix()) / 86400)
}

func encodeDateTime(tm time.Time) (int32, uint32) {
	days := civilDays(tm, day1900)
	secs := tm.Hour()*3600 + tm.Minute()*60 + tm.Second()
	ticks := uint32(secs*300) + uint32(math.Round(float64(tm.Nanosecond())*300/1e9))
	if ticks >= 300*86400 {
		ticks -= 300 * 86400
		days++
	}
	return int32(days), ticks
}

func writeTime(t *tbuf, tm time.Time, scale uint8) {
	ns := int64(tm.Hour()*3600+tm.Minute()*60+tm.Second())*1e9 + int64(tm.Nanosecond())
	units := ns / int64(math.Pow10(9-int(scale)))
	n := timeBytes(scale)
	for i := 0; i < n; i++ {
		t.u8(byte(units >> (8 * i)))
	}
}

func writeDate(t *tbuf, tm time.Time) {
	days := civilDays(tm, day0001)
	t.u8(byte(days))
	t.u8(byte(days >> 8))
	t.u8(byte(days >> 16))
}

func toInt64(v value) int64 {
	switch x := v.v.(type) {
	case int64:
		return x
	case bool:
		if x {
			return 1
		}
		return 0
	case float64:
		return int64(x)
	case *big.Int:
		r, _ := v.toRat()
		f, _ := r.Float64()
		return int64(f)
	}
	return 0
}

func toFloat(v value) float64 {
	if r, ok := v.toRat(); ok {
		f, _ := r.Float64()
		return f
	}
	return 0
}

func toUnscaled(v value, scale uint8) *big.Int {
	r, ok := v.toRat()
	if !ok {
		return new(big.Int)
	}
	d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	r = new(big.Rat).Mul(r, new(big.Rat).SetInt(d))
	return new(big.Int).Quo(r.Num(), r.Denom())
}

func toString(v value) string {
	if s, ok := v.v.(string); ok {
		return s
	}
	return v.display()
}
