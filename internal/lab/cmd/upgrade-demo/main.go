// Command upgrade-demo shows the main job end to end: a real nginx of the older Debian build
// serves on loopback under load, the newer build is installed over it the way dpkg does, and
// nginx-upgradectl swaps it live. It prints the steps, the traffic counts and the result, and
// exits non-zero if the swap failed or any request did.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

func main() {
	ctl := flag.String("ctl", "bin/nginx-upgradectl", "the nginx-upgradectl binary to run")
	soak := flag.Duration("soak", 3*time.Second, "soak passed to nginx-upgradectl")
	flag.Parse()
	if err := demo(*ctl, *soak); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func demo(ctl string, soak time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := testbed.LoadBuilds(nspawn.HostRelease)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "nginx-upgrade-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	n, err := testbed.Setup(dir, b.Old, testbed.Config{})
	if err != nil {
		return err
	}
	defer n.Stop()
	if err := n.Start(ctx, testbed.Config{}); err != nil {
		return err
	}
	oldSum, _ := nginx.InspectBinary(ctx, b.Old)
	newSum, _ := nginx.InspectBinary(ctx, b.New)
	fmt.Printf("old build: nginx %s (sha256 %.12s)\n", b.OldVersion, oldSum.SHA256)
	fmt.Printf("new build: nginx %s (sha256 %.12s)\n", b.NewVersion, newSum.SHA256)
	fmt.Printf("nginx:     master %d serving %s from %s\n", n.Master(), n.URL("/"), n.Binary)

	tr, err := testbed.StartTraffic(ctx, n.Site(), testbed.TrafficConfig{WrkDuration: soak + 8*time.Second})
	if err != nil {
		return err
	}
	fmt.Println("load:      wrk (Connection: close), an open-loop 300 req/s stream (2 s timeout each), 2 slow 8 MiB downloads (1 MB/s)")
	if err := n.Install(b.New); err != nil {
		return err
	}
	fmt.Printf("installed: the new build over %s (write + rename, as dpkg does)\n\n", n.Binary)

	args := []string{"upgrade", "--pid-file", n.PidFile, "--soak", soak.String(), "--health", n.URL("/health")}
	fmt.Printf("$ nginx-upgradectl %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, ctl, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	runErr := cmd.Run()
	code := cmd.ProcessState.ExitCode()

	r := tr.Stop()
	fmt.Printf("\ntraffic during the swap:\n%s\n\n", r)
	running, _ := nginx.RunningBinary(ctx, n.Master())
	on := "the OLD build"
	if running.SHA256 == newSum.SHA256 {
		on = "the NEW build " + b.NewVersion
	}
	fmt.Printf("result: nginx-upgradectl exit %d; master %d now runs %s; %d failed requests or cut downloads\n", code, n.Master(), on, r.Failed())
	switch {
	case runErr != nil:
		return fmt.Errorf("nginx-upgradectl: %w", runErr)
	case r.Failed() != 0:
		return fmt.Errorf("%d requests failed", r.Failed())
	}
	return nil
}
