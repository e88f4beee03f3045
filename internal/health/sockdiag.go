package health

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Asking the kernel with NETLINK_SOCK_DIAG for the sockets in LISTEN state costs what the
// listeners cost: the kernel filters by state. Reading /proc/PID/net/tcp costs every TCP socket
// of the namespace, and a busy server has tens of thousands in TIME_WAIT; the health checks run
// every few hundred milliseconds during a swap.

const (
	tcpStateListen = 10 // TCP_LISTEN in the kernel's enum: listening TCP and unix stream sockets
	tcpStateClose  = 7  // TCP_CLOSE: a bound UDP socket that is not connected, as nginx listens

	sizeofSockID  = 48 // struct inet_diag_sockid
	sizeofDiagReq = 8 + sizeofSockID
	sizeofDiagMsg = 4 + sizeofSockID + 20

	sizeofUnixDiagReq = 24 // struct unix_diag_req
	sizeofUnixDiagMsg = 16 // struct unix_diag_msg, then attributes
	udiagShowName     = 1  // UDIAG_SHOW_NAME: ask for the socket's path
	unixDiagName      = 0  // UNIX_DIAG_NAME: the attribute holding it
)

// diagListener is one listening socket the kernel reported.
type diagListener struct {
	inode uint32
	l     Listener
}

// netTables are the tables of /proc/PID/net that hold listeners; sock_diag answers for each.
var netTables = []string{"tcp", "tcp6", "udp", "udp6", "unix"}

// diagSocket is a NETLINK_SOCK_DIAG socket.
type diagSocket int

func openDiag() (diagSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, fmt.Errorf("sock_diag socket: %w", err)
	}
	return diagSocket(fd), nil
}

func (s diagSocket) Close() error { return unix.Close(int(s)) }

// dump asks the kernel for the listeners /proc/net/<table> would show, in this process's
// network namespace.
func (s diagSocket) dump(table string, seq uint32) ([]diagListener, error) {
	var req []byte
	parse := parseDiag
	switch table {
	case "tcp":
		req = diagRequest(unix.AF_INET, unix.IPPROTO_TCP, seq)
	case "tcp6":
		req = diagRequest(unix.AF_INET6, unix.IPPROTO_TCP, seq)
	case "udp":
		req = diagRequest(unix.AF_INET, unix.IPPROTO_UDP, seq)
	case "udp6":
		req = diagRequest(unix.AF_INET6, unix.IPPROTO_UDP, seq)
	case "unix":
		req, parse = unixDiagRequest(seq), parseUnixDiag
	default:
		return nil, fmt.Errorf("sock_diag: no dump for %s", table)
	}
	if err := unix.Sendto(int(s), req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag request for %s: %w", table, err)
	}
	var all []diagListener
	buf := make([]byte, 64<<10)
	for done := false; !done; {
		n, _, err := unix.Recvfrom(int(s), buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag reply for %s: %w", table, err)
		}
		var found []diagListener
		if found, done, err = parse(buf[:n]); err != nil {
			return nil, err
		}
		all = append(all, found...)
	}
	return all, nil
}

// diagListeners returns the listening sockets of this process's network namespace: TCP and UDP
// (IPv4 and IPv6) and unix stream sockets.
func diagListeners() ([]diagListener, error) {
	s, err := openDiag()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var all []diagListener
	for i, table := range netTables {
		found, err := s.dump(table, uint32(i+1))
		if err != nil {
			return nil, err
		}
		all = append(all, found...)
	}
	return all, nil
}

// diagHeader starts a netlink dump request (SOCK_DIAG_BY_FAMILY) with size bytes of payload.
func diagHeader(size int, seq uint32) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+size)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], seq)
	return b
}

// diagRequest asks for family's sockets of protocol that listen: TCP in LISTEN, UDP bound and
// not connected.
func diagRequest(family, protocol uint8, seq uint32) []byte {
	b := diagHeader(sizeofDiagReq, seq)
	req := b[unix.SizeofNlMsghdr:]
	req[0], req[1] = family, protocol
	binary.NativeEndian.PutUint32(req[4:], 1<<listenState(protocol))
	return b
}

func listenState(protocol uint8) uint8 {
	if protocol == unix.IPPROTO_UDP {
		return tcpStateClose
	}
	return tcpStateListen
}

// unixDiagRequest asks for the unix sockets in LISTEN, with their paths.
func unixDiagRequest(seq uint32) []byte {
	b := diagHeader(sizeofUnixDiagReq, seq)
	req := b[unix.SizeofNlMsghdr:]
	req[0] = unix.AF_UNIX
	ne := binary.NativeEndian
	ne.PutUint32(req[4:], 1<<tcpStateListen)
	ne.PutUint32(req[12:], udiagShowName)
	return b
}

// diagMessages splits one datagram of a sock_diag dump and calls each for every socket's
// message; done reports the dump's end.
func diagMessages(b []byte, each func(data []byte) error) (done bool, err error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return false, fmt.Errorf("sock_diag reply: %w", err)
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno < 0 {
					return false, fmt.Errorf("sock_diag: %w", syscall.Errno(-errno))
				}
			}
			return false, errors.New("sock_diag: error reply")
		case unix.SOCK_DIAG_BY_FAMILY:
			if err := each(m.Data); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

// parseDiag reads one datagram of an inet (TCP or UDP) sock_diag dump; done reports its end.
func parseDiag(b []byte) (found []diagListener, done bool, err error) {
	done, err = diagMessages(b, func(d []byte) error {
		if len(d) < sizeofDiagMsg {
			return fmt.Errorf("sock_diag: short message of %d bytes", len(d))
		}
		family, state, id := d[0], d[1], d[4:4+sizeofSockID]
		network := "tcp"
		switch state {
		case tcpStateListen:
		case tcpStateClose:
			network = "udp"
		default:
			return nil
		}
		port := binary.BigEndian.Uint16(id[0:])
		raw := id[4:20] // network byte order
		if family == unix.AF_INET {
			raw = raw[:4]
		} else if family != unix.AF_INET6 {
			return nil
		}
		inode := binary.NativeEndian.Uint32(d[4+sizeofSockID+16:])
		found = append(found, diagListener{inode: inode, l: Listener{Network: network, Addr: dialable(raw, port)}})
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return found, done, nil
}

// parseUnixDiag reads one datagram of a unix sock_diag dump: listening sockets with a name (an
// unnamed one cannot be dialled, and nginx names its own).
func parseUnixDiag(b []byte) (found []diagListener, done bool, err error) {
	done, err = diagMessages(b, func(d []byte) error {
		if len(d) < sizeofUnixDiagMsg {
			return fmt.Errorf("sock_diag: short unix message of %d bytes", len(d))
		}
		if d[2] != tcpStateListen {
			return nil
		}
		inode := binary.NativeEndian.Uint32(d[4:])
		for attrs := d[sizeofUnixDiagMsg:]; len(attrs) >= unix.SizeofRtAttr; {
			size := int(binary.NativeEndian.Uint16(attrs))
			if size < unix.SizeofRtAttr || size > len(attrs) {
				return fmt.Errorf("sock_diag: bad unix attribute of %d bytes", size)
			}
			if binary.NativeEndian.Uint16(attrs[2:]) == unixDiagName && size > unix.SizeofRtAttr {
				found = append(found, diagListener{inode: inode, l: Listener{Network: "unix", Addr: unixName(attrs[unix.SizeofRtAttr:size])}})
			}
			attrs = attrs[min(len(attrs), (size+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return found, done, nil
}

// unixName writes a socket's name as /proc/net/unix does and Go dials it: an abstract name (its
// first byte NUL) with a leading @; a path without the NUL that ends it in the kernel's copy.
func unixName(b []byte) string {
	if b[0] == 0 {
		return "@" + string(b[1:])
	}
	path, _, _ := strings.Cut(string(b), "\x00")
	return path
}

// sameNS reports whether pid is in this process's namespace of kind ("net", "mnt"). In the
// same network namespace sock_diag answers for it; in the same mount namespace its socket paths
// are ours.
func sameNS(pid int, kind string) bool {
	self, err1 := os.Stat("/proc/self/ns/" + kind)
	its, err2 := os.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	return err1 == nil && err2 == nil && os.SameFile(self, its)
}
