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
// A socket belongs to the namespace of the thread that created it, for good: the dial runs on a
// thread of its own that joins the namespace, creates and connects the socket, and goes back.
func dialIn(ctx context.Context, nsPath string, d *net.Dialer, network, address string) (net.Conn, error) {
	type dialed struct {
		conn net.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		runtime.LockOSThread()
		conn, err, back := dialOnThread(ctx, nsPath, d, network, address)
		// A thread that could not go back stays locked: when this goroutine ends, Go ends the
		// thread rather than run other goroutines in the wrong namespace.
		if back {
			runtime.UnlockOSThread()
		}
		ch <- dialed{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// dialOnThread must run on a locked thread; back reports whether the thread is in its own
// namespace again.
func dialOnThread(ctx context.Context, nsPath string, d *net.Dialer, network, address string) (conn net.Conn, err error, back bool) {
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", address, nsPath, err), true
	}
	defer own.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", address, nsPath, err), true
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("dial %s: join network namespace %s: %w", address, nsPath, err), true
	}
	conn, err = d.DialContext(ctx, network, address)
	if serr := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); serr != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("dial %s: return from network namespace %s: %w", address, nsPath, serr), false
	}
	return conn, err, true
}
