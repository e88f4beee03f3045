package health

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	long := "/" + strings.Repeat("s", maxSocketPath)
	for _, c := range []struct {
		in, socket, url, err string
	}{
		{in: "http://127.0.0.1:8080/health", url: "http://127.0.0.1:8080/health"},
		{in: "https://example.org/", url: "https://example.org/"},
		{in: "http://unix:/run/nginx.sock:/health", socket: "/run/nginx.sock", url: "http://localhost/health"},
		{in: "http://unix:/run/nginx.sock:/health?full=1", socket: "/run/nginx.sock", url: "http://localhost/health?full=1"},
		{in: "http://unix:/run/nginx.sock", socket: "/run/nginx.sock", url: "http://localhost/"},
		{in: "http://unix:/run/nginx.sock:", err: "the URI after the socket path must start with /"},
		{in: "http://unix:/run/nginx.sock:health", err: "the URI after the socket path must start with /"},
		{in: "http://unix::/health", err: "no socket path after unix:"},
		{in: "http://unix:", err: "no socket path after unix:"},
		{in: "http://unix:run/nginx.sock:/health", err: `socket path "run/nginx.sock" is not absolute`},
		{in: "http://unix:" + long + ":/", err: "more than a unix socket address holds (107)"},
		{in: "http://unix:/run/\x00.sock:/", err: "NUL byte"},
		{in: "http://unix:/run/nginx.sock:/a b\x7f", err: "bad URI"},
		{in: "https://unix:/run/nginx.sock:/health", err: "https over a unix socket is not supported"},
		{in: "unix:/run/nginx.sock:/health", err: "want an http:// or https:// URL, or http://unix:/path/to.sock:/uri"},
		{in: "ftp://host/", err: "want an http:// or https:// URL"},
		{in: "http:///health", err: "no host"},
		{in: "http://[::1/", err: "missing ']' in host"},
	} {
		got, err := ParseURL(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseURL(%q) = %+v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != (URL{Socket: c.socket, URL: c.url}) {
			t.Errorf("ParseURL(%q) = %+v, %v; want socket %q url %q", c.in, got, err, c.socket, c.url)
		}
	}
}

// A health URL over a unix socket reaches the server on that socket, with the URI asked for;
// a listener on a unix socket is dialled by Check.
func TestGetAndCheckOverAUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nginx.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" || r.Host != "localhost" {
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := Get(ctx, "http://unix:"+sock+":/health"); err != nil {
		t.Fatal(err)
	}
	if err := Get(ctx, "http://unix:"+sock+":/other"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a 404 over the socket: %v", err)
	}
	if err := Get(ctx, "http://unix:"+sock+".gone:/health"); err == nil {
		t.Fatal("a missing socket answered")
	}
	if err := (Checker{URLs: []string{"http://unix:" + sock + ":/health"}}).Check(ctx, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	// Not accepting any more (as when nginx stops listening): the listener check fails, naming it.
	l.Close()
	if err := Accepts(ctx, Listener{"unix", sock}); err == nil || !strings.Contains(err.Error(), "listener unix "+sock+" does not accept") {
		t.Fatalf("closed unix listener: %v", err)
	}
}
