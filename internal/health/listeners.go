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
// dialled on loopback. Sockets are matched by inode between /proc/PID/fd and the listening sockets
// of pid's network namespace: asked of the kernel (sock_diag) when that is this process's, else
// read from pid's own network tables, so this works for an nginx in a container too.
func Listeners(pid int) ([]string, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	if sameNetNS(pid) {
		// Without sock_diag (inet_diag not built, or not loadable here) the tables still work.
		if all, err := diagListeners(); err == nil {
			var addrs []string
			for _, l := range all {
				if inodes[fmtInode(l.inode)] {
					addrs = append(addrs, l.addr)
				}
			}
			sort.Strings(addrs)
			return addrs, nil
		}
	}
	return tableListeners(pid, inodes)
}

// tableListeners finds the listeners among inodes in /proc/PID/net/tcp and tcp6.
func tableListeners(pid int, inodes map[string]bool) ([]string, error) {
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

// fmtInode writes an inode as /proc/PID/fd's socket:[N] links do.
func fmtInode(ino uint32) string { return strconv.FormatUint(uint64(ino), 10) }

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
	return dialable(raw, uint16(port)), nil
}

// dialable makes host:port of a listening socket's address (4 or 16 bytes, network order): a
// wildcard is dialled on loopback.
func dialable(raw []byte, port uint16) string {
	ip := net.IP(raw)
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if len(raw) == 16 && raw[10] != 0xff {
			ip = net.IPv6loopback
		}
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(uint64(port), 10))
}
