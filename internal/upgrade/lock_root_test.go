//go:build e2e

package upgrade

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A file owned by another user can only be made by root: this runs under make test.
func TestLockRefusesAFileAnotherUserOwns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test chowns a file to nobody: run it as root (make test does)")
	}
	dir := filepath.Join(t.TempDir(), "locks")
	path := lockPath(t, dir, "/run/nginx.pid")
	os.Remove(path)
	os.WriteFile(path, nil, 0o600)
	os.Chown(path, 65534, 65534)
	if _, err := lock(dir, "/run/nginx.pid"); !errors.Is(err, ErrUnsafeLock) {
		t.Fatalf("lock file owned by nobody: got %v, want ErrUnsafeLock", err)
	}
}
