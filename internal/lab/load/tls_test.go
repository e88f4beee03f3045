package load

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// tlsSite is an HTTPS server on loopback speaking at most version; tickets off makes it unable
// to resume (a Go server has no session-ID cache), as a new nginx master is to the old one's tickets.
func tlsSite(t *testing.T, version uint16, ticketsOff bool) (*httptest.Server, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "hello")
	}))
	srv.TLS = &tls.Config{MaxVersion: version, SessionTicketsDisabled: ticketsOff}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv, &tls.Config{RootCAs: roots, MaxVersion: version}
}

func TestStreamVisitorsResumeTheirTLSSessions(t *testing.T) {
	for _, c := range []struct {
		name       string
		version    uint16
		ticketsOff bool
		resumed    int
	}{
		// 4 visitors, 24 requests: each visitor's first handshake is full, the other 5 resume.
		{"TLS 1.3 tickets", tls.VersionTLS13, false, 20},
		{"TLS 1.2 tickets", tls.VersionTLS12, false, 20},
		{"no tickets", tls.VersionTLS13, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, conf := tlsSite(t, c.version, c.ticketsOff)
			// 10/s: a visitor's next request comes 400 ms after its last, well after that one's
			// ticket arrived even under the race detector; faster, a visitor's requests overlap
			// and the second makes a full handshake of its own.
			r := runStream(t, StreamConfig{URL: srv.URL + "/", Rate: 10, Timeout: 2 * time.Second, Max: 24, Visitors: 4, TLS: conf})
			if r.OK != 24 || r.Resumed != c.resumed {
				t.Fatalf("%d of 24 OK, %d resumed; want 24 OK, %d resumed", r.OK, r.Resumed, c.resumed)
			}
			for i, rec := range r.Records[:4] {
				if rec.Resumed {
					t.Errorf("request %d, visitor %d's first, resumed a session it cannot have", i, i)
				}
			}
		})
	}
}

func TestStreamVisitorsNeedTLSAndHTTPS(t *testing.T) {
	if _, err := StartStream(t.Context(), StreamConfig{URL: "https://127.0.0.1:1/", Rate: 1, Timeout: time.Second, Visitors: 2}); err == nil {
		t.Error("visitors without a TLS configuration started")
	}
	if _, err := StartStream(t.Context(), StreamConfig{URL: "http://127.0.0.1:1/", Rate: 1, Timeout: time.Second, Visitors: 2, TLS: &tls.Config{}}); err == nil {
		t.Error("visitors on an http URL started")
	}
}
