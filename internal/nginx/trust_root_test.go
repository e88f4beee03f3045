//go:build e2e

package nginx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Files owned by another user can only be made by root: these run under make test.

func TestTrustRefusesWhatAnotherUserOwns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test chowns files to nobody: run it as root (make test does)")
	}
	dir := t.TempDir()
	foreign := ownFile(t, dir, "foreign.pid", 0o644)
	os.Chown(foreign, nobody, nobody)
	if err := TrustPidFile(foreign); !errors.Is(err, ErrUntrusted) {
		t.Errorf("pid file owned by nobody: got %v, want ErrUntrusted", err)
	}

	os.MkdirAll(filepath.Join(dir, "a/b"), 0o755)
	bin := ownFile(t, filepath.Join(dir, "a/b"), "nginx", 0o755)
	os.Chown(filepath.Join(dir, "a"), nobody, nobody)
	if err := TrustBinary(bin); !errors.Is(err, ErrUntrusted) {
		t.Errorf("binary below a directory nobody owns: got %v, want ErrUntrusted", err)
	}
}
