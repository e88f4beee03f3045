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
	count     int
	oldPidMax []byte // kernel.pid_max to restore, when StartSleepers raised it
}

// pidMaxFile bounds how many processes can run; kernel.pid_max is 32768 by default.
const pidMaxFile = "/proc/sys/kernel/pid_max"

// sleeperForkers fork the sleepers side by side: one per core here.
const sleeperForkers = 2

// forkSleepers is a perl program (perl-base is essential on Debian): for each count in its
// arguments a forker forks that many children that sleep 600 s and exit; once every forker has
// forked its share it prints "ready" and sleeps too. A child is a copy of perl, already in
// memory: no exec, which makes forking tens of thousands far quicker than from a shell.
const forkSleepers = `
$| = 1;
for my $share (@ARGV) {
	defined(my $forker = fork) or die "fork a forker: $!\n";
	next if $forker;
	for (1 .. $share) {
		defined(my $pid = fork) or die "fork sleeper $_ of $share: $!\n";
		if (!$pid) { sleep 600; exit 0 }
	}
	exit 0;
}
while ((my $pid = wait) > 0) { die "a forker failed\n" if $? }
print "ready\n";
sleep 600;
`

// StartSleepers starts count sleeping processes in a process group of their own; their `sleep
// 600` bounds them even if Stop is never called. When count would leave less than 4096 pids under
// kernel.pid_max for everything else, it raises pid_max until Stop (the default, 32768, leaves
// 30,000 sleepers too little room).
func StartSleepers(ctx context.Context, count int) (*Sleepers, error) {
	s := &Sleepers{count: count}
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
	shares := Split(count, sleeperForkers)
	s.cmd = exec.Command("perl", append([]string{"-e", forkSleepers}, itoas(shares)...)...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.Stderr = os.Stderr
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
	// Here two forkers started 30,000 in 119 s on a quiet machine and in 230 s on a busy one
	// (15 ms a fork); the bound leaves each forker 24 ms a fork.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(shares[0])*24*time.Millisecond)
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

// Stop kills the sleepers and waits, boundedly, until init has reaped every one of them (their
// forkers are gone: init is their parent).
func (s *Sleepers) Stop() error {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGKILL)
	s.cmd.Wait()
	// Here 30,000 were killed and reaped in 32-42 s.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+time.Duration(s.count)*5*time.Millisecond)
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
