// Package nspawn boots a throwaway Debian system under systemd-nspawn, with a
// real systemd as PID 1, journald and D-Bus, so that tests can drive nginx
// the way a production host runs it.
//
// The container boots from a golden tree built by testdata/container/golden.sh
// with --volatile=overlay: every container starts clean and writes only to
// memory. By default it shares the host's network, so such a container runs
// alone on a host: Boot waits until every other container is closed. With
// PrivateNetwork, a container has a network namespace of its own (loopback
// only), and any number of them run side by side, like the hosts of a fleet.
package nspawn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

const (
	nspawnPath  = "/usr/bin/systemd-nspawn"
	NsenterPath = "/usr/bin/nsenter"
	// Host-wide: a container on the host's network (port 80) holds it alone,
	// those with networks of their own share it.
	lockPath = "/run/lock/nginx-upgrade-nspawn.lock"

	// Machine names, and so the containers' cgroups, start with this.
	namePrefix = "nginx-upgrade-"

	haltTimeout  = 30 * time.Second
	closeTimeout = 60 * time.Second
)

// ErrNoGolden means the golden tree has not been built.
var ErrNoGolden = errors.New("golden tree missing")

// Options configure Boot.
type Options struct {
	// Release picks the golden tree (Release.GoldenDir); default Bookworm.
	Release Release
	Golden  string // a golden tree by path instead
	Binds   []Bind
	// PrivateNetwork gives the container a network namespace of its own with
	// only a loopback; NetNS names it for tools on the host.
	PrivateNetwork bool
}

// Bind makes a host path visible in the container.
type Bind struct {
	Host, Container string
	ReadOnly        bool
}

// Container is a booted systemd-nspawn container.
type Container struct {
	name    string
	lock    *os.File
	cgroups cgroups
	cmd     *exec.Cmd
	console *syncBuffer
	exited  chan struct{} // closed when systemd-nspawn has exited
	waitErr error         // systemd-nspawn's exit; read after exited is closed
	leader  int
	pidNS   string

	closeOnce sync.Once
	closeErr  error
}

// Boot starts a container from the golden tree and waits, within ctx, until
// its systemd reports the system running. A degraded system is an error that
// names the failed units: a clean golden tree boots without any.
func Boot(ctx context.Context, opts Options) (_ *Container, err error) {
	release := opts.Release.OrDefault()
	golden := opts.Golden
	if golden == "" {
		golden = release.GoldenDir()
	}
	if _, err := os.Stat(filepath.Join(golden, stampName)); err != nil {
		return nil, fmt.Errorf("%w: %s: build it with `%s` as root", ErrNoGolden, golden, release.Script())
	}
	if _, err := os.Stat(nspawnPath); err != nil {
		return nil, fmt.Errorf("systemd-nspawn missing (`bash testdata/container/golden.sh` installs it): %w", err)
	}
	args, err := nspawnArgs(golden, opts.Binds, opts.PrivateNetwork)
	if err != nil {
		return nil, err
	}

	c := &Container{console: &syncBuffer{}, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	if c.lock, err = lockHost(ctx, !opts.PrivateNetwork); err != nil {
		return nil, err
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	c.name = namePrefix + hex.EncodeToString(suffix)
	if c.cgroups, err = makeCgroups(c.name); err != nil {
		return nil, err
	}
	args = append(args, "--machine="+c.name)

	// The shell joins the container's cgroups before it becomes
	// systemd-nspawn, so nspawn never runs anywhere else.
	const attach = `for f; do [ "$f" = -- ] && break; echo $$ >"$f" || exit 1; shift; done; shift; exec "$@"`
	shArgs := append([]string{"-c", attach, "sh"}, c.cgroups.procsFiles()...)
	shArgs = append(append(shArgs, "--", nspawnPath), args...)
	c.cmd = exec.Command("/bin/sh", shArgs...)
	c.cmd.Stdout, c.cmd.Stderr = c.console, c.console
	// If the test binary dies, nspawn turns SIGTERM into an orderly halt.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start systemd-nspawn: %w", err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()

	if err := c.findLeader(ctx); err != nil {
		return nil, c.bootError(err)
	}
	if err := c.waitRunning(ctx); err != nil {
		return nil, c.bootError(err)
	}
	return c, nil
}

func nspawnArgs(golden string, binds []Bind, privateNetwork bool) ([]string, error) {
	args := []string{
		"--directory=" + golden,
		"--volatile=overlay",
		"--boot",
		// No machined and no transient scope: the host has no systemd.
		"--register=no",
		"--keep-unit",
		"--console=read-only",
	}
	if privateNetwork {
		args = append(args, "--private-network")
	}
	// nspawn splits bind specs at colons and unescapes backslashes.
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`)
	for _, b := range binds {
		if !filepath.IsAbs(b.Host) || !path.IsAbs(b.Container) {
			return nil, fmt.Errorf("bind %q to %q: paths must be absolute", b.Host, b.Container)
		}
		flag := "--bind="
		if b.ReadOnly {
			flag = "--bind-ro="
		}
		args = append(args, flag+esc.Replace(b.Host)+":"+esc.Replace(b.Container))
	}
	return args, nil
}

// lockHost takes the host-wide container lock, alone for a container on the
// host's network, shared otherwise, waiting within ctx.
func lockHost(ctx context.Context, alone bool) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o755); err != nil {
		return nil, fmt.Errorf("lock containers: %w", err)
	}
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock containers: %w", err)
	}
	how := unix.LOCK_SH
	if alone {
		how = unix.LOCK_EX
	}
	err = wait.Until(ctx, 100*time.Millisecond, func() (bool, error) {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock containers (%s: a container on the host's network runs alone, until it is closed): %w", lockPath, err)
	}
	return f, nil
}

// findLeader waits for nspawn's child that is PID 1 of a new pid namespace
// and has become systemd.
func (c *Container) findLeader(ctx context.Context) error {
	nspawn := c.cmd.Process.Pid
	err := wait.Until(ctx, 20*time.Millisecond, func() (bool, error) {
		select {
		case <-c.exited:
			return false, fmt.Errorf("systemd-nspawn exited: %v", c.waitErr)
		default:
		}
		kids, err := children(nspawn)
		if err != nil {
			return false, nil // the shell has not become nspawn yet
		}
		for _, pid := range kids {
			ids, err := nsPIDs(pid)
			if err != nil || len(ids) != 2 || ids[1] != 1 || comm(pid) != "systemd" {
				continue
			}
			ns, err := pidNS(pid)
			if err != nil {
				return false, err
			}
			c.leader, c.pidNS = pid, ns
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the container's systemd: %w", err)
	}
	return nil
}

func (c *Container) waitRunning(ctx context.Context) error {
	var state string
	err := wait.Until(ctx, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-c.exited:
			return false, fmt.Errorf("systemd-nspawn exited: %v", c.waitErr)
		default:
		}
		// Exits non-zero in every state but running; the state is what counts.
		out, _, _ := c.Exec(ctx, "systemctl", "is-system-running")
		state = strings.TrimSpace(out)
		switch state {
		case "running", "degraded":
			return true, nil
		case "maintenance", "stopping":
			return false, fmt.Errorf("system is %s", state)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the system to run (last state %q): %w", state, err)
	}
	if state == "degraded" {
		failed, _, err := c.Exec(ctx, "systemctl", "--failed", "--plain", "--no-legend")
		if err != nil {
			return fmt.Errorf("system degraded; list failed units: %w", err)
		}
		return fmt.Errorf("system degraded; failed units:\n%s", failed)
	}
	return nil
}

func (c *Container) bootError(err error) error {
	return fmt.Errorf("boot container %s: %w\nconsole:\n%s", c.name, err, tail(c.console.String(), 40))
}

// Name is the machine name, also the container's cgroups' name.
func (c *Container) Name() string { return c.name }

// Leader is the host pid of the container's systemd, PID 1 inside.
func (c *Container) Leader() int { return c.leader }

// NetNS is the host path of the container's network namespace: the host's
// own unless the container was booted with PrivateNetwork.
func (c *Container) NetNS() string { return fmt.Sprintf("/proc/%d/ns/net", c.leader) }

// Root is the host path of the container's root directory. Absolute
// symlinks below it resolve on the host: see CopyIn.
func (c *Container) Root() string { return fmt.Sprintf("/proc/%d/root", c.leader) }

// Console is what systemd-nspawn and the container's console printed so far.
func (c *Container) Console() string { return c.console.String() }

// Exec runs a command in all of the container's namespaces and returns its
// output. A failed command's error has its exit status and stderr.
func (c *Container) Exec(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = c.run(ctx, &out, &errb, args)
	if err != nil {
		err = fmt.Errorf("%q in container: %w: %s", args, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), err
}

// Shell runs script with sh -c in the container and returns its combined
// output.
func (c *Container) Shell(ctx context.Context, script string) (string, error) {
	var out bytes.Buffer
	err := c.run(ctx, &out, &out, []string{"sh", "-c", script})
	if err != nil {
		err = fmt.Errorf("shell in container: %w\nscript:\n%s\noutput:\n%s", err, script, out.String())
	}
	return out.String(), err
}

func (c *Container) run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		return errors.New("no command")
	}
	nsArgs := append([]string{"--target", strconv.Itoa(c.leader), "--all", "--"}, args...)
	cmd := exec.CommandContext(ctx, NsenterPath, nsArgs...)
	// The host's environment would leak in through nsenter.
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"LANG=C.UTF-8",
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// nsenter forks into the pid namespace; kill the group, not just nsenter.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A daemon started by the command may hold the output pipes open.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success() {
		return nil
	}
	return err
}

// HostPID translates a pid in the container's pid namespace to the host's.
func (c *Container) HostPID(containerPID int) (int, error) {
	pids, err := pidsInNS(c.pidNS)
	if err != nil {
		return 0, fmt.Errorf("host pid of %d: %w", containerPID, err)
	}
	for _, pid := range pids {
		ids, err := nsPIDs(pid)
		if err == nil && len(ids) > 1 && ids[len(ids)-1] == containerPID {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("host pid of %d: no such process in container %s", containerPID, c.name)
}

// Processes lists the host pids of the processes in the container's pid
// namespace; none once Close has succeeded.
func (c *Container) Processes() ([]int, error) {
	return pidsInNS(c.pidNS)
}

// CopyIn copies a host file into the container like dpkg installs one: to a
// temporary name in the same directory, then renamed over containerPath, so a
// running binary stays intact. The directory must exist. Paths resolve inside
// the container, symlinks included.
func (c *Container) CopyIn(hostPath, containerPath string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("copy %s to container:%s: %w", hostPath, containerPath, err)
		}
	}()
	src, err := os.Open(hostPath)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	root, err := os.Open(c.Root())
	if err != nil {
		return err
	}
	defer root.Close()
	dir, name := path.Split(path.Clean("/" + containerPath))
	dirfd, err := unix.Openat2(int(root.Fd()), dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT,
	})
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(dirfd)

	tmp := "." + name + ".nspawn-copy"
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(fi.Mode().Perm()))
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(fd), tmp)
	_, err = io.Copy(dst, src)
	if err == nil {
		// Mode again: the umask trimmed the one given to open.
		err = dst.Chmod(fi.Mode().Perm())
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dirfd, tmp, dirfd, name)
	}
	if err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
	}
	return err
}

// Close halts the container, kills it if it does not halt in time, and
// removes what it left on the host. It fails if any of the container's
// processes survive. Safe to call more than once.
func (c *Container) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Container) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
		errs = append(errs, c.halt(ctx))
	}
	if c.pidNS != "" {
		var left []int
		err := wait.Until(ctx, 50*time.Millisecond, func() (bool, error) {
			var err error
			left, err = pidsInNS(c.pidNS)
			return len(left) == 0, err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("container processes left %v: %w", left, err))
		}
	}
	if c.cgroups != nil {
		errs = append(errs, c.cgroups.remove(ctx))
	}
	if c.name != "" {
		// nspawn refuses to remove this when /run is not a tmpfs.
		errs = append(errs, os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", c.name)))
	}
	if c.lock != nil {
		errs = append(errs, c.lock.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close container %s: %w", c.name, err)
	}
	return nil
}

// halt asks for an orderly shutdown (nspawn turns SIGTERM into SIGRTMIN+3 for
// the container's systemd) and kills the container when that takes too long.
func (c *Container) halt(ctx context.Context) error {
	c.cmd.Process.Signal(syscall.SIGTERM)
	haltCtx, cancel := context.WithTimeout(ctx, haltTimeout)
	defer cancel()
	select {
	case <-c.exited:
		return nil
	case <-haltCtx.Done():
	}
	// Killing PID 1 of the namespace takes every process in it along.
	if ns, err := pidNS(c.leader); err == nil && ns == c.pidNS {
		syscall.Kill(c.leader, syscall.SIGKILL)
	}
	c.cmd.Process.Kill()
	select {
	case <-c.exited:
		return fmt.Errorf("no orderly halt within %v; killed", haltTimeout)
	case <-ctx.Done():
		return fmt.Errorf("systemd-nspawn (pid %d) survived SIGKILL: %w", c.cmd.Process.Pid, ctx.Err())
	}
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// syncBuffer collects nspawn's output, written by exec's copying goroutines
// and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
