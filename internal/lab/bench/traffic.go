package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/testbed"
)

// DefaultLoad is the traffic every row runs under, the same three kinds as the project's tests
// (testbed.Traffic), with every size set: results.json records them. Downloads outlast the old
// master's QUIT for every method (20 s from the start of the load; the swap starts at 5 s and the
// helper with the default 10 s soak sends QUIT at about 16.5 s), and wrk and the stream run past
// the end of every swap.
func DefaultLoad() testbed.TrafficConfig {
	return testbed.TrafficConfig{Rate: 300, Timeout: 2 * time.Second, WrkDuration: 24 * time.Second, WrkConns: 8,
		Downloads: 2, DownloadSize: 20 << 20}
}

// slowFile is where a site serves the file its traffic downloads (the /slow/ location
// rate-limits), relative to its document root.
const slowFile = "slow/big.bin"

// prepareSlow replaces the slow file in n's document root with one of size bytes, for traffic
// with DownloadSize size, and records its sha256 in n, whose Site then says it.
func prepareSlow(n *testbed.Nginx, size int64) error {
	sum, err := load.WriteFile(filepath.Join(n.Dir, "html", slowFile), size)
	if err != nil {
		return fmt.Errorf("bench slow file: %w", err)
	}
	n.SlowSHA = sum
	return nil
}

// boxSlow is prepareSlow for a box: the file is written on the host and copied into the box's
// document root.
func boxSlow(box *testbed.Box, tmpDir string, size int64) error {
	tmp := filepath.Join(tmpDir, "box-slow.bin")
	defer os.Remove(tmp)
	sum, err := load.WriteFile(tmp, size)
	if err != nil {
		return fmt.Errorf("bench slow file: %w", err)
	}
	if err := box.CopyIn(tmp, "/var/www/html/"+slowFile); err != nil {
		return fmt.Errorf("bench slow file: %w", err)
	}
	box.Site.SlowSHA = sum
	return nil
}
