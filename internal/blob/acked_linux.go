package blob

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ackedBytes returns how many bytes the peer has acknowledged on a TCP
// connection, and how long ago its last acknowledgement arrived (Linux's
// tcpi_bytes_acked and tcpi_last_ack_recv): progress that Read and Write do
// not show while the kernel's send buffer drains.
func ackedBytes(c net.Conn) (acked uint64, since time.Duration, ok bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var info *unix.TCPInfo
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || gerr != nil {
		return 0, 0, false
	}
	return info.Bytes_acked, time.Duration(info.Last_ack_recv) * time.Millisecond, true
}
