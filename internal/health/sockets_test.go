package health

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The counts come from the kernel's tables for this very process: what a draining nginx worker
// holds is what these sockets are.
func TestCountSocketsTellsListenersFromConnections(t *testing.T) {
	before, err := CountSockets([]int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	client, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	served, err := tcp.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()

	sock := filepath.Join(t.TempDir(), "s")
	ux, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	uclient, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer uclient.Close()
	userved, err := ux.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer userved.Close()

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	// A socketpair, like nginx's channel between master and worker: no connection of a client.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])

	got, err := CountSockets([]int{os.Getpid(), os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	// Listening: TCP, unix, UDP. Connections: both ends of the TCP one, the accepted unix end.
	want := Sockets{Listening: before.Listening + 3, Connections: before.Connections + 3}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestCountSocketsOfNoProcessIsZero(t *testing.T) {
	if got, err := CountSockets(nil); err != nil || got != (Sockets{}) {
		t.Fatalf("got %+v, %v", got, err)
	}
}
