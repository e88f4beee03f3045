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
	return withFault(dir, build, "nginx-workers-die", "workers_die", 0o755)
}

// ModuleWorkersDie makes, in dir, a copy of the dynamic module mod that makes every worker exit
// with nginx's fatal code 2 as it starts (testdata/faults/module_workers_die.c, linked in with
// patchelf). The master loads it and `-t` passes: only checking the workers catches it.
// WorkersDie's initgroups stand-in cannot be used here: Debian's nginx is linked with BIND_NOW, so
// its call is bound to libc before any module is loaded.
func ModuleWorkersDie(dir, mod string) (string, error) {
	return withFault(dir, mod, "broken-"+filepath.Base(mod), "module_workers_die", 0o644)
}

// withFault copies target into dir as name, with the library built from testdata/faults/fault.c
// added to what it needs (patchelf --add-needed), so that it is loaded along with it.
func withFault(dir, target, name, fault string, mode os.FileMode) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	lib := filepath.Join(dir, "lib"+fault+".so")
	src := filepath.Join(root, "testdata/faults", fault+".c")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("compile %s: %w: %s (needs gcc)", src, err, out)
	}
	out := filepath.Join(dir, name)
	if err := copyFile(target, out, mode); err != nil {
		return "", err
	}
	if msg, err := exec.Command("patchelf", "--add-needed", lib, out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("patchelf: %w: %s (needs: apt-get install patchelf)", err, msg)
	}
	return out, nil
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
