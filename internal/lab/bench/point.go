package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bigconf"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// The scale axes (issue 16) vary one thing of the default run at a time: a Point says which. The
// zero Point is the default run.

// TLSPoint makes nginx also serve HTTPS and adds a stream of returning TLS visitors to the load.
type TLSPoint struct {
	Version    uint16 // tls.VersionTLS13 (tickets) or tls.VersionTLS12
	TicketKeys bool   // ssl_session_ticket_key from a file, the same for both builds
	// SessionIDs: TLS 1.2 with `ssl_session_tickets off`, so that visitors resume by session ID,
	// from ssl_session_cache only; the visitors are then openssl processes (Go's client resumes
	// by tickets only) and nginx logs each handshake, to check their count.
	SessionIDs bool
}

// Name is the point's short name, e.g. "tls13-keyfile".
func (t TLSPoint) Name() string {
	if t.SessionIDs {
		return "tls12-sessionid"
	}
	v := "tls13"
	if t.Version == tls.VersionTLS12 {
		v = "tls12"
	}
	if t.TicketKeys {
		return v + "-keyfile"
	}
	return v + "-nokeyfile"
}

// tlsVisitors and tlsRate shape the TLS stream: each visitor comes back every tlsVisitors/tlsRate
// seconds (half a second), so a reset of resumption shows within that of the swap.
const (
	tlsVisitors = 50
	tlsRate     = 100
)

// idVisitors and idRate shape the session-ID stream: an openssl process per handshake costs
// about 40 ms of CPU on this class of machine: 20/s took 0.8 of a core of the two and made
// the plain HTTP load's steady p99 ten times the other points'; 10/s takes 0.4. Each visitor
// comes back every second.
const (
	idVisitors = 10
	idRate     = 10
)

// writeBigconf includes a generated configuration of servers server blocks (the first certs of
// them also on a TLS port, with certificates from certDir) in n's http block.
func writeBigconf(n *testbed.Nginx, servers, certs int, certDir string) error {
	big := filepath.Join(n.Dir, "bigconf.conf")
	f, err := os.Create(big)
	if err != nil {
		return fmt.Errorf("bigconf: %w", err)
	}
	plain, tlsPort, err := twoPorts()
	if err != nil {
		f.Close()
		return err
	}
	// As the e2e suite's big configurations: two regex locations a block, 20 maps of 200 entries.
	err = bigconf.Write(f, bigconf.Options{Servers: servers, Listen: fmt.Sprintf("127.0.0.1:%d", plain), RegexLocations: 2, Maps: 20, MapEntries: 200,
		Certs: certs, TLSListen: fmt.Sprintf("127.0.0.1:%d", tlsPort), CertDir: certDir})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bigconf: %w", err)
	}
	return includeInHTTP(n, "include "+big+";")
}

// includeInHTTP adds text at the top of n's http block.
func includeInHTTP(n *testbed.Nginx, text string) error {
	conf, err := os.ReadFile(n.Conf())
	if err != nil {
		return fmt.Errorf("nginx.conf: %w", err)
	}
	s := string(conf)
	if !strings.Contains(s, "http {\n") {
		return errors.New("nginx.conf: no http block in the test bed's template")
	}
	s = strings.Replace(s, "http {\n", "http {\n"+text+"\n", 1)
	if err := os.WriteFile(n.Conf(), []byte(s), 0o644); err != nil {
		return fmt.Errorf("nginx.conf: %w", err)
	}
	return nil
}

// ensureCerts writes count certificates into dir once per bench (they take a while).
func ensureCerts(dir string, count int) error {
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%d.key", count-1))); err == nil {
		return nil
	}
	return bigconf.WriteCerts(dir, count)
}

// twoPorts returns two loopback TCP ports nothing listens on.
func twoPorts() (int, int, error) {
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}

// tlsSite is an HTTPS server added to an nginx for the TLS axis, and the client configuration
// that trusts it.
type tlsSite struct {
	URL     string
	client  *tls.Config
	openssl *load.OpenSSLVisitors // session-ID visitors instead of client's
	log     string                // nginx's log of the session-ID visitors' handshakes, see handshakeLog
}

// handshakeLog is the access log format of the session-ID point: nginx's own word on each
// handshake, read by countHandshakes.
const handshakeLog = `log_format handshakes '$msec $ssl_protocol $ssl_session_reused $status';`

// addTLSServer adds a TLS server block to n, with a session cache as hosts have one and, with
// p.TicketKeys, a ticket key file (80 bytes: AES-256 keys) both builds read.
func addTLSServer(n *testbed.Nginx, p TLSPoint, certDir string) (tlsSite, error) {
	if p.SessionIDs && (p.TicketKeys || p.Version != tls.VersionTLS12) {
		return tlsSite{}, errors.New("tls: session IDs are a TLS 1.2 point without ticket keys")
	}
	if err := ensureCerts(certDir, 1); err != nil {
		return tlsSite{}, err
	}
	port, _, err := twoPorts()
	if err != nil {
		return tlsSite{}, err
	}
	keys, site := "", tlsSite{}
	if p.SessionIDs {
		sessions := filepath.Join(n.Dir, "sessions")
		if err := os.MkdirAll(sessions, 0o755); err != nil {
			return tlsSite{}, fmt.Errorf("tls: %w", err)
		}
		site.log = filepath.Join(n.Dir, "logs/handshakes.log")
		site.openssl = &load.OpenSSLVisitors{CAFile: filepath.Join(certDir, "0.pem"), ServerName: "s0.bigconf.test", Dir: sessions}
		keys = "ssl_session_tickets off;\n    access_log " + site.log + " handshakes;"
	}
	if p.TicketKeys {
		key := make([]byte, 80)
		rand.Read(key)
		file := filepath.Join(n.Dir, "ticket.key")
		if err := os.WriteFile(file, key, 0o600); err != nil {
			return tlsSite{}, fmt.Errorf("ticket key: %w", err)
		}
		keys = "ssl_session_ticket_key " + file + ";"
	}
	server := fmt.Sprintf(`server {
    listen 127.0.0.1:%d ssl;
    server_name s0.bigconf.test;
    ssl_certificate %s/0.pem;
    ssl_certificate_key %s/0.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1h;
    %s
    location / { return 200 "ok\n"; }
}`, port, certDir, certDir, keys)
	if p.SessionIDs {
		server = handshakeLog + "\n" + server
	}
	if err := includeInHTTP(n, server); err != nil {
		return tlsSite{}, err
	}
	pem, err := os.ReadFile(filepath.Join(certDir, "0.pem"))
	if err != nil {
		return tlsSite{}, fmt.Errorf("tls: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	site.URL = fmt.Sprintf("https://127.0.0.1:%d/", port)
	site.client = &tls.Config{RootCAs: roots, ServerName: "s0.bigconf.test", MinVersion: p.Version, MaxVersion: p.Version}
	return site, nil
}

// startTLSLoad starts the TLS visitors; the offset is the load's clock when they started.
func startTLSLoad(ctx context.Context, site tlsSite, tr *testbed.Traffic) (*load.Stream, time.Duration, error) {
	at := tr.Clock(time.Now())
	cfg := load.StreamConfig{URL: site.URL, Rate: tlsRate, Timeout: 2 * time.Second, Visitors: tlsVisitors, TLS: site.client}
	if site.openssl != nil {
		cfg.Rate, cfg.Visitors, cfg.OpenSSL = idRate, idVisitors, site.openssl
	}
	s, err := load.StartStream(ctx, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("tls load: %w", err)
	}
	return s, at, nil
}

// timeNginxTest times `nginx -t` of n's new build on its configuration, as the master runs it.
func timeNginxTest(ctx context.Context, n *testbed.Nginx) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	if out, err := exec.CommandContext(ctx, n.Binary, append(prefixArgs(n), "-t", "-q")...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("nginx -t: %w: %s", err, out)
	}
	return report.Millis(time.Since(start)), nil
}
