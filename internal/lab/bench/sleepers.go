package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// cloneSleepers is a C program (gcc is a host dependency) that starts as many sleepers as its
// argument says, prints "ready" and sleeps too. Each sleeper is a process of its own (its own pid,
// listed in /proc, as the helper would meet it) made by clone(CLONE_VM): it shares its parent's
// memory, so starting it copies no page tables and ending it frees none. On this VM a fork costs
// 1-5 ms and as much again to reap (perl's forks took 3 min to start 30,000, 42 s to reap);
// clone(CLONE_VM) costs 0.1 ms and 0.02. A sleeper only calls alarm and pause on a stack of its
// own and never returns; alarm(600) ends it, and its parent, even if Stop is never called.
const cloneSleepers = `
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { stack_size = 4096 };

static int sleeper(void *arg) {
	(void)arg;
	alarm(600);
	for (;;) pause();
	return 0;
}

int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 0;
	char *stacks = calloc(n + 1, stack_size);
	if (!stacks) { perror("sleepers: allocate stacks"); return 1; }
	for (long i = 1; i <= n; i++) {
		if (clone(sleeper, stacks + i * stack_size, CLONE_VM | SIGCHLD, NULL) < 0) {
			fprintf(stderr, "sleepers: clone sleeper %ld of %ld: ", i, n);
			perror(NULL);
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	alarm(600);
	for (;;) pause();
}
`

// StartSleepers starts count sleeping processes in a process group of their own. When count would
// leave less than 4096 pids under kernel.pid_max for everything else, it raises pid_max until Stop
// (the default, 32768, leaves 30,000 sleepers too little room).
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
	prog, err := buildSleepers(ctx)
	if err != nil {
		return nil, err
	}
	if count+4096 > pidMax {
		if err := os.WriteFile(pidMaxFile, []byte(strconv.Itoa(count+65536)), 0o644); err != nil {
			return nil, fmt.Errorf("sleepers: %d processes need kernel.pid_max above %d: %w", count, pidMax, err)
		}
		s.oldPidMax = b
	}
	s.cmd = exec.Command(prog, strconv.Itoa(count))
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.Stderr = os.Stderr
	out, err := s.cmd.StdoutPipe()
	if err == nil {
		err = s.cmd.Start()
	}
	os.RemoveAll(filepath.Dir(prog)) // running, it needs no name
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
	// Here 30,000 started in about 3 s; the bound leaves 2 ms a sleeper.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(count)*2*time.Millisecond)
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

// buildSleepers compiles cloneSleepers into a directory of the bench's own and returns its path.
func buildSleepers(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "upgrade-bench-sleepers-")
	if err != nil {
		return "", fmt.Errorf("sleepers: %w", err)
	}
	src, prog := filepath.Join(dir, "sleepers.c"), filepath.Join(dir, "sleepers")
	err = os.WriteFile(src, []byte(cloneSleepers), 0o644)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if out, cerr := exec.CommandContext(ctx, "cc", "-O2", "-Wall", "-Werror", "-o", prog, src).CombinedOutput(); cerr != nil {
			err = fmt.Errorf("compile %s (gcc is a host dependency: make host-deps): %w: %s", src, cerr, out)
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("sleepers: %w", err)
	}
	return prog, nil
}

// Stop kills the sleepers and their parent and waits, boundedly, until init has reaped every one
// of them (init is their parent once theirs is gone).
func (s *Sleepers) Stop() error {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGKILL)
	s.cmd.Wait()
	// Here 30,000 were killed and reaped in 6.4 s.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+time.Duration(s.count)*time.Millisecond)
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
