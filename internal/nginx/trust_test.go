package nginx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// nobody is the uid of a user who must not be able to steer the root helper.
const nobody = 65534

func rootFile(t *testing.T, dir, name string, mode os.FileMode) string {
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
	if os.Geteuid() != 0 {
		t.Fatal("these tests chown files: run them as root (make test does)")
	}
	dir := t.TempDir()
	good := rootFile(t, dir, "good.pid", 0o644)
	if err := TrustPidFile(good); err != nil {
		t.Fatalf("root's own pid file refused: %v", err)
	}

	link := filepath.Join(dir, "link.pid")
	os.Symlink(good, link)
	groupWritable := rootFile(t, dir, "gw.pid", 0o664)
	foreign := rootFile(t, dir, "foreign.pid", 0o644)
	os.Chown(foreign, nobody, nobody)
	openDir := filepath.Join(t.TempDir(), "open")
	os.Mkdir(openDir, 0o777)
	os.Chmod(openDir, 0o777)
	inOpenDir := rootFile(t, openDir, "nginx.pid", 0o644)

	for name, path := range map[string]string{"symlink": link, "group-writable": groupWritable, "owned by nobody": foreign, "in a world-writable directory": inOpenDir} {
		if err := TrustPidFile(path); !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: got %v, want ErrUntrusted", name, err)
		}
	}
}

func TestTrustBinaryChecksEveryDirectoryAbove(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a/b"), 0o755)
	bin := rootFile(t, filepath.Join(dir, "a/b"), "nginx", 0o755)
	if err := TrustBinary(bin); err != nil {
		t.Fatalf("root's own binary under a sticky /tmp refused: %v", err)
	}
	os.Chown(filepath.Join(dir, "a"), nobody, nobody)
	if err := TrustBinary(bin); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("binary below a directory nobody owns: got %v, want ErrUntrusted", err)
	}
	os.Chown(filepath.Join(dir, "a"), 0, 0)
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
