package load

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// dialIn dials from inside the network namespace held by the file nsPath (/proc/PID/ns/net of a
// container's process, say), so that load reaches a server on that namespace's own loopback.
func dialIn(ctx context.Context, nsPath string, d *net.Dialer, network, address string) (net.Conn, error) {
	var conn net.Conn
	var derr error
	if err := inNetNS(nsPath, func() { conn, derr = d.DialContext(ctx, network, address) }); err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	return conn, derr
}

// inNetNS runs fn on a thread that has joined the network namespace held by nsPath. A socket
// belongs to the namespace of the thread that created it, for good: a socket fn creates stays
// there. The thread goes back to its own namespace afterwards; one that cannot stays locked, and
// Go ends it with its goroutine rather than run other goroutines in the wrong namespace.
func inNetNS(nsPath string, fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := runInNetNS(nsPath, fn)
		if back {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// runInNetNS must run on a locked thread; back reports whether the thread is in its own
// namespace again.
func runInNetNS(nsPath string, fn func()) (back bool, err error) {
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return true, err
	}
	defer own.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return true, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("join network namespace %s: %w", nsPath, err)
	}
	fn()
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		return false, fmt.Errorf("return from network namespace %s: %w", nsPath, err)
	}
	return true, nil
}
