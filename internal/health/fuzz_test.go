package health

// Fuzz targets for the /proc/net/tcp{,6} parser and the --health URL parser. Seed corpora (real tables) are in
// testdata/fuzz/<FuzzName>/; testdata/fuzz.sh at the repository root fuzzes each target briefly.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseListeners: parseListeners never panics; every address it returns is dialable (see
// checkDialable); and, when it succeeds, it returns exactly one address per table line after the
// header that is in state 0A (LISTEN) and whose inode is one of ours. inodes is a space-separated
// list of inode numbers, as socketInodes collects them from /proc/PID/fd.
func FuzzParseListeners(f *testing.F) {
	f.Fuzz(func(t *testing.T, table, inodes string) {
		mine := map[string]bool{}
		for _, i := range strings.Fields(inodes) {
			mine[i] = true
		}
		ls, err := parseListeners(strings.NewReader(table), mine, "tcp")
		var addrs []string
		for _, l := range ls {
			a := l.Addr
			addrs = append(addrs, a)
			if err := checkDialable(a); err != nil || l.Network != "tcp" {
				t.Fatalf("parseListeners(%q, %q) returned %q: %v", table, inodes, a, err)
			}
		}
		if err != nil {
			return
		}
		// Independent count: lines as bufio.ScanLines cuts them, the first one the header.
		want := 0
		lines := strings.Split(table, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		for i, l := range lines {
			f := strings.Fields(strings.TrimSuffix(l, "\r"))
			if i > 0 && len(f) >= 10 && f[3] == "0A" && mine[f[9]] {
				want++
			}
		}
		if len(addrs) != want {
			t.Fatalf("parseListeners(%q, %q) = %q: %d addresses, want %d", table, inodes, addrs, len(addrs), want)
		}
	})
}

// FuzzParseAddr: parseAddr never panics and what it returns is dialable (checkDialable). And for
// any address and port printed as the kernel prints them (tcp4_seq_show, tcp6_seq_show: each
// 32-bit word of the address in host byte order, "%08X", then ":%04X"; lower-case hex is
// accepted too) parseAddr returns that address and port, wildcards turned into loopback: 0.0.0.0
// and ::ffff:0.0.0.0 into 127.0.0.1, :: into ::1.
func FuzzParseAddr(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, raw []byte, port uint16, lower bool) {
		if got, err := parseAddr(s); err == nil {
			if err := checkDialable(got); err != nil {
				t.Fatalf("parseAddr(%q) = %q: %v", s, got, err)
			}
		}

		// Round trip through the kernel's format.
		switch {
		case len(raw) >= 16:
			raw = raw[:16]
		case len(raw) >= 4:
			raw = raw[:4]
		default:
			return
		}
		var b strings.Builder
		for i := 0; i < len(raw); i += 4 {
			fmt.Fprintf(&b, "%08X", binary.LittleEndian.Uint32(raw[i:])) // host order on amd64/arm64
		}
		fmt.Fprintf(&b, ":%04X", port)
		kernel := b.String()
		if lower {
			kernel = strings.ToLower(kernel)
		}
		ip, _ := netip.AddrFromSlice(raw)
		switch {
		case ip == netip.IPv4Unspecified() || ip == netip.AddrFrom16(netip.IPv4Unspecified().As16()):
			ip = netip.MustParseAddr("127.0.0.1")
		case ip == netip.IPv6Unspecified():
			ip = netip.IPv6Loopback()
		}
		want := netip.AddrPortFrom(ip.Unmap(), port)
		got, err := parseAddr(kernel)
		if err != nil {
			t.Fatalf("parseAddr(%q) of %s: %v", kernel, want, err)
		}
		gotAP, err := netip.ParseAddrPort(got)
		if err != nil || netip.AddrPortFrom(gotAP.Addr().Unmap(), gotAP.Port()) != want {
			t.Fatalf("parseAddr(%q) = %q, want %s", kernel, got, want)
		}
	})
}

// checkDialable: addr is host:port as net.SplitHostPort reads it, the host an IP address that is
// not a wildcard (those are dialled on loopback) and the port a number ≤ 65535.
func checkDialable(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if p, err := strconv.ParseUint(port, 10, 64); err != nil || p > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("host %q is not an IP address", host)
	}
	if ip.IsUnspecified() {
		return fmt.Errorf("host %q is a wildcard, not dialable", host)
	}
	return nil
}

// FuzzParseURL: ParseURL never panics; what it accepts is a URL net/http can request, and over a
// unix socket an absolute path short enough for a socket address. And for any socket path and
// URI written as nginx's proxy_pass writes them (http://unix:PATH:URI, PATH absolute without a
// colon or NUL, URI starting with /) it returns that path, and that URI on localhost.
func FuzzParseURL(f *testing.F) {
	f.Fuzz(func(t *testing.T, s, path, uri string) {
		if u, err := ParseURL(s); err == nil {
			if _, err := http.NewRequest(http.MethodGet, u.URL, nil); err != nil {
				t.Fatalf("ParseURL(%q) = %+v: not requestable: %v", s, u, err)
			}
			if u.Socket != "" && (!strings.HasPrefix(u.Socket, "/") || len(u.Socket) > maxSocketPath || strings.ContainsAny(u.Socket, ":\x00")) {
				t.Fatalf("ParseURL(%q) = %+v: bad socket path", s, u)
			}
		}

		if !strings.HasPrefix(path, "/") || len(path) > maxSocketPath || strings.ContainsAny(path, ":\x00") ||
			!strings.HasPrefix(uri, "/") {
			return
		}
		if _, err := url.Parse("http://localhost" + uri); err != nil {
			return
		}
		in := "http://unix:" + path + ":" + uri
		got, err := ParseURL(in)
		if err != nil || got.Socket != path || got.URL != "http://localhost"+uri {
			t.Fatalf("ParseURL(%q) = %+v, %v; want socket %q, url http://localhost%s", in, got, err, path, uri)
		}
	})
}
