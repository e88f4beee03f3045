package health

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// listenerEnv makes the test binary a stand-in master that holds one kind of listener only.
const listenerEnv = "HEALTH_TEST_LISTENER"

func TestMain(m *testing.M) {
	if network := os.Getenv(listenerEnv); network != "" {
		os.Exit(holdListener(network))
	}
	os.Exit(m.Run())
}

// holdListener listens on network (unix on the path in $HEALTH_TEST_SOCKET, or udp), prints the
// address, and holds it until stdin closes. A unix listener is never accepted on: the kernel
// completes connections into the backlog, as it does for a busy nginx.
func holdListener(network string) int {
	var addr string
	switch network {
	case "unix":
		l, err := net.Listen("unix", os.Getenv("HEALTH_TEST_SOCKET"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer l.Close()
		addr = l.Addr().String()
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer c.Close()
		addr = c.LocalAddr().String()
	}
	fmt.Println(addr)
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// startHolder starts a process holding one listener of network and returns its pid and address.
func startHolder(t *testing.T, network string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), listenerEnv+"="+network, "HEALTH_TEST_SOCKET="+filepath.Join(t.TempDir(), "nginx.sock"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("listener holder: %v", err)
	}
	return cmd.Process.Pid, strings.TrimSpace(addr)
}

// A master listening on a unix socket only passes the listener check by that socket (it once
// failed for having no TCP listener); one holding a UDP socket only passes with it listed, not
// dialled.
func TestCheckOfAMasterWithoutTCPListeners(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, network := range []string{"unix", "udp"} {
		pid, addr := startHolder(t, network)
		ls, err := Listeners(pid)
		if want := []Listener{{network, addr}}; err != nil || !slices.Equal(ls, want) {
			t.Fatalf("%s holder %d: Listeners = %v, %v; want %v", network, pid, ls, err, want)
		}
		if err := (Checker{}).Check(ctx, pid); err != nil {
			t.Errorf("%s holder %d: %v", network, pid, err)
		}
	}
}
