//go:build e2e

package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/labtest"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
)

// trickle is a download nginx serves at a few KB/s (limit_rate on the server side, so that a
// worker holds the connection all along, not the kernel's socket buffers): it outlasts a swap by
// a minute or more, like a websocket or a long poll would.
const (
	trickleSize = 560 << 10
	trickleRate = "8k" // 560 KiB at 8 KiB/s: 70 s
)

// trickleNginx starts the older build with a /trickle/ location, and returns it with the
// sha256 of the file it trickles.
func trickleNginx(t *testing.T, b testbed.Builds) (*testbed.Nginx, string) {
	t.Helper()
	n, err := testbed.Setup(t.TempDir(), b.Old, testbed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(n.Conf())
	if err != nil {
		t.Fatal(err)
	}
	loc := "        location /trickle/ { limit_rate " + trickleRate + "; }\n        location /slow/"
	if err := os.WriteFile(n.Conf(), []byte(strings.Replace(string(conf), "        location /slow/", loc, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(n.Dir, "html/trickle"), 0o755)
	sum, err := load.WriteFile(filepath.Join(n.Dir, "html/trickle/file.bin"), trickleSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx error log:\n%s", n.ErrorLog())
		}
		n.Stop()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx, testbed.Config{}); err != nil {
		t.Fatal(err)
	}
	return n, sum
}

type trickleResult struct {
	sha  string
	err  error
	took time.Duration
}

// startTrickle starts the slow download and returns once nginx has begun to send it (the
// response's header is in): it runs on the workers serving now.
func startTrickle(t *testing.T, n *testbed.Nginx) <-chan trickleResult {
	t.Helper()
	resp, err := http.Get(n.URL("/trickle/file.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("trickle: HTTP %d", resp.StatusCode)
	}
	start := time.Now()
	done := make(chan trickleResult, 1)
	go func() {
		defer resp.Body.Close()
		h := sha256.New()
		_, err := io.Copy(h, resp.Body)
		done <- trickleResult{sha: hex.EncodeToString(h.Sum(nil)), err: err, took: time.Since(start)}
	}()
	return done
}

type statusJSON struct {
	State    upgrade.State     `json:"state"`
	Draining *upgrade.Draining `json:"draining"`
}

// A download lasting minutes does not hold the swap: the run ends soon after its soak, status
// is steady and names the draining old master, a second swap meanwhile is refused at once with
// nothing signalled, and with --wait (as the package path runs it) applied after the drain.
func TestSwapEndsWhileAnOldDownloadDrains(t *testing.T) {
	b := testbed.BuildsT(t)
	n, trickleSHA := trickleNginx(t, b)
	old := n.Master()
	mustInstall(t, n, b.New, nil)
	tr := testbed.TrafficT(t, n.Site(), testbed.TrafficConfig{WrkDuration: 5 * time.Second})
	trickle := startTrickle(t, n)

	const soak, drainWait = 2 * time.Second, 3 * time.Second
	start := time.Now()
	r := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "2s", "--drain-wait", "3s", "--health", n.URL("/health"), "--json")
	took := time.Since(start)

	if r.code != 0 || r.json.Outcome != upgrade.Success {
		t.Fatalf("exit %d outcome %s, want 0 success", r.code, r.json.Outcome)
	}
	if limit := soak + drainWait + 30*time.Second; took > limit {
		t.Fatalf("the run took %s with a download draining, want < %s: it waited for the drain", took, limit)
	}
	if msg := lastMessage(r); !strings.Contains(msg, "old master") || !strings.Contains(msg, "draining") {
		t.Errorf("outcome %q does not say the old master drains", msg)
	}
	nm := r.json.NewMasterPID
	var st statusJSON
	s := ctl(t, "status", "--pid-file", n.PidFile, "--json")
	if err := json.Unmarshal([]byte(s.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if s.code != 0 || st.State != upgrade.OldDraining || st.Draining == nil || st.Draining.Pid != old || st.Draining.Connections < 1 {
		t.Fatalf("status while the download drains: exit %d, %+v %+v; want 0, old-draining, master %d with ≥ 1 connection", s.code, st.State, st.Draining, old)
	}

	// A second package upgrade meanwhile (here: the older build back on disk).
	mustInstall(t, n, b.Old, nil)
	start = time.Now()
	refused := ctl(t, "upgrade", "--pid-file", n.PidFile, "--json")
	if refused.code != 2 || refused.json.Outcome != upgrade.Refused || time.Since(start) > 10*time.Second {
		t.Fatalf("second swap during the drain: exit %d outcome %s after %s, want 2 refused at once", refused.code, refused.json.Outcome, time.Since(start))
	}
	if !strings.Contains(refused.json.Error, "draining") || !strings.Contains(lastMessage(refused), "--wait") {
		t.Errorf("refusal %q / %q does not say why and how to wait", refused.json.Error, lastMessage(refused))
	}
	if now := upgrade.ReadState(n.PidFile); now.State != upgrade.OldDraining || now.Current.Pid != nm || now.Old.Pid != old {
		t.Fatalf("after the refusal: state %s, want old-draining with masters %d (old) and %d unchanged", now.State, old, nm)
	}
	if kids, _ := nginx.ChildMasters(nm); len(kids) > 0 {
		t.Fatalf("master %d started a new master %d: it was signalled", nm, kids[0].Pid)
	}

	waited := ctl(t, "upgrade", "--pid-file", n.PidFile, "--soak", "1s", "--wait", "3m", "--json")
	got := <-trickle
	if got.err != nil || got.sha != trickleSHA {
		t.Fatalf("trickled download: %v, sha256 %.12s, want %.12s whole", got.err, got.sha, trickleSHA)
	}
	if got.took < time.Minute {
		t.Errorf("download took %s: too short to show a drain of a minute", got.took)
	}
	labtest.NoLoss(t, tr)
	if waited.code != 0 || waited.json.Outcome != upgrade.Success || waited.json.OldMasterPID != nm {
		t.Fatalf("swap with --wait: exit %d outcome %s from master %d, want 0 success from %d", waited.code, waited.json.Outcome, waited.json.OldMasterPID, nm)
	}
	if waited.elapsedAt(t, upgrade.StepWait, "ok") > waited.elapsedAt(t, upgrade.StepUSR2, "sent") {
		t.Fatalf("USR2 sent before the old master's exit")
	}
	servingAlone(t, n, waited.json.NewMasterPID, b.Old)
}
