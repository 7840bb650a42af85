package sqlsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// rd reads a TDS message body; a short read sets err and yields zeros.
type rd struct {
	b   []byte
	pos int
	err error
}

func (r *rd) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || r.pos+n > len(r.b) {
		r.err = errors.New("sqlsim: truncated TDS message")
		return false
	}
	return true
}

func (r *rd) bytes(n int) []byte {
	if !r.need(n) {
		return make([]byte, max(n, 0))
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

func (r *rd) u8() byte    { return r.bytes(1)[0] }
func (r *rd) u16() uint16 { return binary.LittleEndian.Uint16(r.bytes(2)) }
func (r *rd) u32() uint32 { return binary.LittleEndian.Uint32(r.bytes(4)) }
func (r *rd) u64() uint64 { return binary.LittleEndian.Uint64(r.bytes(8)) }
func (r *rd) done() bool  { return r.err == nil && r.pos >= len(r.b) }
func (r *rd) bvarchar() string {
	n := int(r.u8())
	return fromUCS2(r.bytes(2 * n))
}

// skipAllHeaders skips the ALL_HEADERS block that TDS 7.2+ requests start with.
func skipAllHeaders(r *rd) {
	if len(r.b) < 4 {
		return
	}
	total := int(binary.LittleEndian.Uint32(r.b[0:4]))
	if total >= 4 && total <= len(r.b) {
		// A plausible ALL_HEADERS block: its first header's length is inside it.
		if total == 4 || (total >= 10 && int(binary.LittleEndian.Uint32(r.b[4:8])) <= total-4) {
			r.pos = total
		}
	}
}

// rpcCall is one decoded RPC request.
type rpcCall struct {
	procName string
	procID   uint16
	params   []rpcParam
}

type rpcParam struct {
	name   string
	output bool
	val    value
}

func parseRPC(b []byte) (*rpcCall, error) {
	r := &rd{b: b}
	skipAllHeaders(r)
	call := &rpcCall{}
	n := r.u16()
	if n == 0xFFFF {
		call.procID = r.u16()
	} else {
		call.procName = fromUCS2(r.bytes(2 * int(n)))
	}
	_ = r.u16() // option flags
	for !r.done() && r.err == nil {
		if r.b[r.pos] == 0x80 || r.b[r.pos] == 0xFF || r.b[r.pos] == 0xFE {
			return nil, errors.New("sqlsim: batched RPC requests are not supported")
		}
		var p rpcParam
		p.name = r.bvarchar()
		status := r.u8()
		p.output = status&0x01 != 0
		if status&0x08 != 0 {
			return nil, errors.New("sqlsim: encrypted parameters are not supported")
		}
		v, err := readParamValue(r)
		if err != nil {
			return nil, err
		}
		p.val = v
		call.params = append(call.params, p)
	}
	if r.err != nil {
		return nil, r.err
	}
	return call, nil
}

// readParamValue decodes TYPE_INFO then the value (MS-TDS 2.2.5.4 - 2.2.5.6).
func readParamValue(r *rd) (value, error) {
	ty := r.u8()
	switch ty {
	case tyNull:
		return null(sqlType{k: kNull}), nil
	case tyInt1:
		return value{t: tTinyInt, v: int64(r.u8())}, nil
	case tyBit:
		return value{t: tBit, v: r.u8() != 0}, nil
	case tyInt2:
		return value{t: tSmallInt, v: int64(int16(r.u16()))}, nil
	case tyInt4:
		return value{t: tInt, v: int64(int32(r.u32()))}, nil
	case tyInt8:
		return value{t: tBigInt, v: int64(r.u64())}, nil
	case tyFlt4:
		return value{t: sqlType{k: kFloat, size: 4}, v: float64(math.Float32frombits(r.u32()))}, nil
	case tyFlt8:
		return value{t: sqlType{k: kFloat, size: 8}, v: math.Float64frombits(r.u64())}, nil
	case tyDateTime:
		return value{t: tDateTime, v: decodeDateTime(r.bytes(8))}, nil
	case tyDateTim4:
		return value{t: tDateTime, v: decodeSmallDateTime(r.bytes(4))}, nil
	case tyMoney, tyMoney4:
		return value{}, fmt.Errorf("sqlsim: money parameters are not supported")
	case tyIntN, tyBitN, tyFltN, tyDateTimeN, tyGUID, tyMoneyN:
		maxLen := r.u8()
		_ = maxLen
		n := int(r.u8())
		data := r.bytes(n)
		switch ty {
		case tyIntN:
			t := sqlType{k: kInt, size: int(maxLen)}
			if n == 0 {
				return null(t), nil
			}
			switch n {
			case 1:
				return value{t: t, v: int64(data[0])}, nil
			case 2:
				return value{t: t, v: int64(int16(binary.LittleEndian.Uint16(data)))}, nil
			case 4:
				return value{t: t, v: int64(int32(binary.LittleEndian.Uint32(data)))}, nil
			case 8:
				return value{t: t, v: int64(binary.LittleEndian.Uint64(data))}, nil
			}
		case tyBitN:
			if n == 0 {
				return null(tBit), nil
			}
			return value{t: tBit, v: data[0] != 0}, nil
		case tyFltN:
			t := sqlType{k: kFloat, size: int(maxLen)}
			switch n {
			case 0:
				return null(t), nil
			case 4:
				return value{t: t, v: float64(math.Float32frombits(binary.LittleEndian.Uint32(data)))}, nil
			case 8:
				return value{t: t, v: math.Float64frombits(binary.LittleEndian.Uint64(data))}, nil
			}
		case tyDateTimeN:
			switch n {
			case 0:
				return null(tDateTime), nil
			case 4:
				return value{t: tDateTime, v: decodeSmallDateTime(data)}, nil
			case 8:
				return value{t: tDateTime, v: decodeDateTime(data)}, nil
			}
		case tyGUID:
			if n == 0 {
				return null(tGUID), nil
			}
			if n == 16 {
				return value{t: tGUID, v: guidFromWire(data)}, nil
			}
		case tyMoneyN:
			return value{}, fmt.Errorf("sqlsim: money parameters are not supported")
		}
		return value{}, fmt.Errorf("sqlsim: bad length %d for type 0x%02X", n, ty)
	case tyDecimalN, tyNumericN, tyDecimal, tyNumeric:
		_ = r.u8() // max length
		prec, scale := r.u8(), r.u8()
		t := sqlType{k: kNumeric, prec: prec, scale: scale}
		n := int(r.u8())
		if n == 0 {
			return null(t), nil
		}
		data := r.bytes(n)
		mag := make([]byte, n-1)
		for i := 1; i < n; i++ {
			mag[n-1-i] = data[i]
		}
		x := new(big.Int).SetBytes(mag)
		if data[0] == 0 {
			x.Neg(x)
		}
		return value{t: t, v: x}, nil
	case tyDateN:
		n := int(r.u8())
		if n == 0 {
			return null(sqlType{k: kDate}), nil
		}
		return value{t: sqlType{k: kDate}, v: decodeDate(r.bytes(3))}, nil
	case tyTimeN, tyDateTime2N, tyDateTimeOffset:
		scale := r.u8()
		n := int(r.u8())
		var t sqlType
		switch ty {
		case tyTimeN:
			return value{}, fmt.Errorf("sqlsim: time parameters are not supported")
		case tyDateTime2N:
			t = sqlType{k: kDateTime2, scale: scale}
		default:
			t = sqlType{k: kDateTimeOff, scale: scale}
		}
		if n == 0 {
			return null(t), nil
		}
		data := r.bytes(n)
		tb := timeBytes(scale)
		if len(data) < tb+3 {
			return value{}, fmt.Errorf("sqlsim: bad date/time parameter")
		}
		ns := decodeTimeUnits(data[:tb], scale)
		d := decodeDate(data[tb : tb+3])
		tm := d.Add(time.Duration(ns))
		if ty == tyDateTimeOffset {
			if len(data) < tb+5 {
				return value{}, fmt.Errorf("sqlsim: bad datetimeoffset parameter")
			}
			off := int(int16(binary.LittleEndian.Uint16(data[tb+3:])))
			tm = tm.In(time.FixedZone("", off*60))
		}
		return value{t: t, v: tm}, nil
	case tyBigVarBin, tyBigBinary, tyBigVarChar, tyBigChar, tyNVarChar, tyNChar:
		maxLen := int(r.u16())
		if ty != tyBigVarBin && ty != tyBigBinary {
			r.bytes(5) // collation
		}
		var data []byte
		isNull := false
		if maxLen == 0xFFFF {
			total := r.u64()
			if total == math.MaxUint64 {
				isNull = true
			} else {
				for r.err == nil {
					chunk := int(r.u32())
					if chunk == 0 {
						break
					}
					data = append(data, r.bytes(chunk)...)
				}
			}
		} else {
			n := int(r.u16())
			if n == 0xFFFF {
				isNull = true
			} else {
				data = r.bytes(n)
			}
		}
		var t sqlType
		size := maxLen
		if maxLen == 0xFFFF {
			size = -1
		}
		switch ty {
		case tyNVarChar, tyNChar:
			if size > 0 {
				size /= 2
			}
			t = sqlType{k: kNVarChar, size: size}
			if isNull {
				return null(t), nil
			}
			return value{t: t, v: fromUCS2(data)}, nil
		case tyBigVarChar, tyBigChar:
			t = sqlType{k: kVarChar, size: size}
			if isNull {
				return null(t), nil
			}
			return value{t: t, v: latin1(data)}, nil
		default:
			t = sqlType{k: kVarBinary, size: size}
			if isNull {
				return null(t), nil
			}
			return value{t: t, v: append([]byte(nil), data...)}, nil
		}
	}
	return value{}, fmt.Errorf("sqlsim: parameter type 0x%02X is not supported", ty)
}

func latin1(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

func decodeDateTime(b []byte) time.Time {
	days := int32(binary.LittleEndian.Uint32(b))
	ticks := binary.LittleEndian.Uint32(b[4:])
	ns := int64(math.Round(float64(ticks) * 1e9 / 300 / 1e6)) // to ms, as SQL Server rounds
	return day1900.AddDate(0, 0, int(days)).Add(time.Duration(ns) * time.Millisecond)
}

func decodeSmallDateTime(b []byte) time.Time {
	days := binary.LittleEndian.Uint16(b)
	mins := binary.LittleEndian.Uint16(b[2:])
	return day1900.AddDate(0, 0, int(days)).Add(time.Duration(mins) * time.Minute)
}

func decodeDate(b []byte) time.Time {
	days := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	return day0001.AddDate(0, 0, days)
}

func decodeTimeUnits(b []byte, scale uint8) int64 {
	var u uint64
	for i := len(b) - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	return int64(u) * int64(math.Pow10(9-int(scale)))
}
