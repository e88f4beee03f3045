//go:build e2e

package systemdspec

// TestSystemdClaims checks, under a real systemd, what the zero-downtime
// binary swap relies on: how Debian's nginx.service follows nginx's own
// USR2/WINCH/QUIT upgrade, and what it takes to hand systemd the new master.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

func TestMain(m *testing.M) {
	// Run through nsenter --pid, the test binary doubles as an sd_notify
	// sender inside a container's pid namespace.
	// It stays alive until its stdin closes: systemd 257 takes the sender
	// by pidfd (SO_PASSPIDFD), and a sender gone before systemd reads the
	// datagram is refused for that ("Notify sender died before message is
	// processed"), not for the reason under test.
	if len(os.Args) == 5 && os.Args[1] == "sdnotify" {
		pid, err := strconv.Atoi(os.Args[3])
		if err == nil {
			err = sdNotify(os.Args[2], pid, os.Args[4])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("sent")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sdNotify sends an sd_notify datagram. A credPID > 0 is claimed in
// SCM_CREDENTIALS (root may claim any pid of its own pid namespace);
// 0 lets the kernel attach the sender's own. fds travel as SCM_RIGHTS.
func sdNotify(socket string, credPID int, msg string, fds ...int) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sd_notify socket: %w", err)
	}
	defer unix.Close(fd)
	var oob []byte
	if credPID > 0 {
		oob = unix.UnixCredentials(&unix.Ucred{Pid: int32(credPID), Uid: 0, Gid: 0})
	}
	if len(fds) > 0 {
		oob = append(oob, unix.UnixRights(fds...)...)
	}
	if err := unix.Sendmsg(fd, []byte(msg), oob, &unix.SockaddrUnix{Name: socket}, 0); err != nil {
		return fmt.Errorf("sd_notify %q as pid %d: %w", msg, credPID, err)
	}
	return nil
}

// The claims hold on every release the lab runs, except where its systemd
// really differs (e_mainpidfd: 257 takes a pidfd, 252 does not).
func TestSystemdClaims(t *testing.T) { labtest.EachRelease(t, testSystemdClaims) }

func testSystemdClaims(t *testing.T, rel nspawn.Release) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	debs, bind := nspawn.DebsBindT(t, rel)
	c := nspawn.BootT(t, nspawn.Options{Release: rel, Binds: []nspawn.Bind{bind}})
	nspawn.InstallNginxT(ctx, t, c, debs.Old)
	x := &lab{t: t, ctx: ctx, c: c}
	// The newer build replaces /usr/sbin/nginx by rename, as dpkg does; every
	// USR2 below re-executes it.
	newDir := nspawn.DebsDir + "/" + debs.New
	x.sh(fmt.Sprintf(`dpkg-deb --fsys-tarfile '%s'/nginx_*.deb | tar -xO ./usr/sbin/nginx >/usr/sbin/nginx.dpkg-new
chmod 755 /usr/sbin/nginx.dpkg-new
mv -f /usr/sbin/nginx.dpkg-new /usr/sbin/nginx`, newDir))

	t.Run("a_stock_unit_follows_pidfile", func(t *testing.T) {
		x := x.with(t)
		x.setUnit("")
		old, new := x.usr2()
		x.quit(old)
		st := x.settled()
		t.Logf("stock unit, old master %d, new master %d: after QUIT %+v", old, new, st)
		if st.Active != "active" || st.MainPID != new {
			t.Fatalf("after the swap: %+v, want active with MainPID %d", st, new)
		}
		exe := x.sh(fmt.Sprintf("stat -L -c %%i /proc/%d/exe; stat -c %%i /usr/sbin/nginx", new))
		if f := strings.Fields(exe); len(f) != 2 || f[0] != f[1] {
			t.Fatalf("new master does not run the new /usr/sbin/nginx: inodes %q", exe)
		}
	})

	t.Run("b_no_pidfile_unit_dies", func(t *testing.T) {
		x := x.with(t)
		x.setUnit("[Service]\nPIDFile=\n")
		old, new := x.usr2()
		x.quit(old)
		st := x.settled()
		t.Logf("PIDFile= unit, old master %d, new master %d: after QUIT %+v", old, new, st)
		if st.Active != "inactive" {
			t.Fatalf("after the swap: %+v, want inactive", st)
		}
		x.noNginx()
	})

	// MAINPID=<new master> to systemd's notify socket before QUIT, with the
	// PIDFile= unit of b.
	const (
		fromHost      = "host"      // the test process: host pid namespace
		fromContainer = "container" // nsenter --pid: container pid namespace
		credOld       = "old"       // claim the old master, the unit's MainPID
		credNew       = "new"       // claim the new master, also in the unit
		credOwn       = "own"       // no claim: the sender's own pid
	)
	for _, tc := range []struct {
		access   string // NotifyAccess=; "" keeps forking's default, none
		sender   string
		cred     string
		accepted bool
		rejected string // systemd's log line when not accepted
	}{
		{"", fromHost, credOld, false, "but reception is disabled"},
		{"main", fromHost, credOld, true, ""},
		{"exec", fromHost, credOld, true, ""},
		{"all", fromHost, credOld, true, ""},
		{"main", fromHost, credNew, false, "reception only permitted for main PID"},
		{"all", fromHost, credNew, true, ""},
		{"all", fromHost, credOwn, false, "Received notify message without valid credentials"},
		{"all", fromContainer, credOwn, false, "Cannot find unit for notify message of PID"},
		{"main", fromContainer, credOld, true, ""},
	} {
		name := fmt.Sprintf("c_notifyaccess_%s_from_%s_cred_%s", cmp(tc.access, "default"), tc.sender, tc.cred)
		t.Run(name, func(t *testing.T) {
			x := x.with(t)
			unit := "[Service]\nPIDFile=\n"
			if tc.access != "" {
				unit += "NotifyAccess=" + tc.access + "\n"
			}
			x.setUnit(unit)
			old, new := x.usr2()
			if !tc.accepted {
				// A refusal is the log line below; newer systemd logs some only at debug level.
				x.sh("systemd-analyze log-level debug")
				defer x.sh("systemd-analyze log-level info")
			}
			cursor := x.cursor()

			cred := 0 // credOwn
			switch tc.cred {
			case credOld:
				cred = old
			case credNew:
				cred = new
			}
			msg := fmt.Sprintf("MAINPID=%d", new)
			done := func() {}
			switch tc.sender {
			case fromHost:
				// The kernel reads the claimed pid in the sender's pid
				// namespace: the host sender claims host pids.
				if cred != 0 {
					var err error
					if cred, err = c.HostPID(cred); err != nil {
						t.Fatal(err)
					}
				}
				if err := sdNotify(c.Root()+"/run/systemd/notify", cred, msg); err != nil {
					t.Fatal(err)
				}
			case fromContainer:
				done = x.sendFromContainer(cred, msg)
			}

			if tc.accepted {
				x.waitFor("MainPID="+strconv.Itoa(new), func() bool { return x.state().MainPID == new })
			} else {
				x.waitFor("systemd to log "+strconv.Quote(tc.rejected), func() bool {
					return strings.Contains(x.journalAfter(cursor), tc.rejected)
				})
			}
			done()
			x.quit(old)
			st := x.settled()
			t.Logf("NotifyAccess=%s, sender in %s pid namespace claiming %s (pid %d): %s; after QUIT %+v",
				cmp(tc.access, "(default)"), tc.sender, tc.cred, cred, strings.TrimSpace(x.journalAfter(cursor)), st)
			x.afterQuit(st, tc.accepted, new)
		})
	}

	// MAINPIDFD=1 with a pidfd of the new master attached (SCM_RIGHTS),
	// claiming the old master, NotifyAccess=main: nginx-upgradectl's
	// hand-over from systemd 257 on, where systemd takes the process the
	// pidfd names (src/core/service.c, service_notify_message_parse_new_pid)
	// and so cannot take another that reused its pid. Before 257 systemd
	// knows no MAINPIDFD=, closes the fd, and keeps the old MainPID.
	t.Run("e_mainpidfd_from_host_cred_old", func(t *testing.T) {
		x := x.with(t)
		x.setUnit("[Service]\nPIDFile=\nNotifyAccess=main\n")
		old, new := x.usr2()
		cursor := x.cursor()
		hostOld, err := c.HostPID(old)
		if err != nil {
			t.Fatal(err)
		}
		hostNew, err := c.HostPID(new)
		if err != nil {
			t.Fatal(err)
		}
		pidfd, err := unix.PidfdOpen(hostNew, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(pidfd)
		if err := sdNotify(c.Root()+"/run/systemd/notify", hostOld, "MAINPIDFD=1", pidfd); err != nil {
			t.Fatal(err)
		}
		version := x.systemdVersion()
		accepted := version >= 257
		if accepted {
			x.waitFor("MainPID="+strconv.Itoa(new), func() bool { return x.state().MainPID == new })
		} else {
			const closed = "Got extra auxiliary fds with notification message, closing them."
			x.waitFor("systemd to log "+strconv.Quote(closed), func() bool {
				return strings.Contains(x.journalAfter(cursor), closed)
			})
		}
		x.quit(old)
		st := x.settled()
		t.Logf("systemd %d, MAINPIDFD=1 with a pidfd of new master %d as old master %d: %s; after QUIT %+v",
			version, new, old, strings.TrimSpace(x.journalAfter(cursor)), st)
		x.afterQuit(st, accepted, new)
	})

	t.Run("d_daemon_off_ignores_usr2", func(t *testing.T) {
		x := x.with(t)
		x.setUnit(`[Service]
Type=exec
PIDFile=
ExecStartPre=
ExecStart=
ExecStart=/usr/sbin/nginx -g "daemon off; master_process on;"
`)
		m := x.state().MainPID
		x.ready(m)
		facts := x.sh(fmt.Sprintf(`grep -E '^(PPid|NSpid):' /proc/%d/status | tr '\t\n' '  '; echo
tr '\0' ' ' </proc/%d/cmdline; echo
nginx -T 2>/dev/null | grep -c '^[[:space:]]*daemon' || true
systemctl show -p Type,ExecMainPID nginx | tr '\n' ' '`, m, m))
		t.Logf("daemon off master %d, as /proc and systemd show it before any signal:\n%s", m, facts)
		if !strings.Contains(facts, "PPid: 1 ") || !strings.Contains(facts, "daemon off;") {
			t.Fatalf("want the master's parent to be PID 1 and 'daemon off;' in its title:\n%s", facts)
		}

		x.sh(": >/var/log/nginx/error.log; kill -USR2 " + strconv.Itoa(m))
		const ignored = "the changing binary signal is ignored"
		var log string
		x.waitFor("nginx to log "+strconv.Quote(ignored), func() bool {
			log = x.sh("cat /var/log/nginx/error.log")
			return strings.Contains(log, ignored)
		})
		t.Logf("error.log after USR2: %s", strings.TrimSpace(log))
		after := x.state()
		if after.Active != "active" || after.MainPID != m {
			t.Fatalf("after USR2: %+v, want active with MainPID %d", after, m)
		}
		if masters := x.sh("pgrep -c -f '^nginx: master' || true"); strings.TrimSpace(masters) != "1" {
			t.Fatalf("after USR2: %s masters, want 1", masters)
		}
		x.sh("systemctl stop nginx")
		x.noNginx()
	})
}

func cmp(s, ifEmpty string) string {
	if s == "" {
		return ifEmpty
	}
	return s
}

// lab runs the experiments' steps in one container, failing the test on
// error. Each step's waits are bounded by ctx.
type lab struct {
	t   testing.TB
	ctx context.Context
	c   *nspawn.Container
}

func (x *lab) with(t testing.TB) *lab { return &lab{t: t, ctx: x.ctx, c: x.c} }

func (x *lab) sh(script string) string {
	x.t.Helper()
	out, err := x.c.Shell(x.ctx, script)
	if err != nil {
		x.t.Fatal(err)
	}
	return out
}

// setUnit replaces nginx.service's drop-ins with dropin (none if empty) and
// restarts it.
func (x *lab) setUnit(dropin string) {
	x.t.Helper()
	script := "rm -rf /etc/systemd/system/nginx.service.d\n"
	if dropin != "" {
		script += "mkdir -p /etc/systemd/system/nginx.service.d\ncat >/etc/systemd/system/nginx.service.d/test.conf <<'EOF'\n" + dropin + "EOF\n"
	}
	// The claims restart nginx more often than its start limit allows (5 in 10 s).
	x.sh(script + "systemctl daemon-reload\nsystemctl reset-failed nginx\nsystemctl restart nginx\nsystemctl is-active nginx")
}

// systemdVersion is the major version of the box's systemd ("systemd 257
// (257.9-1~deb13u1)" → 257).
func (x *lab) systemdVersion() int {
	x.t.Helper()
	var v int
	if _, err := fmt.Sscanf(x.sh("systemctl --version"), "systemd %d", &v); err != nil {
		x.t.Fatalf("systemctl --version: %v", err)
	}
	return v
}

type unitState struct {
	Active, Sub string
	MainPID     int
}

func (x *lab) state() unitState {
	x.t.Helper()
	var st unitState
	for _, line := range strings.Split(x.sh("systemctl show -p ActiveState,SubState,MainPID nginx"), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "ActiveState":
			st.Active = v
		case "SubState":
			st.Sub = v
		case "MainPID":
			st.MainPID, _ = strconv.Atoi(v)
		}
	}
	return st
}

// settled waits until nginx.service is neither starting nor stopping.
func (x *lab) settled() unitState {
	x.t.Helper()
	var st unitState
	x.waitFor("nginx.service to settle", func() bool {
		st = x.state()
		return st.Active == "active" || st.Active == "inactive" || st.Active == "failed"
	})
	return st
}

func (x *lab) waitFor(what string, done func() bool) {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(x.ctx, 15*time.Second)
	defer cancel()
	if err := wait.Until(ctx, 50*time.Millisecond, func() (bool, error) { return done(), nil }); err != nil {
		x.t.Fatalf("wait for %s: %v", what, err)
	}
}

func (x *lab) pidFile(name string) int {
	out, _, err := x.c.Exec(x.ctx, "cat", name)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(out))
	return pid
}

// usr2 starts nginx's binary upgrade the manual way and waits for the new
// master, which renames nginx.pid to nginx.pid.oldbin and writes its own.
func (x *lab) usr2() (old, new int) {
	x.t.Helper()
	x.waitFor("/run/nginx.pid", func() bool {
		old = x.pidFile("/run/nginx.pid")
		return old != 0
	})
	x.ready(old)
	before := x.sh("ps -eo pid,ppid,stat,lstart,cmd | grep '[n]ginx'")
	x.sh(fmt.Sprintf("kill -USR2 %d", old))
	ctx, cancel := context.WithTimeout(x.ctx, 15*time.Second)
	defer cancel()
	err := wait.Until(ctx, 50*time.Millisecond, func() (bool, error) {
		new = x.pidFile("/run/nginx.pid")
		return x.pidFile("/run/nginx.pid.oldbin") == old && new != 0 && new != old, nil
	})
	if err != nil {
		x.t.Fatalf("wait for the new master after USR2 to %d: %v\nbefore:\n%s\nafter:\n%s", old, err, before,
			x.sh("ps -eo pid,ppid,stat,lstart,cmd | grep '[n]ginx'; ls -l /run/nginx*; tail -n 5 /var/log/nginx/error.log"))
	}
	return old, new
}

// ready waits until master has finished starting. Before that it ignores
// USR2 ("the changing binary signal is ignored") even though
// /run/nginx.pid already names it; it retitles itself once ready.
func (x *lab) ready(master int) {
	x.t.Helper()
	x.waitFor(fmt.Sprintf("master %d to be ready", master), func() bool {
		out, _, err := x.c.Exec(x.ctx, "cat", fmt.Sprintf("/proc/%d/cmdline", master))
		return err == nil && strings.HasPrefix(out, "nginx: master process")
	})
}

// quit retires the old master: WINCH stops its workers, QUIT the master.
func (x *lab) quit(old int) {
	x.t.Helper()
	x.sh(fmt.Sprintf("kill -WINCH %d; kill -QUIT %d", old, old))
	// systemd, PID 1, reaps it right after handling its exit.
	x.waitFor(fmt.Sprintf("old master %d to exit", old), func() bool {
		_, _, err := x.c.Exec(x.ctx, "test", "-e", fmt.Sprintf("/proc/%d", old))
		return err != nil
	})
}

func (x *lab) noNginx() {
	x.t.Helper()
	if out := x.sh("pgrep -a nginx || true"); strings.TrimSpace(out) != "" {
		x.t.Fatalf("nginx processes left:\n%s", out)
	}
}

func (x *lab) cursor() string {
	x.t.Helper()
	out := x.sh("journalctl -q -n 0 --show-cursor")
	_, cur, ok := strings.Cut(out, "-- cursor: ")
	if !ok {
		x.t.Fatalf("no journal cursor in %q", out)
	}
	return strings.TrimSpace(cur)
}

func (x *lab) journalAfter(cursor string) string {
	x.t.Helper()
	out, _, err := x.c.Exec(x.ctx, "journalctl", "--no-pager", "-q", "-o", "cat", "--after-cursor="+cursor)
	if err != nil {
		x.t.Fatal(err)
	}
	return out
}

// sendFromContainer sends from the container's pid namespace, where cred
// 0 is the sender's own container pid. The sender lives on until the
// returned func is called, once systemd's verdict is seen.
func (x *lab) sendFromContainer(cred int, msg string) (done func()) {
	x.t.Helper()
	self, err := os.Executable()
	if err != nil {
		x.t.Fatal(err)
	}
	// Only the pid namespace: the binary and the socket path stay the host's.
	cmd := exec.CommandContext(x.ctx, nspawn.NsenterPath, "--target", strconv.Itoa(x.c.Leader()), "--pid", "--",
		self, "sdnotify", x.c.Root()+"/run/systemd/notify", strconv.Itoa(cred), msg)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		x.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		x.t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		x.t.Fatalf("start the sd_notify sender in the container's pid namespace: %v", err)
	}
	finish := func() error {
		stdin.Close()
		return cmd.Wait()
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "sent\n" {
		err := finish()
		x.t.Fatalf("sd_notify from the container's pid namespace: %v: %s", err, stderr.String())
	}
	return func() {
		x.t.Helper()
		if err := finish(); err != nil {
			x.t.Fatalf("sd_notify sender in the container's pid namespace: %v: %s", err, stderr.String())
		}
	}
}

// afterQuit checks the unit once the old master quit: with the hand-over accepted, active with
// MainPID new (then stopped); without, inactive and no nginx left.
func (x *lab) afterQuit(st unitState, accepted bool, new int) {
	x.t.Helper()
	if !accepted {
		if st.Active != "inactive" {
			x.t.Fatalf("hand-over not taken: %+v, want inactive", st)
		}
		x.noNginx()
		return
	}
	if st.Active != "active" || st.MainPID != new {
		x.t.Fatalf("after the swap: %+v, want active with MainPID %d", st, new)
	}
	x.sh("systemctl stop nginx")
	x.noNginx()
}
