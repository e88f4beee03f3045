package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// WrkConfig configures a wrk run. Zero Connections and Threads mean 8 and 1.
type WrkConfig struct {
	URL         string        // loopback only
	Duration    time.Duration // wrk counts whole seconds: rounded up
	Connections int
	Threads     int
	NetNS       string // network namespace to run wrk in, e.g. /proc/PID/ns/net ("" = this one)
}

// WrkResult is what wrk counted.
type WrkResult struct {
	Requests                      int
	Non2xx3xx                     int
	Connect, Read, Write, Timeout int    // "Socket errors: connect N, read N, write N, timeout N"
	Raw                           string // wrk's full output
}

// Failed counts every request that failed: bad status or socket error.
func (r WrkResult) Failed() int { return r.Non2xx3xx + r.Connect + r.Read + r.Write + r.Timeout }

// Wrk is a wrk process running in the background.
type Wrk struct {
	cmd  *exec.Cmd
	done chan struct{}
	res  WrkResult
	err  error
}

// StartWrk runs the real wrk binary for pressure, with every request on a new connection.
//
// "Connection: close" does not make a healthy server look faulty to wrk 4.1.0: wrk checks
// keep-alive on each parsed response and reconnects itself, so it never reads the server's
// close as an error (0 socket errors against nginx 1.22 and net/http at ~20k req/s). Real
// faults still count: a server that closes before answering gives read errors, and one
// that stops listening gives connect or write errors (wrk's connect is non-blocking, so a
// refusal often surfaces on the first write).
func StartWrk(ctx context.Context, cfg WrkConfig) (*Wrk, error) {
	if cfg.Connections == 0 {
		cfg.Connections = 8
	}
	if cfg.Threads == 0 {
		cfg.Threads = 1
	}
	if cfg.Duration <= 0 || cfg.Threads > cfg.Connections {
		return nil, fmt.Errorf("start wrk: need duration > 0 and threads <= connections; got %s, %d, %d", cfg.Duration, cfg.Threads, cfg.Connections)
	}
	if err := checkLoopback(ctx, cfg.URL, "http"); err != nil {
		return nil, fmt.Errorf("start wrk: %w", err)
	}
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return nil, fmt.Errorf("start wrk: %w (apt-get install wrk)", err)
	}
	secs := int(math.Ceil(cfg.Duration.Seconds()))
	// wrk stops by itself after its duration; the deadline only catches a wrk that hangs.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	var out bytes.Buffer
	args := []string{bin,
		"-t", strconv.Itoa(cfg.Threads), "-c", strconv.Itoa(cfg.Connections), "-d", strconv.Itoa(secs) + "s",
		"-H", "Connection: close", cfg.URL}
	if cfg.NetNS != "" {
		args = append([]string{"nsenter", "--net=" + cfg.NetNS, "--"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start wrk: %w", err)
	}
	w := &Wrk{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer cancel()
		err := cmd.Wait()
		w.res, w.err = parseWrk(out.String())
		if err != nil {
			w.err = fmt.Errorf("wrk: %w: %s", err, bytes.TrimSpace(out.Bytes()))
		}
	}()
	return w, nil
}

// Wait waits for wrk to finish (after its Duration, or when ctx is done) and returns what
// it counted.
func (w *Wrk) Wait() (WrkResult, error) {
	<-w.done
	return w.res, w.err
}

// Stop ends wrk before its Duration, as Ctrl-C does: wrk prints what it counted so far, and Stop
// returns that.
func (w *Wrk) Stop() (WrkResult, error) {
	select {
	case <-w.done:
	default:
		w.cmd.Process.Signal(syscall.SIGINT)
	}
	return w.Wait()
}

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's summary. wrk prints the socket error and bad status lines only when
// their counts are not zero.
func parseWrk(out string) (WrkResult, error) {
	r := WrkResult{Raw: out}
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return r, errors.New("parse wrk output: no request count")
	}
	r.Requests, _ = strconv.Atoi(m[1])
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for i, p := range []*int{&r.Connect, &r.Read, &r.Write, &r.Timeout} {
			*p, _ = strconv.Atoi(m[i+1])
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx3xx, _ = strconv.Atoi(m[1])
	}
	return r, nil
}
