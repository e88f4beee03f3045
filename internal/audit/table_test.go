package audit

import (
	"bytes"
	"flag"
	"os"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/table.golden")

func TestWriteTable(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2025, 3, 4, h, m, 7, 0, time.UTC) }
	runs := []Run{
		{UpgradeID: "5d1c0f3e9a8b47c6b2e1d0f9a8b7c6d5", Start: at(9, 15), Outcome: "success",
			OldVersion: "nginx/1.22.1", NewVersion: "nginx/1.24.0", OldSHA256: "bc08ffbb8c8d", NewSHA256: "1f2e3d4c5b6a",
			OldMasterPID: 6107, NewMasterPID: 6124, Duration: 12345 * time.Millisecond, InvokedBy: "cli", InvokerUID: 0,
			Reason: "binary"},
		// Two Debian builds of one upstream version: only the hash tells them apart.
		{UpgradeID: "a0b1c2d3e4f5061728394a5b6c7d8e9f", Start: at(10, 2), Outcome: "rolled_back",
			OldVersion: "nginx/1.22.1", NewVersion: "nginx/1.22.1", OldSHA256: "bc08ffbb8c8d", NewSHA256: "9a8b7c6d5e4f",
			OldMasterPID: 6124, NewMasterPID: 7001, Duration: 1090 * time.Millisecond, InvokedBy: "dpkg:nginx-core:postinst", InvokerUID: 0,
			Reason: "binary"},
		// A library update re-executes the same build: one sha, the reason says why.
		{UpgradeID: "1a2b3c4d5e6f708192a3b4c5d6e7f809", Start: at(10, 30), Outcome: "success",
			OldVersion: "nginx/1.22.1", NewVersion: "nginx/1.22.1", OldSHA256: "bc08ffbb8c8d", NewSHA256: "bc08ffbb8c8d",
			OldMasterPID: 6124, NewMasterPID: 7020, Duration: 10210 * time.Millisecond, InvokedBy: "cli", InvokerUID: 0,
			Reason: "modules,libraries", ReplacedPaths: []string{"/usr/lib/nginx/modules/ngx_stream_module.so", "/usr/lib/x86_64-linux-gnu/libssl.so.3"}},
		{UpgradeID: "0f0e0d0c0b0a09080706050403020100", Start: at(11, 40), Outcome: "rejected",
			OldVersion: "nginx/1.22.1", OldMasterPID: 6124, Duration: 18 * time.Millisecond,
			InvokedBy: "nginx-upgrade.service", InvokerUID: 0},
		{UpgradeID: "ffeeddccbbaa99887766554433221100", Start: at(12, 0), Outcome: Incomplete, InvokerUID: -1},
	}
	var buf bytes.Buffer
	WriteTable(&buf, runs)
	if *update {
		os.WriteFile("testdata/table.golden", buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile("testdata/table.golden")
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("table:\n%s\nwant (testdata/table.golden; -update rewrites it):\n%s", buf.String(), want)
	}
}
