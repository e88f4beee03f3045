package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// Idle keep-alive connections are held by idle holders, processes of their own, at most
// perHolder each: every connection is a descriptor, and RLIMIT_NOFILE's hard limit (20,000
// here) cannot be raised without CAP_SYS_RESOURCE. The bench runs a holder as
// Bed.IdleHolder (its own binary with HoldIdle behind an argument).
const perHolder = 15000

// holderReport is what a holder writes, one JSON line each time: once its connections are open,
// and when asked, how each closed since.
type holderReport struct {
	Opened     int            `json:"opened"`
	OpenErrors map[string]int `json:"open_errors,omitempty"`
	Closes     []idleClose    `json:"closes,omitempty"`
}

// HoldIdle is an idle holder's life: it opens the connections args name (port, first, count:
// see openIdleSet), reports, and waits for a line on in: "report" has it report the closes
// since and end; end of input has it end at once. It closes its connections as it ends.
func HoldIdle(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	if len(args) != 3 {
		return fmt.Errorf("idle holder: want port, first, count; got %q", args)
	}
	var n [3]int
	for i, a := range args {
		var err error
		if n[i], err = strconv.Atoi(a); err != nil {
			return fmt.Errorf("idle holder: %w", err)
		}
	}
	s, err := openIdleSet(ctx, n[0], n[1], n[2])
	if err != nil {
		return fmt.Errorf("idle holder: %w", err)
	}
	defer s.close()
	enc := json.NewEncoder(out)
	s.mu.Lock()
	opened := holderReport{Opened: len(s.conns), OpenErrors: s.openErrors}
	s.mu.Unlock()
	if err := enc.Encode(opened); err != nil {
		return fmt.Errorf("idle holder: %w", err)
	}
	if line, _ := bufio.NewReader(in).ReadString('\n'); line == "report\n" {
		return enc.Encode(s.report())
	}
	return nil
}

// idleHolders are the holders of one run's idle connections.
type idleHolders struct {
	wanted  int
	holders []*holder
	start   time.Time
	opened  time.Duration // until every holder had opened its share
}

type holder struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	dec *json.Decoder
}

// openIdle starts holders (command: the holder's command line) for count idle connections to
// 127.0.0.1:port and waits until each has opened its share.
func openIdle(ctx context.Context, command []string, port, count int) (*idleHolders, error) {
	if len(command) == 0 {
		return nil, errors.New("idle connections: no idle holder command (Bed.IdleHolder)")
	}
	s := &idleHolders{wanted: count, start: time.Now()}
	first := 0
	for _, share := range Split(count, (count+perHolder-1)/perHolder) {
		args := append(command[1:len(command):len(command)], strconv.Itoa(port), strconv.Itoa(first), strconv.Itoa(share))
		h, err := startHolder(command[0], args)
		if err != nil {
			s.close()
			return nil, err
		}
		s.holders = append(s.holders, h)
		first += share
	}
	// The holders share the machine's cores with nginx: the bound grows with the whole count.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(count)*5*time.Millisecond)
	defer cancel()
	for i, h := range s.holders {
		var r holderReport
		if err := h.read(ctx, &r); err != nil {
			s.close()
			return nil, fmt.Errorf("idle holder %d of %d: open: %w", i+1, len(s.holders), err)
		}
	}
	s.opened = time.Since(s.start)
	return s, nil
}

func startHolder(name string, args []string) (*holder, error) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("idle holder: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("idle holder: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start idle holder: %w", err)
	}
	return &holder{cmd: cmd, in: in, dec: json.NewDecoder(out)}, nil
}

// read decodes the holder's next report into r; when ctx ends first, it kills the holder.
func (h *holder) read(ctx context.Context, r *holderReport) error {
	var got holderReport
	done := make(chan error, 1)
	go func() { done <- h.dec.Decode(&got) }()
	select {
	case err := <-done:
		*r = got
		return err
	case <-ctx.Done():
		h.cmd.Process.Kill()
		return ctx.Err()
	}
}

// snapshot asks every holder how its connections fared, and ends the holders' record.
func (s *idleHolders) snapshot(ctx context.Context, clock func(time.Time) time.Duration) (report.IdleResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	reports := make([]holderReport, len(s.holders))
	for i, h := range s.holders {
		if _, err := io.WriteString(h.in, "report\n"); err != nil {
			return report.IdleResult{}, fmt.Errorf("idle holder %d: %w", i+1, err)
		}
	}
	for i, h := range s.holders {
		if err := h.read(ctx, &reports[i]); err != nil {
			return report.IdleResult{}, fmt.Errorf("idle holder %d: report: %w", i+1, err)
		}
	}
	r := idleResult(s.wanted, reports, clock)
	r.Holders, r.OpenMS = len(s.holders), report.Millis(s.opened)
	return r, nil
}

// close ends the holders (they close their connections) and waits for them, killing any that
// has not ended within 30 s.
func (s *idleHolders) close() {
	for _, h := range s.holders {
		h.in.Close()
	}
	for _, h := range s.holders {
		t := time.AfterFunc(30*time.Second, func() { h.cmd.Process.Kill() })
		h.cmd.Wait()
		t.Stop()
	}
}

// workerFDs counts the open descriptors of each worker of master.
func workerFDs(master int) ([]int, error) {
	ws, _, err := nginx.Workers(master)
	if err != nil {
		return nil, fmt.Errorf("workers of %d: %w", master, err)
	}
	var fds []int
	for _, w := range ws {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", w.Pid))
		if err != nil {
			return nil, fmt.Errorf("descriptors of worker %d: %w", w.Pid, err)
		}
		fds = append(fds, len(ents))
	}
	return fds, nil
}
