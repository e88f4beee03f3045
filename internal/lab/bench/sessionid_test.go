//go:build e2e

package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// TestSessionIDVisitorsResumeByID runs the session-ID point's visitors against a real nginx
// that issues no tickets: only session IDs from ssl_session_cache can resume, and nginx's own
// log must agree with what the visitors report.
func TestSessionIDVisitorsResumeByID(t *testing.T) {
	n, err := testbed.Setup(t.TempDir(), testbed.BuildsT(t).Old, testbed.Config{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	site, err := addTLSServer(n, TLSPoint{Version: tls.VersionTLS12, SessionIDs: true}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	t.Cleanup(n.Stop)
	if err := n.Start(ctx, testbed.Config{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	// As the load package's TLS visitor test: 4 visitors at 10/s, each back 400 ms after its last
	// request, which has ended by then.
	s, err := load.StartStream(ctx, load.StreamConfig{URL: site.URL, Rate: 10, Timeout: 2 * time.Second, Max: 24, Visitors: 4, OpenSSL: site.openssl})
	if err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	r := s.Stop()
	// Each visitor's first handshake is full, the other 5 resume.
	if r.OK != 24 || r.Resumed != 20 {
		t.Fatalf("%s; %d resumed; want 24 OK, 20 resumed", r, r.Resumed)
	}
	for i, rec := range r.Records[:4] {
		if rec.Resumed {
			t.Errorf("request %d, visitor %d's first, resumed a session it cannot have", i, i)
		}
	}
	log, err := os.ReadFile(site.log)
	if err != nil {
		t.Fatal(err)
	}
	if hs, resumed, err := countHandshakes(log); err != nil || hs != 24 || resumed != 20 {
		t.Errorf("nginx logged %d handshakes, %d resumed (%v); want 24, 20:\n%s", hs, resumed, err, log)
	}
	// They resumed by session ID: no visitor holds a ticket to resume by.
	for v := range 4 {
		file := filepath.Join(site.openssl.Dir, fmt.Sprintf("visitor-%d.sess", v))
		out, err := exec.Command("openssl", "sess_id", "-in", file, "-noout", "-text").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl sess_id %s: %v: %s", file, err, out)
		}
		if !strings.Contains(string(out), "Session-ID: ") || strings.Contains(string(out), "TLS session ticket") {
			t.Errorf("visitor %d's session is not a session ID without a ticket:\n%s", v, out)
		}
	}
}
