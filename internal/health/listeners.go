package health

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
)

// tcpListen is the socket state LISTEN in /proc/net/tcp.
const tcpListen = "0A"

// Listeners returns dialable addresses of the TCP sockets pid listens on. Wildcard addresses are
// dialled on loopback. Sockets are matched by inode between /proc/PID/fd and the network tables of
// pid's own network namespace, so this works for an nginx in a container too.
func Listeners(pid int) ([]string, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoNetNS, err)
		}
		found, err := parseListeners(f, inodes)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("parse /proc/%d/net/%s: %w", pid, table, err)
		}
		addrs = append(addrs, found...)
	}
	sort.Strings(addrs)
	return addrs, nil
}

func socketInodes(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list sockets of master %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, e := range entries {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return inodes, nil
}

// parseListeners reads a /proc/net/tcp{,6} table and returns the listening sockets among inodes.
func parseListeners(r io.Reader, inodes map[string]bool) ([]string, error) {
	var addrs []string
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen || !inodes[f[9]] {
			continue
		}
		addr, err := parseAddr(f[1])
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	return addrs, sc.Err()
}

// parseAddr decodes "0100007F:1F90" (IPv4) or 32 hex digits and a port (IPv6). The kernel prints
// the address as 32-bit words in host byte order (little-endian here).
func parseAddr(s string) (string, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return "", fmt.Errorf("bad port in %q", s)
	}
	ip := net.IP(raw)
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if len(raw) == 16 && raw[10] != 0xff {
			ip = net.IPv6loopback
		}
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10)), nil
}
