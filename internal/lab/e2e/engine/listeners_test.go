//go:build e2e

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/health"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
)

// An nginx that listens on a unix socket only, swapped under load sent over that socket (the
// open-loop stream and the slow downloads; wrk cannot connect to a unix socket): the listener
// check dials the socket, the health URL is fetched over it, nothing fails, and the socket is
// still there, served by the new build, after the old master quit.
func TestUnixOnlyNginxIsSwappedUnderLoadOverItsSocket(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{Unix: true, NoTCP: true})
	mustInstall(t, n, b.New, nil)
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{})

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "2s", "--health", n.UnixURL("/health"), "--json")

	labtest.NoLoss(t, tr)
	if r.code != 0 || r.json.Outcome != upgrade.Success {
		t.Fatalf("exit %d outcome %s (%s), want 0 success", r.code, r.json.Outcome, r.json.Error)
	}
	servingAlone(t, n, r.json.NewMasterPID, b.New)
	wantListeners(t, n, health.Listener{Network: "unix", Addr: n.Socket})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := health.Get(ctx, n.UnixURL("/health")); err != nil {
		t.Fatalf("after the swap: %v", err)
	}
}

// TCP and a unix socket side by side: traffic on both, both dialled and a health URL on each;
// both still listened on by the new master.
func TestTCPAndUnixNginxIsSwappedUnderLoadOnBoth(t *testing.T) {
	b := testbed.BuildsT(t)
	n := testbed.StartT(t, b.Old, testbed.Config{Unix: true})
	mustInstall(t, n, b.New, nil)
	overTCP := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{})
	overUnix := testbed.TrafficT(t, n.UnixSite(), testbed.TrafficConfig{Downloads: 1})

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "2s",
		"--health", n.URL("/health"), "--health", n.UnixURL("/health"), "--json")

	labtest.NoLoss(t, overTCP)
	labtest.NoLoss(t, overUnix)
	if r.code != 0 || r.json.Outcome != upgrade.Success {
		t.Fatalf("exit %d outcome %s (%s), want 0 success", r.code, r.json.Outcome, r.json.Error)
	}
	servingAlone(t, n, r.json.NewMasterPID, b.New)
	wantListeners(t, n,
		health.Listener{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", n.Port)},
		health.Listener{Network: "unix", Addr: n.Socket})
}

// A stream server listening on UDP: status lists it (text and --json) and the checks, which
// cannot dial it, do not fail for it: a re-exec (its module replaced on disk, so that the same
// build can be swapped whatever versions the archive serves) succeeds under load, and the
// new build answers on the UDP port.
func TestStreamUDPListenerIsShownAndTheSwapSucceeds(t *testing.T) {
	_, n, mod := moduleNginx(t, testbed.Config{UDP: true})
	udp := health.Listener{Network: "udp", Addr: fmt.Sprintf("127.0.0.1:%d", n.UDPPort)}
	tcp := health.Listener{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", n.Port)}
	pong(t, udp.Addr)
	wantListeners(t, n, tcp, udp)
	text := ctl(t, "status", "--pid-file", n.PidFile)
	if want := "listen:   udp " + udp.Addr + " (listed, not dialled by the checks)\n"; text.code != 0 || !strings.Contains(text.stdout, want) {
		t.Fatalf("status: exit %d, want 0 and the line %q", text.code, want)
	}
	installByRename(t, mod, mod)
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{})

	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "2s", "--health", n.URL("/health"), "--json")

	labtest.NoLoss(t, tr)
	if r.code != 0 || r.json.Outcome != upgrade.Success {
		t.Fatalf("exit %d outcome %s (%s), want 0 success", r.code, r.json.Outcome, r.json.Error)
	}
	if got := wantListeners(t, n, tcp, udp); got.Pid != r.json.NewMasterPID {
		t.Fatalf("status shows master %d, want the new one %d", got.Pid, r.json.NewMasterPID)
	}
	pong(t, udp.Addr)
}

// wantListeners asserts status --json shows the one master listening on exactly want, and
// returns that master.
func wantListeners(t *testing.T, n *testbed.Nginx, want ...health.Listener) upgrade.MasterStatus {
	t.Helper()
	r := ctl(t, "status", "--pid-file", n.PidFile, "--json")
	var st upgrade.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 || len(st.Masters) != 1 {
		t.Fatalf("status: exit %d, %v; want 0 and one master:\n%s", r.code, err, r.stdout)
	}
	m := st.Masters[0]
	slices.SortFunc(want, func(a, b health.Listener) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(m.Listeners, want) || m.ListenersError != "" {
		t.Fatalf("status: master %d listens on %v (%s), want %v", m.Pid, m.Listeners, m.ListenersError, want)
	}
	return m
}

// pong sends a datagram to the stream server and wants its answer.
func pong(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	k, err := c.Read(buf)
	if err != nil || string(buf[:k]) != "pong\n" {
		t.Fatalf("udp %s answered %q, %v; want pong", addr, buf[:k], err)
	}
}
