package health

import (
	"fmt"
	"net/url"
	"strings"
)

// URL is a health URL as the checks fetch it.
type URL struct {
	Socket string // the unix socket to connect to; "" for a TCP URL
	URL    string // what is requested (over Socket: http://localhost and the URI)
}

// unixPrefix starts a URL fetched over a unix socket, written as nginx's proxy_pass writes one:
// http://unix:/run/nginx.sock:/health. The socket path ends at the first colon after it, so it
// cannot hold one (nginx's rule too); without a URI after it, the URI is /.
const unixPrefix = "http://unix:"

// maxSocketPath is what sockaddr_un's sun_path holds, less the closing NUL.
const maxSocketPath = 107

// ParseURL reads a --health URL: http:// or https:// with a host, or http://unix:PATH:/URI for
// nginx's unix socket PATH (the request then carries Host: localhost).
func ParseURL(s string) (URL, error) {
	if rest, ok := strings.CutPrefix(s, unixPrefix); ok {
		return parseUnixURL(s, rest)
	}
	if strings.HasPrefix(s, "https://unix:") {
		return URL{}, fmt.Errorf("health url %q: https over a unix socket is not supported; use %s/path/to.sock:/uri", s, unixPrefix)
	}
	u, err := url.Parse(s)
	if err != nil {
		return URL{}, fmt.Errorf("health url %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return URL{}, fmt.Errorf("health url %q: want an http:// or https:// URL, or %s/path/to.sock:/uri", s, unixPrefix)
	}
	if u.Host == "" {
		return URL{}, fmt.Errorf("health url %q: no host", s)
	}
	return URL{URL: s}, nil
}

func parseUnixURL(s, rest string) (URL, error) {
	path, uri, hasURI := strings.Cut(rest, ":")
	if !hasURI {
		uri = "/"
	}
	bad := func(why string, args ...any) (URL, error) {
		return URL{}, fmt.Errorf("health url %q: %s (want %s/path/to.sock:/uri)", s, fmt.Sprintf(why, args...), unixPrefix)
	}
	switch {
	case path == "":
		return bad("no socket path after unix:")
	case !strings.HasPrefix(path, "/"):
		return bad("socket path %q is not absolute", path)
	case len(path) > maxSocketPath:
		return bad("socket path is %d bytes, more than a unix socket address holds (%d)", len(path), maxSocketPath)
	case strings.ContainsRune(path, 0):
		return bad("socket path holds a NUL byte")
	case !strings.HasPrefix(uri, "/"):
		return bad("the URI after the socket path must start with /, not %q", uri)
	}
	target := "http://localhost" + uri
	if _, err := url.Parse(target); err != nil {
		return bad("bad URI %q", uri)
	}
	return URL{Socket: path, URL: target}, nil
}
