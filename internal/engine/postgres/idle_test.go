package postgres

import (
	"encoding/binary"
	"testing"
)

type walRec struct {
	tot       int
	xid       uint32
	info, rmd byte
}

// walBytes lays records out as the server does: MAXALIGNed in a stream
// cut into pages of pageSize with a long header on the first page and
// short ones after. cut drops that many bytes from the end (a flushed end
// inside the last record); cont marks the first page as continuing a record.
func walBytes(recs []walRec, pageSize, cut int, cont bool) []byte {
	var c []byte
	for _, r := range recs {
		h := make([]byte, r.tot)
		binary.LittleEndian.PutUint32(h[0:], uint32(r.tot))
		binary.LittleEndian.PutUint32(h[4:], r.xid)
		h[16], h[17] = r.info, r.rmd
		for j := walRecordHdr; j < r.tot; j++ {
			h[j] = 0xAB
		}
		c = append(c, h...)
		for len(c)%8 != 0 {
			c = append(c, 0)
		}
	}
	c = c[:len(c)-cut]
	var b []byte
	for off := 0; len(c) > 0; off += pageSize {
		hdr := make([]byte, walShortPage)
		if off == 0 {
			hdr = make([]byte, walLongPageHdr)
			if cont {
				binary.LittleEndian.PutUint16(hdr[2:], xlpContRecord)
			}
		}
		n := min(pageSize-len(hdr), len(c))
		b = append(b, hdr...)
		b = append(b, c[:n]...)
		c = c[n:]
	}
	return b
}

// TestBackgroundOnly: only whole, transaction-less XLOG and standby
// records, parsed exactly to the end, are background; a record across a
// page boundary (header included) is followed.
func TestBackgroundOnly(t *testing.T) {
	const page = 8192
	snapshot := walRec{tot: 50, info: 0x10, rmd: rmStandby}
	checkpoint := walRec{tot: 114, info: 0x10, rmd: rmXLOG}
	big := walRec{tot: 20000, info: 0xA0, rmd: rmXLOG} // an FPI for hints, across pages
	// A record whose header starts 8 bytes before a page's end.
	pad := walRec{tot: page - walLongPageHdr - 8 - 4, info: 0xA0, rmd: rmXLOG}
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"snapshot and checkpoint", walBytes([]walRec{snapshot, checkpoint, snapshot}, page, 0, false), true},
		{"records across pages", walBytes([]walRec{snapshot, big, checkpoint, big, snapshot}, page, 0, false), true},
		{"a header split across pages", walBytes([]walRec{pad, checkpoint, snapshot}, page, 0, false), true},
		{"a transaction ID", walBytes([]walRec{snapshot, {tot: 34, xid: 731, rmd: 1}}, page, 0, false), false},
		{"a heap record without one", walBytes([]walRec{snapshot, {tot: 59, rmd: 9}}, page, 0, false), false},
		{"a restore point", walBytes([]walRec{snapshot, {tot: 98, info: xlogRestorePt, rmd: rmXLOG}}, page, 0, false), false},
		{"a record continued from the last segment", walBytes([]walRec{snapshot}, page, 0, true), false},
		{"the last record not whole", walBytes([]walRec{snapshot, big}, page, 1000, false), false},
		{"a header not whole", walBytes([]walRec{snapshot, checkpoint}, page, 100, false), false},
		{"nothing after the page header", make([]byte, walLongPageHdr), true},
		{"garbage", append(make([]byte, walLongPageHdr), 0xff, 0xff, 0, 0, 0, 0, 0, 0), false},
		{"zeros", make([]byte, walLongPageHdr+64), false},
	} {
		if got := backgroundOnly(c.b, page); got != c.want {
			t.Errorf("%s: backgroundOnly = %v; want %v", c.name, got, c.want)
		}
	}
}
