package health

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Captured from /proc/PID/net/tcp and tcp6 of an nginx listening on 127.0.0.1:8080, 0.0.0.0:80
// and [::]:443, with one established connection that must not be reported.
const tcpTable = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9999 1 0000000000000000 100 0 0 10 0
`
const tcp6Table = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1005 1 0000000000000000 100 0 0 10 0
`

// Captured from /proc/PID/net/udp of an nginx with `listen 127.0.0.1:5353 udp;` in a stream
// block (1006), beside a connected UDP socket (state 01) and another process's bound one.
const udpTable = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  127: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1006 2 0000000000000000 0
  300: 0100007F:D8F2 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 1007 2 0000000000000000 0
  301: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9998 2 0000000000000000 0
`

// Captured from /proc/PID/net/unix of an nginx with `listen unix:/run/nginx test.sock;` (1008,
// flags __SO_ACCEPTCON, a path with a space), its master–worker channels (unnamed socketpairs),
// a connected syslog socket, and an abstract listener (@nginx-abstract, 1011).
const unixTable = `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 1008 /run/nginx test.sock
0000000000000000: 00000003 00000000 00000000 0001 03 1009
0000000000000000: 00000002 00000000 00000000 0002 01 1010 /dev/log
0000000000000000: 00000002 00000000 00010000 0001 01 1011 @nginx-abstract
0000000000000000: 00000002 00000000 00010000 0001 01 9997 /run/other.sock
`

func TestListenersAreTheMastersListeningSocketsOnly(t *testing.T) {
	mine := map[string]bool{}
	for i := 1001; i <= 1011; i++ {
		mine[fmt.Sprint(i)] = true
	}
	var got []Listener
	for _, tb := range []struct{ table, network string }{{tcpTable, "tcp"}, {tcp6Table, "tcp"}, {udpTable, "udp"}} {
		ls, err := parseListeners(strings.NewReader(tb.table), mine, tb.network)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ls...)
	}
	ls, err := parseUnixListeners(strings.NewReader(unixTable), mine)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, ls...)
	want := []Listener{{"tcp", "127.0.0.1:8080"}, {"tcp", "127.0.0.1:80"}, {"tcp", "[::1]:443"}, {"tcp", "[::1]:8081"},
		{"udp", "127.0.0.1:5353"}, {"unix", "/run/nginx test.sock"}, {"unix", "@nginx-abstract"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestParseUnixListenersRejectsBadFlags(t *testing.T) {
	table := "Num RefCount Protocol Flags Type St Inode Path\n0: 00000002 00000000 0001000Z 0001 01 1008 /run/x.sock\n"
	if _, err := parseUnixListeners(strings.NewReader(table), map[string]bool{"1008": true}); err == nil {
		t.Fatal("bad flags accepted")
	}
}

func TestParseAddrRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "0100007F", "0100007G:1F90", "0100:1F90", "0100007F:FFFFF"} {
		if _, err := parseAddr(s); err == nil {
			t.Errorf("parseAddr(%q) accepted", s)
		}
	}
}
