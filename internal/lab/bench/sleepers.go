package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// Sleepers are unrelated processes that only sleep: the process count of a busy host, which the
// helper must not pay for (it finds a master's workers without walking /proc).
type Sleepers struct {
	cmd       *exec.Cmd
	oldPidMax []byte // kernel.pid_max to restore, when StartSleepers raised it
}

// pidMaxFile bounds how many processes can run; kernel.pid_max is 32768 by default.
const pidMaxFile = "/proc/sys/kernel/pid_max"

// StartSleepers starts count sleeping processes in a process group of their own; `sleep 600`
// bounds them even if Stop is never called. When count would leave less than 4096 pids under
// kernel.pid_max for everything else, it raises pid_max until Stop (the default, 32768, leaves
// 30,000 sleepers too little room).
func StartSleepers(ctx context.Context, count int) (*Sleepers, error) {
	s := &Sleepers{}
	b, err := os.ReadFile(pidMaxFile)
	if err != nil {
		return nil, fmt.Errorf("sleepers: %w", err)
	}
	pidMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("sleepers: %s: %w", pidMaxFile, err)
	}
	if count+4096 > pidMax {
		if err := os.WriteFile(pidMaxFile, []byte(strconv.Itoa(count+65536)), 0o644); err != nil {
			return nil, fmt.Errorf("sleepers: %d processes need kernel.pid_max above %d: %w", count, pidMax, err)
		}
		s.oldPidMax = b
	}
	s.cmd = exec.Command("sh", "-c", `i=0; while [ $i -lt "$1" ]; do sleep 600 & i=$((i+1)); done; echo ready; wait`, "sh", strconv.Itoa(count))
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := s.cmd.StdoutPipe()
	if err == nil {
		err = s.cmd.Start()
	}
	if err != nil {
		s.restorePidMax()
		return nil, fmt.Errorf("start sleepers: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("sleepers said %q", line)
		}
		ready <- err
	}()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = fmt.Errorf("%d sleepers not started: %w", count, ctx.Err())
	}
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("start sleepers: %w", err)
	}
	return s, nil
}

// Stop kills the sleepers and waits, boundedly, until init has reaped every one of them.
func (s *Sleepers) Stop() error {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGKILL)
	s.cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := wait.Until(ctx, 20*time.Millisecond, func() (bool, error) {
		return syscall.Kill(-pgid, 0) != nil, nil
	}); err != nil {
		return fmt.Errorf("sleepers of group %d not reaped: %w", pgid, err)
	}
	return s.restorePidMax()
}

func (s *Sleepers) restorePidMax() error {
	if s.oldPidMax == nil {
		return nil
	}
	if err := os.WriteFile(pidMaxFile, s.oldPidMax, 0o644); err != nil {
		return fmt.Errorf("restore kernel.pid_max %s: %w", strings.TrimSpace(string(s.oldPidMax)), err)
	}
	return nil
}
