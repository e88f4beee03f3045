package health

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// listenAndConnect opens TCP listeners on IPv4 and IPv6 loopback and the wildcard, a UDP socket
// bound on loopback, a UDP socket connected to it (not a listener), a listening unix socket and
// a connected pair of unix sockets (not listeners), plus n established TCP connections to the
// first listener, and returns the listeners as Listeners finds them.
func listenAndConnect(t testing.TB, n int) []Listener {
	t.Helper()
	var want []Listener
	var first net.Listener
	for _, a := range []string{"127.0.0.1:0", "[::1]:0", "0.0.0.0:0"} {
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if first == nil {
			first = l
		}
		addr := l.Addr().(*net.TCPAddr)
		want = append(want, Listener{"tcp", dialable(addr.IP.To16()[16-len(addr.IP):], uint16(addr.Port))})
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	want = append(want, Listener{"udp", udp.LocalAddr().String()})
	connected, err := net.Dial("udp", udp.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { connected.Close() })
	sock := filepath.Join(t.TempDir(), "listen.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ul.Close() })
	want = append(want, Listener{"unix", sock})
	uc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	go func() {
		for {
			c, err := first.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	for range n {
		c, err := net.Dial("tcp", first.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	sortListeners(want)
	return want
}

// Asked of the kernel or read from the tables, the listeners are the same: this process's
// listening sockets, TCP, UDP and unix, and not its established or connected ones.
func TestListenersFromSockDiagAndFromTablesAgree(t *testing.T) {
	want := listenAndConnect(t, 20)
	inodes, err := socketInodes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	fromTables, err := tableListeners(os.Getpid(), inodes)
	if err != nil {
		t.Fatal(err)
	}
	diag, err := diagListeners()
	if err != nil {
		t.Fatalf("sock_diag: %v", err)
	}
	var fromDiag []Listener
	for _, l := range diag {
		if inodes[fmtInode(l.inode)] {
			fromDiag = append(fromDiag, l.l)
		}
	}
	sortListeners(fromDiag)
	if !slices.Equal(fromDiag, want) || !slices.Equal(fromTables, want) {
		t.Fatalf("sock_diag %v, tables %v; want %v", fromDiag, fromTables, want)
	}
	got, err := Listeners(os.Getpid())
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Listeners = %v, %v; want %v", got, err, want)
	}
}

// A sock_diag dump that fails (its *_diag module missing) costs that table's read only, and the
// listeners are the same.
func TestListenersFallBackToTheTableOfADumpThatFails(t *testing.T) {
	want := listenAndConnect(t, 0)
	inodes, err := socketInodes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	s, err := openDiag()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var asked []string
	got, err := collectListeners(os.Getpid(), inodes, func(table string, seq uint32) ([]diagListener, error) {
		asked = append(asked, table)
		if table == "udp" || table == "unix" {
			return nil, errors.New("sock_diag: no such file or directory")
		}
		return s.dump(table, seq)
	})
	sortListeners(got)
	if err != nil || !slices.Equal(got, want) || !slices.Equal(asked, netTables) {
		t.Fatalf("with udp and unix dumps failing: %v, %v (asked %v); want %v", got, err, asked, want)
	}
}

// nlmsg is a netlink message of typ carrying data, as sock_diag replies.
func nlmsg(typ uint16, data []byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(data))
	binary.NativeEndian.PutUint32(b, uint32(unix.SizeofNlMsghdr+len(data)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	return append(b, data...)
}

func TestParseDiagReadsListenersAndErrors(t *testing.T) {
	sock := func(family, state uint8, ip []byte, port uint16, inode uint32) []byte {
		d := make([]byte, sizeofDiagMsg)
		d[0], d[1] = family, state
		binary.BigEndian.PutUint16(d[4:], port)
		copy(d[8:], ip)
		binary.NativeEndian.PutUint32(d[4+sizeofSockID+16:], inode)
		return d
	}
	dump := slices.Concat(
		nlmsg(unix.SOCK_DIAG_BY_FAMILY, sock(unix.AF_INET, tcpStateListen, []byte{127, 0, 0, 1}, 8080, 7)),
		nlmsg(unix.SOCK_DIAG_BY_FAMILY, sock(unix.AF_INET6, tcpStateListen, make([]byte, 16), 443, 8)),
		nlmsg(unix.SOCK_DIAG_BY_FAMILY, sock(unix.AF_INET, 1, []byte{127, 0, 0, 1}, 8080, 9)), // established
		nlmsg(unix.SOCK_DIAG_BY_FAMILY, sock(unix.AF_INET, tcpStateClose, []byte{0, 0, 0, 0}, 5353, 10)),
		nlmsg(unix.NLMSG_DONE, make([]byte, 4)),
	)
	found, done, err := parseDiag(dump)
	if err != nil || !done {
		t.Fatalf("parseDiag: done %v, err %v", done, err)
	}
	want := []diagListener{{7, Listener{"tcp", "127.0.0.1:8080"}}, {8, Listener{"tcp", "[::1]:443"}}, {10, Listener{"udp", "127.0.0.1:5353"}}}
	if !slices.Equal(found, want) {
		t.Fatalf("found %v, want %v", found, want)
	}
	errno := make([]byte, 4)
	eacces := -int32(unix.EACCES)
	binary.NativeEndian.PutUint32(errno, uint32(eacces))
	if _, _, err := parseDiag(nlmsg(unix.NLMSG_ERROR, errno)); err == nil || err.Error() != "sock_diag: permission denied" {
		t.Errorf("error reply: %v", err)
	}
	if _, _, err := parseDiag(nlmsg(unix.SOCK_DIAG_BY_FAMILY, make([]byte, 10))); err == nil {
		t.Errorf("short message accepted")
	}
}

func TestParseUnixDiagReadsNamedListeners(t *testing.T) {
	attr := func(typ uint16, val []byte) []byte {
		b := make([]byte, unix.SizeofRtAttr, 8+len(val))
		binary.NativeEndian.PutUint16(b, uint16(unix.SizeofRtAttr+len(val)))
		binary.NativeEndian.PutUint16(b[2:], typ)
		b = append(b, val...)
		for len(b)%unix.RTA_ALIGNTO != 0 {
			b = append(b, 0)
		}
		return b
	}
	sock := func(state uint8, inode uint32, attrs ...[]byte) []byte {
		d := make([]byte, sizeofUnixDiagMsg)
		d[0], d[1], d[2] = unix.AF_UNIX, unix.SOCK_STREAM, state
		binary.NativeEndian.PutUint32(d[4:], inode)
		return slices.Concat(append([][]byte{d}, attrs...)...)
	}
	dump := slices.Concat(
		nlmsg(unix.SOCK_DIAG_BY_FAMILY, sock(tcpStateListen, 7, attr(5, []byte{1, 2, 3}), attr(unixDiagName, []byte("/run/x.sock\x00")))),
		nlmsg(unix.SOCK_DIAG_BY_FAMILY, sock(tcpStateListen, 8, attr(unixDiagName, []byte("\x00abstract")))),
		nlmsg(unix.SOCK_DIAG_BY_FAMILY, sock(tcpStateListen, 9)), // unnamed: not dialable
		nlmsg(unix.SOCK_DIAG_BY_FAMILY, sock(1, 10, attr(unixDiagName, []byte("/run/peer.sock")))),
		nlmsg(unix.NLMSG_DONE, make([]byte, 4)),
	)
	found, done, err := parseUnixDiag(dump)
	if err != nil || !done {
		t.Fatalf("parseUnixDiag: done %v, err %v", done, err)
	}
	want := []diagListener{{7, Listener{"unix", "/run/x.sock"}}, {8, Listener{"unix", "@abstract"}}}
	if !slices.Equal(found, want) {
		t.Fatalf("found %v, want %v", found, want)
	}
	bad := sock(tcpStateListen, 7, attr(unixDiagName, []byte("/x")))
	binary.NativeEndian.PutUint16(bad[sizeofUnixDiagMsg:], 200) // longer than the message
	if _, _, err := parseUnixDiag(nlmsg(unix.SOCK_DIAG_BY_FAMILY, bad)); err == nil {
		t.Errorf("attribute past the message's end accepted")
	}
	if _, _, err := parseUnixDiag(nlmsg(unix.SOCK_DIAG_BY_FAMILY, make([]byte, 10))); err == nil {
		t.Errorf("short message accepted")
	}
}

// What finding the master's listeners costs among many other sockets, the way the health checks
// do it during a swap: read from /proc/PID/net/tcp{,6}, or asked of the kernel. Compare the two
// as a ratio within one run.
func BenchmarkListeners(b *testing.B) {
	listenAndConnect(b, 5000) // 10,000 established sockets beside 3 listeners
	pid := os.Getpid()
	inodes, err := socketInodes(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("proc-tables", func(b *testing.B) {
		for b.Loop() {
			if _, err := tableListeners(pid, inodes); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sock-diag", func(b *testing.B) {
		for b.Loop() {
			if _, err := diagListeners(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
