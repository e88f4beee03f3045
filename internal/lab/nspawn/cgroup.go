package nspawn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// cgroups are one container's own cgroups, one per hierarchy nspawn uses.
// Without them, nspawn started from the host's root cgroup puts every
// container in the same /payload and /supervisor cgroups and leaves them
// behind.
type cgroups []string

// cgroupRoots are the hierarchies nspawn needs: the unified one and, on a
// hybrid host, the name=systemd one.
func cgroupRoots() ([]string, error) {
	if isFS("/sys/fs/cgroup", unix.CGROUP2_SUPER_MAGIC) {
		return []string{"/sys/fs/cgroup"}, nil
	}
	var roots []string
	if isFS("/sys/fs/cgroup/unified", unix.CGROUP2_SUPER_MAGIC) {
		roots = append(roots, "/sys/fs/cgroup/unified")
	}
	if isFS("/sys/fs/cgroup/systemd", unix.CGROUP_SUPER_MAGIC) {
		roots = append(roots, "/sys/fs/cgroup/systemd")
	}
	if len(roots) == 0 {
		return nil, errors.New("no cgroup2 or name=systemd hierarchy under /sys/fs/cgroup (testdata/container/golden.sh mounts one)")
	}
	return roots, nil
}

func isFS(path string, magic int64) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == magic
}

func makeCgroups(name string) (cgroups, error) {
	roots, err := cgroupRoots()
	if err != nil {
		return nil, err
	}
	var cg cgroups
	for _, root := range roots {
		// Left by containers whose test process was killed; busy ones stay.
		stale, _ := filepath.Glob(filepath.Join(root, namePrefix+"*"))
		for _, dir := range stale {
			removeTree(dir)
		}
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return cg, fmt.Errorf("create cgroup: %w", err)
		}
		cg = append(cg, dir)
	}
	return cg, nil
}

func (cg cgroups) procsFiles() []string {
	var files []string
	for _, dir := range cg {
		files = append(files, filepath.Join(dir, "cgroup.procs"))
	}
	return files
}

// remove deletes the cgroups and what the container created below them,
// deepest first. It retries while the kernel still counts exiting
// processes in them.
func (cg cgroups) remove(ctx context.Context) error {
	var last error
	err := wait.Until(ctx, 50*time.Millisecond, func() (bool, error) {
		last = nil
		for _, top := range cg {
			if err := removeTree(top); err != nil {
				last = err
			}
		}
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("remove cgroups: %w (last: %v)", err, last)
	}
	return nil
}

func removeTree(top string) error {
	var dirs []string
	err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return err
	})
	if err != nil {
		return err
	}
	slices.Reverse(dirs)
	for _, dir := range dirs {
		if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
	}
	return nil
}
