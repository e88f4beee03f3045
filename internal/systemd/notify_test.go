package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

func TestChooseHandoverByVersion(t *testing.T) {
	for _, c := range []struct {
		version string
		pidfd   bool
		says    string
	}{
		{"257.9-1~deb13u1", true, "by pidfd (MAINPIDFD, systemd 257.9-1~deb13u1)"},
		{"258", true, "by pidfd (MAINPIDFD, systemd 258)"},
		{"252.39-1~deb12u1", false, "by pid (MAINPID=, systemd 252.39-1~deb12u1)"},
		{"256.7", false, "by pid (MAINPID=, systemd 256.7)"},
		{"", false, "by pid (MAINPID=, systemd )"},
		{"v257", false, "by pid (MAINPID=, systemd v257)"},
	} {
		h := ChooseHandover(c.version)
		if h.Pidfd != c.pidfd || h.String() != c.says {
			t.Errorf("ChooseHandover(%q) = %+v saying %q, want pidfd %v saying %q", c.version, h, h, c.pidfd, c.says)
		}
	}
}

// listen binds a notification socket like systemd's, which asks the kernel for the sender's
// credentials.
func listen(t *testing.T) (path string, fd int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "notify")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	return path, fd
}

// received is one notification as systemd reads it.
type received struct {
	state   string
	credPid int
	pidfds  []int // the pid each passed fd refers to, from its fdinfo
}

func receive(t *testing.T, fd int) received {
	t.Helper()
	buf, oob := make([]byte, 4096), make([]byte, 4096)
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	r := received{state: string(buf[:n])}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			r.credPid = int(cred.Pid)
			continue
		}
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			t.Fatalf("control message %d/%d: %v", m.Header.Level, m.Header.Type, err)
		}
		for _, f := range fds {
			info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", f))
			unix.Close(f)
			if err != nil {
				t.Fatal(err)
			}
			_, after, ok := strings.Cut(string(info), "\nPid:\t")
			if !ok {
				t.Fatalf("fd %d is not a pidfd:\n%s", f, info)
			}
			pid, _ := strconv.Atoi(strings.Fields(after)[0])
			r.pidfds = append(r.pidfds, pid)
		}
	}
	return r
}

// child starts a process to hand over to, as a master would be.
func child(t *testing.T) nginx.Proc {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p, err := nginx.ReadProc(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHandoverMessages(t *testing.T) {
	self, err := nginx.ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	to := child(t)
	for _, c := range []struct {
		version string
		want    received
	}{
		// systemd 257 takes the pidfd and ignores MAINPID= beside it: send it alone.
		{"257.9-1~deb13u1", received{state: "MAINPIDFD=1", credPid: self.Pid, pidfds: []int{to.Pid}}},
		{"252.39-1~deb12u1", received{state: "MAINPID=" + strconv.Itoa(to.Pid), credPid: self.Pid}},
	} {
		path, fd := listen(t)
		s := &Supervisor{Socket: path}
		if err := s.notify(ChooseHandover(c.version), self, to); err != nil {
			t.Fatal(err)
		}
		got := receive(t, fd)
		if got.state != c.want.state || got.credPid != c.want.credPid || fmt.Sprint(got.pidfds) != fmt.Sprint(c.want.pidfds) {
			t.Errorf("systemd %s got %+v, want %+v", c.version, got, c.want)
		}
	}
}

// A pidfd names whichever process has the pid when it is opened: one that is not the master
// checked (here: the same pid with another start time) must not be handed over.
func TestHandoverByPidfdRefusesAReplacedMaster(t *testing.T) {
	self, err := nginx.ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	replaced := child(t)
	replaced.StartTime++
	path, fd := listen(t)
	s := &Supervisor{Socket: path}
	err = s.notify(ChooseHandover("257"), self, replaced)
	if !errors.Is(err, nginx.ErrNoProcess) {
		t.Fatalf("got %v, want ErrNoProcess", err)
	}
	buf := make([]byte, 64)
	if _, _, _, _, err := unix.Recvmsg(fd, buf, nil, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("something was sent: %v", err)
	}
}

func TestUnansweredTellsSilenceFromAnAnswer(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{dbusErr("org.freedesktop.DBus.Error.NoReply"), true},
		{dbusErr("org.freedesktop.DBus.Error.ServiceUnknown"), true},
		{dbusErr("org.freedesktop.DBus.Error.NameHasNoOwner"), true},
		{fmt.Errorf("wrapped: %w", dbusErr("org.freedesktop.DBus.Error.Disconnected")), true},
		{context.DeadlineExceeded, true},
		{errors.New("dbus: connection closed by user"), true},
		{dbusErr("org.freedesktop.systemd1.NoSuchUnit"), false},
		{dbusErr("org.freedesktop.systemd1.NoUnitForPID"), false},
		{dbusErr("org.freedesktop.DBus.Error.AccessDenied"), false},
	} {
		if got := unanswered(c.err); got != c.want {
			t.Errorf("unanswered(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func dbusErr(name string) error { return dbus.Error{Name: name} }
