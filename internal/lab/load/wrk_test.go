//go:build e2e

package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// runWrk runs the real wrk for a second against h.
func runWrk(t *testing.T, h http.HandlerFunc) WrkResult {
	t.Helper()
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatalf("wrk is required by the zero-failure tests: apt-get install wrk (%v)", err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	w, err := StartWrk(ctx, WrkConfig{URL: srv.URL + "/", Duration: time.Second, Connections: 8, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests, %d failed (non-2xx/3xx %d, connect %d, read %d, write %d, timeout %d)",
		r.Requests, r.Failed(), r.Non2xx3xx, r.Connect, r.Read, r.Write, r.Timeout)
	return r
}

func TestWrkHealthyServerHasNoErrors(t *testing.T) {
	// The server closes every connection after its response: this must not count.
	r := runWrk(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Connection") != "close" {
			t.Errorf("wrk sent Connection: %q, want close", r.Header.Get("Connection"))
		}
		w.Write([]byte("hello\n"))
	})
	if r.Requests < 100 || r.Failed() != 0 {
		t.Errorf("healthy server: %d requests, %d failed; want many and 0\n%s", r.Requests, r.Failed(), r.Raw)
	}
}

func TestWrkCountsBadStatus(t *testing.T) {
	r := runWrk(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	})
	if r.Requests < 100 || r.Non2xx3xx != r.Requests || r.Failed() < r.Requests {
		t.Errorf("502 server: %d requests, %d non-2xx/3xx; want all\n%s", r.Requests, r.Non2xx3xx, r.Raw)
	}
}

func TestWrkCountsClosedConnections(t *testing.T) {
	// A server that reads the request and hangs up without answering.
	r := runWrk(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	})
	if r.Read < 100 || r.Failed() < r.Read {
		t.Errorf("hang-up server: %d read errors, %d failed; want many, all counted as failed\n%s", r.Read, r.Failed(), r.Raw)
	}
}

func TestWrkFailsOnDeadServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	w, err := StartWrk(t.Context(), WrkConfig{URL: srv.URL, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Wait(); err == nil || !strings.Contains(err.Error(), "Connection refused") {
		t.Errorf("wrk against a closed port: err = %v, want connection refused", err)
	}
}

func TestWrkStopsEarlyWithWhatItCounted(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	w, err := StartWrk(t.Context(), WrkConfig{URL: srv.URL, Duration: 10 * time.Minute, Connections: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// Once it has sent something: a wrk stopped while it starts may print no summary.
	if err := wait.Until(ctx, 50*time.Millisecond, func() (bool, error) { return hits.Load() > 0, nil }); err != nil {
		t.Fatalf("wrk sent nothing: %v", err)
	}
	r, err := w.Stop()
	if err != nil || r.Requests == 0 || r.Failed() != 0 {
		t.Errorf("stopped wrk: %d requests, %d failed, err %v\n%s", r.Requests, r.Failed(), err, r.Raw)
	}
}
