package nginx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// nobody is the uid of a user who must not be able to steer the root helper.
const nobody = 65534

// ownFile writes a file owned by the test's user, who is a TrustedOwner (root under make test).
func ownFile(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("1\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func TestTrustPidFileRefusesWhatOthersCouldWrite(t *testing.T) {
	dir := t.TempDir()
	good := ownFile(t, dir, "good.pid", 0o644)
	if err := TrustPidFile(good); err != nil {
		t.Fatalf("the helper's own pid file refused: %v", err)
	}

	link := filepath.Join(dir, "link.pid")
	os.Symlink(good, link)
	groupWritable := ownFile(t, dir, "gw.pid", 0o664)
	openDir := filepath.Join(t.TempDir(), "open")
	os.Mkdir(openDir, 0o777)
	os.Chmod(openDir, 0o777)
	inOpenDir := ownFile(t, openDir, "nginx.pid", 0o644)

	for name, path := range map[string]string{"symlink": link, "group-writable": groupWritable, "in a world-writable directory": inOpenDir} {
		if err := TrustPidFile(path); !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: got %v, want ErrUntrusted", name, err)
		}
	}
}

func TestTrustBinaryChecksEveryDirectoryAbove(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a/b"), 0o755)
	bin := ownFile(t, filepath.Join(dir, "a/b"), "nginx", 0o755)
	if err := TrustBinary(bin); err != nil {
		t.Fatalf("the helper's own binary under a sticky /tmp refused: %v", err)
	}
	os.Chmod(filepath.Join(dir, "a/b"), 0o775)
	if err := TrustBinary(bin); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("binary in a group-writable directory: got %v, want ErrUntrusted", err)
	}
	os.Chmod(filepath.Join(dir, "a/b"), 0o755)
	os.Chmod(bin, 0o757)
	if err := TrustBinary(bin); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("world-writable binary: got %v, want ErrUntrusted", err)
	}
}

func TestTrustedOwnerIsRootOrTheHelpersUser(t *testing.T) {
	if !TrustedOwner(0) || !TrustedOwner(uint32(os.Geteuid())) {
		t.Errorf("root and uid %d must be trusted", os.Geteuid())
	}
	if os.Geteuid() != nobody && TrustedOwner(nobody) {
		t.Errorf("nobody trusted while running as uid %d", os.Geteuid())
	}
}
