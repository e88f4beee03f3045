package testbed

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// WorkersDie makes, in dir, a copy of build whose workers exit with nginx's fatal code 2 as they
// start (testdata/faults/workers_die.c, linked in with patchelf). Its master starts and its `-t`
// passes: only checking the workers catches it.
func WorkersDie(dir, build string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	lib := filepath.Join(dir, "libworkers_die.so")
	src := filepath.Join(root, "testdata/faults/workers_die.c")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("compile %s: %w: %s (needs gcc)", src, err, out)
	}
	bin := filepath.Join(dir, "nginx-workers-die")
	if err := copyFile(build, bin, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command("patchelf", "--add-needed", lib, bin).CombinedOutput(); err != nil {
		return "", fmt.Errorf("patchelf: %w: %s (needs: apt-get install patchelf)", err, out)
	}
	return bin, nil
}

// Truncated makes, in dir, a copy of build cut to its first 64 KiB: an interrupted download.
func Truncated(dir, build string) (string, error) {
	in, err := os.Open(build)
	if err != nil {
		return "", err
	}
	defer in.Close()
	bin := filepath.Join(dir, "nginx-truncated")
	out, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.CopyN(out, in, 64<<10); err != nil {
		out.Close()
		return "", err
	}
	return bin, out.Close()
}
