package health

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Sockets counts the sockets a group of processes holds, each socket once however many of them
// share it.
type Sockets struct {
	Listening   int // TCP listeners, unconnected UDP sockets, listening unix sockets
	Connections int // established TCP connections, and unix connections accepted on a named socket
}

// The states and flags in /proc/net tables that count, beside listeners.go's.
const (
	tcpEstablished  = "01"
	unixConnected   = "03" // SS_CONNECTED
	udpNoRemoteAddr = ":0000"
)

// CountSockets counts the sockets pids hold, matched by inode (from /proc/PID/fd) with the TCP,
// UDP and unix tables of the first pid's network namespace (/proc/PID/net). A pid gone meanwhile
// is skipped: a draining worker may exit at any moment.
func CountSockets(pids []int) (Sockets, error) {
	var c Sockets
	if len(pids) == 0 {
		return c, nil
	}
	inodes := map[string]bool{}
	for _, pid := range pids {
		own, err := socketInodes(pid)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return c, err
		}
		for ino := range own {
			inodes[ino] = true
		}
	}
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6", "unix"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pids[0], table))
		if errors.Is(err, os.ErrNotExist) && table != "tcp" {
			continue // no IPv6, or no unix sockets, on this kernel
		}
		if err != nil {
			return c, fmt.Errorf("%w: %v", ErrNoNetNS, err)
		}
		err = countTable(f, strings.TrimSuffix(table, "6"), inodes, &c)
		f.Close()
		if err != nil {
			return c, fmt.Errorf("read /proc/%d/net/%s: %w", pids[0], table, err)
		}
	}
	return c, nil
}

// countTable adds the sockets among inodes in one /proc/net table (kind tcp, udp or unix) to c.
func countTable(r io.Reader, kind string, inodes map[string]bool, c *Sockets) error {
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case kind == "unix" && len(f) >= 7 && inodes[f[6]]:
			// Num RefCount Protocol Flags Type St Inode [Path]: an accepted connection carries
			// its listener's path; socketpairs, such as nginx's channels to its workers, none.
			if flags, err := strconv.ParseUint(f[3], 16, 32); err == nil && flags&unixAcceptCon != 0 {
				c.Listening++
			} else if f[5] == unixConnected && len(f) >= 8 {
				c.Connections++
			}
		case kind != "unix" && len(f) >= 10 && inodes[f[9]]:
			switch {
			case kind == "tcp" && f[3] == tcpListen:
				c.Listening++
			case kind == "tcp" && f[3] == tcpEstablished:
				c.Connections++
			case kind == "udp" && f[3] == udpBound && strings.HasSuffix(f[2], udpNoRemoteAddr):
				c.Listening++
			}
		}
	}
	return sc.Err()
}
