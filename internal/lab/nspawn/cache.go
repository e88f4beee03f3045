package nspawn

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// golden.sh writes this file last, inside the tree: its presence marks a
// complete golden tree.
const stampName = ".nginx-upgrade-golden"

// CacheDir is where testdata/container/golden.sh and nginx-debs.sh keep
// their output: $NGINX_UPGRADE_CACHE, else /var/cache/nginx-upgrade.
func CacheDir() string {
	if dir := os.Getenv("NGINX_UPGRADE_CACHE"); dir != "" {
		return dir
	}
	return "/var/cache/nginx-upgrade"
}

// GoldenDir is the default golden tree that Boot uses.
func GoldenDir() string {
	return filepath.Join(CacheDir(), "golden-bookworm")
}

// Debs are the nginx packages cached by testdata/container/nginx-debs.sh:
// two distinct versions, Old older than New.
type Debs struct {
	Dir      string // holds one directory per version
	Old, New string // Debian versions, e.g. 1.22.1-9+deb12u9
}

// VersionDir is the directory with nginx_*.deb and nginx-common_*.deb of
// version v.
func (d Debs) VersionDir(v string) string {
	return filepath.Join(d.Dir, v)
}

// CachedDebs reads the versions nginx-debs.sh recorded.
func CachedDebs() (Debs, error) {
	dir := filepath.Join(CacheDir(), "debs")
	b, err := os.ReadFile(filepath.Join(dir, "versions"))
	if err != nil {
		return Debs{}, fmt.Errorf("nginx debs not cached (run `bash testdata/container/nginx-debs.sh` as root): %w", err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		return Debs{}, fmt.Errorf("%s/versions: want two versions, got %q", dir, lines)
	}
	return Debs{Dir: dir, Old: lines[0], New: lines[1]}, nil
}
