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

// ModuleWorkersDie makes, in dir, a copy of the dynamic module mod that makes every worker exit
// with nginx's fatal code 2 as it starts (testdata/faults/module_workers_die.c, linked in with
// patchelf). The master loads it and `-t` passes: only checking the workers catches it.
// WorkersDie's initgroups stand-in cannot be used here: Debian's nginx is linked with BIND_NOW, so
// its call is bound to libc before any module is loaded.
func ModuleWorkersDie(dir, mod string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	lib := filepath.Join(dir, "libmodule_workers_die.so")
	src := filepath.Join(root, "testdata/faults/module_workers_die.c")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("compile %s: %w: %s (needs gcc)", src, err, out)
	}
	broken := filepath.Join(dir, "broken-"+filepath.Base(mod))
	if err := copyFile(mod, broken, 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("patchelf", "--add-needed", lib, broken).CombinedOutput(); err != nil {
		return "", fmt.Errorf("patchelf: %w: %s (needs: apt-get install patchelf)", err, out)
	}
	return broken, nil
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
