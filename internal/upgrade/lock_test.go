package upgrade

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func lockPath(t *testing.T, dir, pidFile string) string {
	t.Helper()
	release, err := lock(dir, pidFile)
	if err != nil {
		t.Fatal(err)
	}
	release()
	matches, _ := filepath.Glob(filepath.Join(dir, "nginx-*.lock"))
	if len(matches) != 1 {
		t.Fatalf("want one lock file, have %v", matches)
	}
	return matches[0]
}

func TestOneRunPerPidFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "locks")
	release, err := lock(dir, "/run/nginx.pid")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock(dir, "/run/nginx.pid"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock: got %v, want ErrBusy", err)
	}
	other, err := lock(dir, "/run/other-nginx.pid")
	if err != nil {
		t.Fatalf("another nginx's lock: %v", err)
	}
	other()
	release()
	again, err := lock(dir, "/run/nginx.pid")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

func TestLockRefusesPlantedFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "locks")
	path := lockPath(t, dir, "/run/nginx.pid")

	os.Remove(path)
	os.Symlink("/etc/passwd", path)
	if _, err := lock(dir, "/run/nginx.pid"); !errors.Is(err, ErrUnsafeLock) {
		t.Fatalf("symlink planted as lock: got %v, want ErrUnsafeLock", err)
	}
	os.Remove(path)
	os.Chmod(dir, 0o777)
	if _, err := lock(dir, "/run/nginx.pid"); !errors.Is(err, ErrUnsafeLock) {
		t.Fatalf("world-writable lock directory: got %v, want ErrUnsafeLock", err)
	}
}

// A run with a wait takes the lock once the run holding it ends; without one, or when the holder
// outlasts the wait, it is refused as busy.
func TestLockWithinWaitsForTheRunInProgress(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "locks")
	release, err := lock(dir, "/run/nginx.pid")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, waited, err := lockWithin(ctx, dir, "/run/nginx.pid", time.Now(), time.Millisecond); !errors.Is(err, ErrBusy) || waited != 0 {
		t.Fatalf("no wait: got %v after %s, want ErrBusy at once", err, waited)
	}
	start := time.Now()
	if _, _, err := lockWithin(ctx, dir, "/run/nginx.pid", start.Add(50*time.Millisecond), time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("holder outlasting the wait: got %v, want ErrBusy", err)
	} else if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("gave up after %s, before the deadline", d)
	}

	done := time.AfterFunc(100*time.Millisecond, release)
	defer done.Stop()
	again, waited, err := lockWithin(ctx, dir, "/run/nginx.pid", time.Now().Add(time.Minute), time.Millisecond)
	if err != nil {
		t.Fatalf("after the holder's end: %v", err)
	}
	defer again()
	if waited < 50*time.Millisecond || waited > 30*time.Second {
		t.Fatalf("waited %s, want about the holder's remaining 100ms", waited)
	}
}
