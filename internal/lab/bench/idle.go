package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// IdleSpare is the descriptors an nginx worker keeps for everything but idle connections: the
// load, files.
const IdleSpare = 4096

// IdleWorkers is how many nginx workers idle keep-alive connections need when each worker may
// have nofile descriptors: atLeast while one worker could hold them all (wherever they land),
// else enough that, spread evenly by reuseport (see tuneForIdle), each fills at most 3/4 of what
// it can hold, which leaves room for the hash's unevenness.
func IdleWorkers(idle int, nofile uint64, atLeast int) int {
	if oneWorkerHolds(idle, nofile) {
		return atLeast
	}
	three4 := (int(nofile) - IdleSpare) * 3 / 4
	return max(atLeast, (idle+three4-1)/three4)
}

// oneWorkerHolds reports whether one nginx worker with nofile descriptors holds idle connections
// beside the load.
func oneWorkerHolds(idle int, nofile uint64) bool { return idle <= int(nofile)-IdleSpare }

// tuneForIdle raises nginx's connection limits in n's configuration so that thousands of idle
// keep-alive connections fit next to the load: the test bed's template allows 4096 connections
// and 16384 files per worker. nofile is the open-file limit nginx can have (it inherits the
// bench's; raising it further needs CAP_SYS_RESOURCE). When one worker cannot hold them all, the
// site listens with reuseport: a socket per worker, among which the kernel spreads connections
// by a hash of their addresses, where otherwise one worker may accept most of them. The file is
// the bench's own prefix.
func tuneForIdle(n *testbed.Nginx, nofile uint64, idle int) error {
	b, err := os.ReadFile(n.Conf())
	if err != nil {
		return fmt.Errorf("tune nginx.conf: %w", err)
	}
	conf := string(b)
	tune := map[string]string{
		"worker_connections 4096;":    fmt.Sprintf("worker_connections %d;", nofile-64),
		"worker_rlimit_nofile 16384;": fmt.Sprintf("worker_rlimit_nofile %d;", nofile),
	}
	if !oneWorkerHolds(idle, nofile) {
		listen := fmt.Sprintf("listen 127.0.0.1:%d backlog=4096", n.Port)
		tune[listen+";"] = listen + " reuseport;"
	}
	for from, to := range tune {
		if !strings.Contains(conf, from) {
			return fmt.Errorf("tune nginx.conf: %q not found in the test bed's template", from)
		}
		conf = strings.Replace(conf, from, to, 1)
	}
	if err := os.WriteFile(n.Conf(), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("tune nginx.conf: %w", err)
	}
	return nil
}

// RaiseNofile raises this process's open-file limit towards want: idle connections each hold a
// descriptor. Root may raise the hard limit too; where that is not permitted (a container without
// CAP_SYS_RESOURCE) the soft limit goes up to the hard one. It returns the limit now in force.
func RaiseNofile(want uint64) (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	if lim.Max < want {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: want, Max: want}); err == nil {
			return want, nil
		}
	}
	lim.Cur = min(want, lim.Max)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", lim.Cur, err)
	}
	return lim.Cur, nil
}

// idleSet is a set of idle keep-alive connections in this process, each watched by a goroutine
// blocked in Read that notes when and how the server ends it. An idle holder (HoldIdle) keeps
// one.
type idleSet struct {
	openErrors map[string]int
	conns      []net.Conn
	wg         sync.WaitGroup

	mu      sync.Mutex
	closing bool
	closes  []idleClose
}

type idleClose struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
}

// openIdleSet opens count connections to 127.0.0.1:port, connection i from idleSource(first+i),
// sends one HTTP/1.1 request with keep-alive on each, reads the answer and leaves the connection
// idle.
func openIdleSet(ctx context.Context, port, first, count int) (*idleSet, error) {
	s := &idleSet{openErrors: map[string]int{}}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range 64 {
		wg.Go(func() {
			for i := range next {
				c, br, err := openOne(ctx, idleSource(i), addr)
				mu.Lock()
				if err != nil {
					s.openErrors[err.Error()]++
				} else {
					s.conns = append(s.conns, c)
					s.wg.Go(func() { s.watch(c, br) })
				}
				mu.Unlock()
			}
		})
	}
	for i := range count {
		next <- first + i
	}
	close(next)
	wg.Wait()
	if len(s.conns) == 0 {
		return nil, fmt.Errorf("no idle connection opened: %v", s.openErrors)
	}
	return s, nil
}

// perSource is how many idle connections come from one loopback address: the kernel's
// ephemeral ports (32768-60999 by default) bound the connections from one address to one port.
const perSource = 25000

// idleSource is the loopback address idle connection i comes from: 127.0.0.2 and up, so that
// the load's own connections from 127.0.0.1 keep all their ports.
func idleSource(i int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/perSource))}
}

// bindNoPort has the kernel choose a connection's local port at connect, among the ports free
// for its destination, not at bind, among the ports no socket of the address holds. Here, with
// ports chosen at bind, one run did not open 50,000 connections within 90 s; with ports chosen
// at connect, one opened them in 51 s.
func bindNoPort(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

func openOne(ctx context.Context, from *net.TCPAddr, addr string) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: from, Control: bindNoPort}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", errors.Unwrap(err))
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("write: %w", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Close {
		c.Close()
		return nil, nil, fmt.Errorf("response: status %d close %v err %v", resp.StatusCode, resp.Close, err)
	}
	c.SetDeadline(time.Time{})
	return c, br, nil
}

// watch blocks until the server ends the connection (or the bench closes it).
func (s *idleSet) watch(c net.Conn, br *bufio.Reader) {
	_, err := br.ReadByte()
	at := time.Now()
	kind := "eof"
	switch {
	case err == nil:
		kind = "unexpected data"
	case !errors.Is(err, io.EOF):
		kind = err.Error()
		if errors.Is(err, unix.ECONNRESET) {
			kind = "reset"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closes = append(s.closes, idleClose{At: at, Kind: kind})
	}
}

// report says how many were opened and, stopping the record there, when and how the server
// closed the others.
func (s *idleSet) report() holderReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	return holderReport{Opened: len(s.conns), OpenErrors: s.openErrors, Closes: slices.Clone(s.closes)}
}

// idleResult sums the holders' reports of wanted connections; the closes are on clock's timeline.
func idleResult(wanted int, reports []holderReport, clock func(time.Time) time.Duration) report.IdleResult {
	r := report.IdleResult{Wanted: wanted, OpenErrors: map[string]int{}, ClosedOther: map[string]int{},
		FirstCloseMS: -1, MedianCloseMS: -1, LastCloseMS: -1}
	var at []float64
	for _, h := range reports {
		r.Opened += h.Opened
		for e, n := range h.OpenErrors {
			r.OpenErrors[e] += n
		}
		for _, c := range h.Closes {
			if c.Kind == "eof" {
				r.ClosedEOF++
			} else {
				r.ClosedOther[c.Kind]++
			}
			at = append(at, report.Millis(clock(c.At)))
		}
	}
	r.StillOpen = r.Opened - len(at)
	if len(at) > 0 {
		slices.Sort(at)
		r.FirstCloseMS, r.MedianCloseMS, r.LastCloseMS = at[0], report.Median(at), at[len(at)-1]
	}
	return r
}

// close closes every connection from our side and waits for the watchers.
func (s *idleSet) close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.wg.Wait()
}
