package nginx

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

func TestWaitExitSeesTheExitAndTheDeadline(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	p, err := ReadProc(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := WaitExit(ctx, p, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("live process: got %v, want DeadlineExceeded", err)
	}
	go func() { cmd.Process.Kill(); cmd.Wait() }()
	start := time.Now()
	if err := WaitExit(context.Background(), p, time.Minute); err != nil {
		t.Fatalf("killed process: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("exit seen after %s: the pidfd did not wake the wait", d)
	}
	if err := WaitExit(context.Background(), p, time.Minute); err != nil {
		t.Fatalf("process already gone: %v", err)
	}
}

func TestAgeOfThisProcessIsItsRunningTime(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	p, err := ReadProc(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	age, err := Age(p)
	// Started just now: the start time is in 10 ms ticks.
	if err != nil || age > 5*time.Second {
		t.Fatalf("age of a process started just now: %v, %v", age, err)
	}
	self, _ := ReadProc(1)
	if old, err := Age(self); err != nil || old < age {
		t.Fatalf("pid 1 is younger (%v) than a process started just now (%v)", old, age)
	}
}
