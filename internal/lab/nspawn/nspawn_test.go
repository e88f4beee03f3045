//go:build e2e

package nspawn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

func TestBootMissingGolden(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Boot(ctx, Options{Golden: t.TempDir()})
	if !errors.Is(err, ErrNoGolden) {
		t.Fatalf("Boot of an empty golden dir: got %v, want ErrNoGolden", err)
	}
	if !strings.Contains(err.Error(), "golden.sh") {
		t.Errorf("error %q does not say how to build the tree", err)
	}
}

func TestBootDegraded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), BootTimeout)
	defer cancel()
	dir := t.TempDir()
	unit := filepath.Join(dir, "unit")
	wants := filepath.Join(dir, "wants")
	if err := os.WriteFile(unit, []byte("[Service]\nType=oneshot\nExecStart=/bin/false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wants, []byte("[Unit]\nWants=fail-on-purpose.service\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Boot(ctx, Options{Binds: []Bind{
		{Host: unit, Container: "/etc/systemd/system/fail-on-purpose.service", ReadOnly: true},
		{Host: wants, Container: "/etc/systemd/system/multi-user.target.d/fail-on-purpose.conf", ReadOnly: true},
	}})
	if err == nil {
		c.Close()
		t.Fatal("Boot with a failing unit succeeded, want a degraded error")
	}
	if !strings.Contains(err.Error(), "degraded") || !strings.Contains(err.Error(), "fail-on-purpose.service") {
		t.Fatalf("Boot error does not name the failed unit: %v", err)
	}
}

// A container of every release boots its systemd with journald and D-Bus, runs the release's
// nginx under its stock unit, and leaves nothing behind.
func TestContainer(t *testing.T) {
	for _, r := range Releases() {
		t.Run(r.String(), func(t *testing.T) { testContainer(t, r) })
	}
}

func testContainer(t *testing.T, r Release) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	debs, bind := DebsBindT(t, r)

	c := BootT(t, Options{Release: r, Binds: []Bind{bind}})
	t.Logf("boot: %v (leader pid %d)", time.Since(start).Round(time.Millisecond), c.Leader())

	if out, _, err := c.Exec(ctx, "systemctl", "is-system-running"); err != nil || strings.TrimSpace(out) != "running" {
		t.Fatalf("is-system-running = %q, %v", out, err)
	}

	t.Run("journald", func(t *testing.T) {
		token := fmt.Sprintf("nspawn-test-%d", time.Now().UnixNano())
		if _, err := c.Shell(ctx, "echo "+token+" | systemd-cat -t nspawn-test"); err != nil {
			t.Fatal(err)
		}
		// journald stores asynchronously.
		err := wait.Until(ctx, 100*time.Millisecond, func() (bool, error) {
			out, _, err := c.Exec(ctx, "journalctl", "--no-pager", "-o", "json", "-t", "nspawn-test")
			if err != nil {
				return false, err
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var entry struct{ MESSAGE string }
				if json.Unmarshal([]byte(line), &entry) == nil && entry.MESSAGE == token {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("journal entry %q not found: %v", token, err)
		}
	})

	t.Run("dbus", func(t *testing.T) {
		out, _, err := c.Exec(ctx, "busctl", "get-property", "org.freedesktop.systemd1",
			"/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Version")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, `s "`) {
			t.Fatalf("systemd Version over D-Bus = %q", out)
		}
		t.Logf("systemd over D-Bus: %s", strings.TrimSpace(out))
	})

	t.Run("copyin", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "hello")
		if err := os.WriteFile(src, []byte("hello\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		// /var/run is an absolute symlink to /run: it must resolve in the
		// container, not on the host.
		if err := c.CopyIn(src, "/var/run/nspawn-hello"); err != nil {
			t.Fatal(err)
		}
		out, _, err := c.Exec(ctx, "stat", "-c", "%a %s", "/run/nspawn-hello")
		if err != nil || strings.TrimSpace(out) != "755 6" {
			t.Fatalf("copied file: stat = %q, %v", out, err)
		}
		if _, err := os.Stat("/run/nspawn-hello"); err == nil {
			t.Fatal("CopyIn wrote to the host's /run")
		}
	})

	InstallNginxT(ctx, t, c, debs.Old)
	if out, _, err := c.Exec(ctx, "systemctl", "is-active", "nginx"); err != nil {
		t.Fatalf("nginx not active: %q, %v", out, err)
	}
	mainPID := showMainPID(ctx, t, c, "nginx")
	host, err := c.HostPID(mainPID)
	if err != nil {
		t.Fatal(err)
	}
	if got := comm(host); got != "nginx" {
		t.Fatalf("host pid %d of container pid %d is %q, want nginx", host, mainPID, got)
	}
	t.Logf("nginx master: pid %d in the container, %d on the host", mainPID, host)

	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://127.0.0.1:80/")
	if err != nil {
		t.Fatalf("GET from the host: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET from the host: %s", resp.Status)
	}

	leader := c.Leader()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if left, err := c.Processes(); err != nil || len(left) > 0 {
		t.Fatalf("after Close: container processes %v, %v", left, err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", leader)); err == nil {
		t.Fatalf("leader %d still exists", leader)
	}
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:80", time.Second); err == nil {
		conn.Close()
		t.Fatal("port 80 still answers after Close")
	}
	t.Logf("whole test: %v", time.Since(start).Round(time.Millisecond))
}

func showMainPID(ctx context.Context, t testing.TB, c *Container, unit string) int {
	t.Helper()
	out, _, err := c.Exec(ctx, "systemctl", "show", "-P", "MainPID", unit)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("MainPID of %s: %v", unit, err)
	}
	return pid
}

// Containers with networks of their own run side by side, each with only a loopback of its own;
// one on the host's network waits until they are gone.
func TestPrivateNetworksRunSideBySide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := BootT(t, Options{PrivateNetwork: true})
	b := BootT(t, Options{PrivateNetwork: true})

	host, _ := os.Readlink("/proc/self/ns/net")
	nsA, _ := os.Readlink(a.NetNS())
	nsB, _ := os.Readlink(b.NetNS())
	if nsA == host || nsB == host || nsA == nsB {
		t.Fatalf("network namespaces: host %s, a %s, b %s; want three", host, nsA, nsB)
	}
	for _, c := range []*Container{a, b} {
		links, _, err := c.Exec(ctx, "ip", "-o", "link", "show")
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(strings.TrimSpace(links), "\n") + 1; n != 1 || !strings.Contains(links, "lo:") {
			t.Errorf("container %s has links %q, want only lo", c.Name(), links)
		}
	}

	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if c, err := Boot(short, Options{}); err == nil {
		c.Close()
		t.Fatal("a container on the host's network booted beside containers with their own")
	} else if !strings.Contains(err.Error(), "runs alone") {
		t.Fatalf("boot on the host's network: %v, want it to wait for the lock", err)
	}
}
