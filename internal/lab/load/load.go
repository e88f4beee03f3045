// Package load generates the HTTP load that proves an nginx binary swap drops nothing: an
// open-loop request stream, slow downloads that must arrive whole, and wrk for pressure.
//
// Load only ever targets loopback: these tools open thousands of connections and must never
// be pointed at someone else's server by a typo. It may be the loopback of another network
// namespace (a container's, given as NetNS), where a test host runs its nginx on port 80.
package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"syscall"
)

// checkLoopback returns an error unless every address rawURL's host resolves to is loopback.
// The scheme must be scheme.
func checkLoopback(ctx context.Context, rawURL, scheme string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("parse url: %w", err)
	}
	if u.Scheme != scheme {
		return fmt.Errorf("url %q: scheme must be %s", rawURL, scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("url %q: no host", rawURL)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return fmt.Errorf("url %q: %s is not loopback, refusing to send load", rawURL, a)
		}
	}
	return nil
}

// newClient returns a client that opens a new connection per request, never follows
// redirects (a 3xx is an answer), never uses a proxy (a zero Transport ignores
// HTTP_PROXY), and dials loopback only, so a DNS answer that changes after checkLoopback
// cannot send load elsewhere. With netns set, it dials from inside that network namespace;
// with socket set, it connects to that unix socket whatever the URL's host (local by nature).
// tlsConf, when set, is used for https.
func newClient(netns, socket string, tlsConf *tls.Config) *http.Client {
	d := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dial %s: %w", address, err)
		}
		if !ap.Addr().Unmap().IsLoopback() {
			return fmt.Errorf("dial %s: not loopback", address)
		}
		return nil
	}}
	dial := d.DialContext
	switch {
	case socket != "":
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var unixDialer net.Dialer
			return unixDialer.DialContext(ctx, "unix", socket)
		}
	case netns != "":
		dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			return dialIn(ctx, netns, d, network, address)
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:        dial,
			TLSClientConfig:    tlsConf,
			DisableKeepAlives:  true,
			DisableCompression: true, // count and hash the bytes nginx sent
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// got is what get saw of a response.
type got struct {
	status  int   // set once a response header arrived, even if reading the body then failed
	n       int64 // body bytes read
	resumed bool  // over TLS: the handshake resumed a session
}

// get fetches rawURL and copies the whole body to w.
func get(ctx context.Context, c *http.Client, rawURL string, w io.Writer) (got, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return got{}, fmt.Errorf("new request: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return got{}, err
	}
	defer resp.Body.Close()
	g := got{status: resp.StatusCode, resumed: resp.TLS != nil && resp.TLS.DidResume}
	// Reading to the end also reads a TLS 1.3 server's NewSessionTicket messages, which nginx
	// sends after the handshake: the visitor's next connection can resume with them.
	g.n, err = io.Copy(w, resp.Body)
	return g, err
}

// kind names a failure briefly, so that outcomes can be counted by kind.
func kind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return err.Error()
}
