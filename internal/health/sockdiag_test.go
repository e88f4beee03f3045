package health

import (
	"encoding/binary"
	"net"
	"os"
	"slices"
	"sort"
	"testing"

	"golang.org/x/sys/unix"
)

// listenAndConnect opens listeners on IPv4 and IPv6 loopback and the wildcard, plus n
// established connections to the first, and returns the listeners' dialable addresses.
func listenAndConnect(t testing.TB, n int) []string {
	t.Helper()
	var want []string
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
		want = append(want, dialable(addr.IP.To16()[16-len(addr.IP):], uint16(addr.Port)))
	}
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
	sort.Strings(want)
	return want
}

// Asked of the kernel or read from the tables, the listeners are the same: this process's
// listening sockets, and not its established ones.
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
	var fromDiag []string
	for _, l := range diag {
		if inodes[fmtInode(l.inode)] {
			fromDiag = append(fromDiag, l.addr)
		}
	}
	sort.Strings(fromDiag)
	if !slices.Equal(fromDiag, want) || !slices.Equal(fromTables, want) {
		t.Fatalf("sock_diag %v, tables %v; want %v", fromDiag, fromTables, want)
	}
	got, err := Listeners(os.Getpid())
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Listeners = %v, %v; want %v", got, err, want)
	}
}

func TestParseDiagReadsListenersAndErrors(t *testing.T) {
	msg := func(typ uint16, data []byte) []byte {
		b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(data))
		binary.NativeEndian.PutUint32(b, uint32(unix.SizeofNlMsghdr+len(data)))
		binary.NativeEndian.PutUint16(b[4:], typ)
		return append(b, data...)
	}
	sock := func(family, state uint8, ip []byte, port uint16, inode uint32) []byte {
		d := make([]byte, sizeofDiagMsg)
		d[0], d[1] = family, state
		binary.BigEndian.PutUint16(d[4:], port)
		copy(d[8:], ip)
		binary.NativeEndian.PutUint32(d[4+sizeofSockID+16:], inode)
		return d
	}
	dump := slices.Concat(
		msg(unix.SOCK_DIAG_BY_FAMILY, sock(unix.AF_INET, tcpStateListen, []byte{127, 0, 0, 1}, 8080, 7)),
		msg(unix.SOCK_DIAG_BY_FAMILY, sock(unix.AF_INET6, tcpStateListen, make([]byte, 16), 443, 8)),
		msg(unix.SOCK_DIAG_BY_FAMILY, sock(unix.AF_INET, 1, []byte{127, 0, 0, 1}, 8080, 9)), // established
		msg(unix.NLMSG_DONE, make([]byte, 4)),
	)
	found, done, err := parseDiag(dump)
	if err != nil || !done {
		t.Fatalf("parseDiag: done %v, err %v", done, err)
	}
	want := []diagListener{{7, "127.0.0.1:8080"}, {8, "[::1]:443"}}
	if !slices.Equal(found, want) {
		t.Fatalf("found %v, want %v", found, want)
	}
	errno := make([]byte, 4)
	eacces := -int32(unix.EACCES)
	binary.NativeEndian.PutUint32(errno, uint32(eacces))
	if _, _, err := parseDiag(msg(unix.NLMSG_ERROR, errno)); err == nil || err.Error() != "sock_diag: permission denied" {
		t.Errorf("error reply: %v", err)
	}
	if _, _, err := parseDiag(msg(unix.SOCK_DIAG_BY_FAMILY, make([]byte, 10))); err == nil {
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
