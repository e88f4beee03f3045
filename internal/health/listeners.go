package health

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Listener is a socket an nginx master listens on.
type Listener struct {
	// Network is tcp or unix (dialled by the checks), or udp (listed only: a datagram socket
	// accepts no connection to prove it serves).
	Network string `json:"network"`
	// Addr is host:port, a wildcard given as loopback where it is dialled, or a unix socket's
	// path (an abstract name with a leading @).
	Addr string `json:"address"`
}

func (l Listener) String() string { return l.Network + " " + l.Addr }

// Dialled reports whether the checks dial l: stream sockets accept connections.
func (l Listener) Dialled() bool { return l.Network != "udp" }

// tcpListen and udpBound are the socket states, in /proc/net/{tcp,udp}, of a listening TCP socket
// and of a bound, unconnected UDP socket; unixAcceptCon is the flag of a listening unix socket in
// /proc/net/unix (__SO_ACCEPTCON).
const (
	tcpListen     = "0A"
	udpBound      = "07"
	unixAcceptCon = 1 << 16
)

// Listeners returns the sockets pid listens on (TCP, UDP and unix stream), sorted. Sockets are
// matched by inode between /proc/PID/fd and the listening sockets of pid's network namespace:
// asked of the kernel (sock_diag) when that is this process's, else read from pid's own network
// tables, so this works for an nginx in a container too. A unix socket's path is reached through
// /proc/PID/root when pid is in another mount namespace.
func Listeners(pid int) ([]Listener, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	ls, err := netListeners(pid, inodes)
	if err != nil {
		return nil, err
	}
	if !sameNS(pid, "mnt") {
		for i, l := range ls {
			if l.Network == "unix" && strings.HasPrefix(l.Addr, "/") {
				ls[i].Addr = fmt.Sprintf("/proc/%d/root%s", pid, l.Addr)
			}
		}
	}
	sortListeners(ls)
	return ls, nil
}

// netListeners finds the listeners among inodes in pid's network namespace: from sock_diag where
// it answers, table by table, so that a kernel without one *_diag module (not built, or not
// loadable here) costs a table read for that kind of socket only.
func netListeners(pid int, inodes map[string]bool) ([]Listener, error) {
	if !sameNS(pid, "net") {
		return collectListeners(pid, inodes, nil)
	}
	s, err := openDiag()
	if err != nil {
		return collectListeners(pid, inodes, nil)
	}
	defer s.Close()
	return collectListeners(pid, inodes, s.dump)
}

// collectListeners asks dump for each table's listeners and reads the table where dump is nil
// or fails.
func collectListeners(pid int, inodes map[string]bool, dump func(table string, seq uint32) ([]diagListener, error)) ([]Listener, error) {
	var ls []Listener
	for i, table := range netTables {
		if dump != nil {
			if found, err := dump(table, uint32(i+1)); err == nil {
				for _, d := range found {
					if inodes[fmtInode(d.inode)] {
						ls = append(ls, d.l)
					}
				}
				continue
			}
		}
		found, err := readTable(pid, inodes, table)
		if err != nil {
			return nil, err
		}
		ls = append(ls, found...)
	}
	return ls, nil
}

func sortListeners(ls []Listener) {
	slices.SortFunc(ls, func(a, b Listener) int {
		return strings.Compare(a.String(), b.String())
	})
}

// tableListeners finds the listeners among inodes in /proc/PID/net/{tcp,tcp6,udp,udp6,unix}.
func tableListeners(pid int, inodes map[string]bool) ([]Listener, error) {
	var ls []Listener
	for _, table := range netTables {
		found, err := readTable(pid, inodes, table)
		if err != nil {
			return nil, err
		}
		ls = append(ls, found...)
	}
	sortListeners(ls)
	return ls, nil
}

// readTable finds the listeners among inodes in /proc/PID/net/<table>.
func readTable(pid int, inodes map[string]bool, table string) ([]Listener, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoNetNS, err)
	}
	defer f.Close()
	var found []Listener
	if table == "unix" {
		found, err = parseUnixListeners(f, inodes)
	} else {
		found, err = parseListeners(f, inodes, strings.TrimSuffix(table, "6"))
	}
	if err != nil {
		return nil, fmt.Errorf("parse /proc/%d/net/%s: %w", pid, table, err)
	}
	return found, nil
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

// parseListeners reads a /proc/net/{tcp,udp}{,6} table of network ("tcp" or "udp") and returns
// the listening sockets among inodes.
func parseListeners(r io.Reader, inodes map[string]bool, network string) ([]Listener, error) {
	state := tcpListen
	if network == "udp" {
		state = udpBound
	}
	var ls []Listener
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != state || !inodes[f[9]] {
			continue
		}
		addr, err := parseAddr(f[1])
		if err != nil {
			return nil, err
		}
		ls = append(ls, Listener{Network: network, Addr: addr})
	}
	return ls, sc.Err()
}

// parseUnixListeners reads /proc/net/unix ("Num RefCount Protocol Flags Type St Inode Path") and
// returns the listening sockets among inodes that have a path. The path is the rest of the line
// after the inode: it may hold spaces.
func parseUnixListeners(r io.Reader, inodes map[string]bool) ([]Listener, error) {
	var ls []Listener
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		rest := sc.Text()
		var f []string
		for range 7 {
			var field string
			field, rest, _ = strings.Cut(strings.TrimLeft(rest, " "), " ")
			f = append(f, field)
		}
		if rest == "" || !inodes[f[6]] {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("bad flags %q of unix socket %s", f[3], f[6])
		}
		if flags&unixAcceptCon != 0 {
			ls = append(ls, Listener{Network: "unix", Addr: rest})
		}
	}
	return ls, sc.Err()
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
