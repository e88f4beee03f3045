package health

import (
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

func TestListenersAreTheMastersListeningSocketsOnly(t *testing.T) {
	mine := map[string]bool{"1001": true, "1002": true, "1003": true, "1004": true, "1005": true}
	v4, err := parseListeners(strings.NewReader(tcpTable), mine)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := parseListeners(strings.NewReader(tcp6Table), mine)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(append(v4, v6...), " ")
	want := "127.0.0.1:8080 127.0.0.1:80 [::1]:443 [::1]:8081"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestParseAddrRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "0100007F", "0100007G:1F90", "0100:1F90", "0100007F:FFFFF"} {
		if _, err := parseAddr(s); err == nil {
			t.Errorf("parseAddr(%q) accepted", s)
		}
	}
}
