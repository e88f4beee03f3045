package health

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Asking the kernel with NETLINK_SOCK_DIAG for the sockets in LISTEN state costs what the
// listeners cost: the kernel filters by state. Reading /proc/PID/net/tcp costs every TCP socket
// of the namespace, and a busy server has tens of thousands in TIME_WAIT; the health checks run
// every few hundred milliseconds during a swap.

const (
	tcpStateListen = 10 // TCP_LISTEN in the kernel's enum

	sizeofSockID  = 48 // struct inet_diag_sockid
	sizeofDiagReq = 8 + sizeofSockID
	sizeofDiagMsg = 4 + sizeofSockID + 20
)

// diagListener is one listening socket the kernel reported.
type diagListener struct {
	inode uint32
	addr  string // dialable, as Listeners returns it
}

// diagListeners returns the listening TCP sockets, IPv4 and IPv6, of this process's network
// namespace.
func diagListeners() ([]diagListener, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	var all []diagListener
	for seq, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := unix.Sendto(fd, diagRequest(family, uint32(seq+1)), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return nil, fmt.Errorf("sock_diag request: %w", err)
		}
		buf := make([]byte, 64<<10)
		for done := false; !done; {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return nil, fmt.Errorf("sock_diag reply: %w", err)
			}
			var found []diagListener
			found, done, err = parseDiag(buf[:n])
			if err != nil {
				return nil, err
			}
			all = append(all, found...)
		}
	}
	return all, nil
}

// diagRequest is a netlink dump request (SOCK_DIAG_BY_FAMILY) for family's TCP sockets in LISTEN.
func diagRequest(family uint8, seq uint32) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+sizeofDiagReq)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], seq)
	req := b[unix.SizeofNlMsghdr:]
	req[0], req[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(req[4:], 1<<tcpStateListen)
	return b
}

// parseDiag reads one datagram of a sock_diag dump; done reports its end.
func parseDiag(b []byte) (found []diagListener, done bool, err error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, false, fmt.Errorf("sock_diag reply: %w", err)
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_DONE:
			return found, true, nil
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno < 0 {
					return nil, false, fmt.Errorf("sock_diag: %w", syscall.Errno(-errno))
				}
			}
			return nil, false, errors.New("sock_diag: error reply")
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(m.Data) < sizeofDiagMsg {
				return nil, false, fmt.Errorf("sock_diag: short message of %d bytes", len(m.Data))
			}
			family, state, id := m.Data[0], m.Data[1], m.Data[4:4+sizeofSockID]
			if state != tcpStateListen {
				continue
			}
			port := binary.BigEndian.Uint16(id[0:])
			raw := id[4:20] // network byte order
			if family == unix.AF_INET {
				raw = raw[:4]
			} else if family != unix.AF_INET6 {
				continue
			}
			inode := binary.NativeEndian.Uint32(m.Data[4+sizeofSockID+16:])
			found = append(found, diagListener{inode: inode, addr: dialable(raw, port)})
		}
	}
	return found, false, nil
}

// sameNetNS reports whether pid is in this process's network namespace, where sock_diag answers
// for it.
func sameNetNS(pid int) bool {
	self, err1 := os.Stat("/proc/self/ns/net")
	its, err2 := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
	return err1 == nil && err2 == nil && os.SameFile(self, its)
}
