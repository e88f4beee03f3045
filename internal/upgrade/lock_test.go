package upgrade

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
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
