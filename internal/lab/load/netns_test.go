//go:build e2e

package load

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// netnsT makes a network namespace with its loopback up, held by a process that lives as long as
// the test, and returns the file that names it.
func netnsT(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "--", "sh", "-c", "ip link set lo up && exec sleep 600")
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare (needs root): %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// exec sleep happens only after lo is up.
	err := wait.Until(ctx, 10*time.Millisecond, func() (bool, error) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		return strings.TrimSpace(string(comm)) == "sleep", err
	})
	if err != nil {
		t.Fatalf("new network namespace: %v", err)
	}
	return fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
}

// serveIn serves h on the loopback of the network namespace ns and returns its base URL.
func serveIn(t *testing.T, ns string, h http.Handler) string {
	t.Helper()
	var l net.Listener
	var lerr error
	if err := inNetNS(ns, func() { l, lerr = net.Listen("tcp", "127.0.0.1:0") }); err != nil || lerr != nil {
		t.Fatalf("listen in %s: %v %v", ns, err, lerr)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// Load sent "in" a namespace reaches the server on that namespace's loopback, and only there: the
// same address in the test's own namespace has nobody listening.
func TestLoadReachesAnotherNamespacesLoopback(t *testing.T) {
	ns := netnsT(t)
	path := filepath.Join(t.TempDir(), "payload")
	sum, err := WriteFile(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello\n")) })
	mux.HandleFunc("/payload", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) })
	base := serveIn(t, ns, mux)

	in := runStream(t, StreamConfig{URL: base + "/", Rate: 200, Timeout: 2 * time.Second, Max: 100, NetNS: ns})
	if in.OK != 100 {
		t.Errorf("stream in the namespace: %s, want 100 ok", in)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if d := Download(ctx, File{URL: base + "/payload", Size: 1 << 20, SHA256: sum, NetNS: ns}); !d.OK {
		t.Errorf("download in the namespace: %+v", d)
	}
	w, err := StartWrk(ctx, WrkConfig{URL: base + "/", Duration: time.Second, Connections: 2, NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.Wait()
	if err != nil || r.Requests == 0 || r.Failed() != 0 {
		t.Errorf("wrk in the namespace: %d requests, %d failed, err %v", r.Requests, r.Failed(), err)
	}

	// Last, so that it runs on threads that dialled in the namespace: they went back, and the same
	// address from the test's own namespace has nobody listening.
	out := runStream(t, StreamConfig{URL: base + "/", Rate: 200, Timeout: 2 * time.Second, Max: 20})
	if out.OK != 0 || out.Errors["connect refused"] != 20 {
		t.Errorf("stream from the test's namespace: %s, want 20 refused", out)
	}
}
