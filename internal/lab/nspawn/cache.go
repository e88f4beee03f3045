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

// CacheDir is where the scripts of testdata/container keep their output:
// $NGINX_UPGRADE_CACHE, else /var/cache/nginx-upgrade.
func CacheDir() string {
	if dir := os.Getenv("NGINX_UPGRADE_CACHE"); dir != "" {
		return dir
	}
	return "/var/cache/nginx-upgrade"
}

// Release is a Debian release the lab boots and takes nginx builds from, by codename. Each has
// its own golden tree and cached packages under CacheDir()/<codename>, made by
// `testdata/container/golden.sh <codename>` (its release.sh lists the same releases).
type Release string

const (
	Bookworm Release = "bookworm" // Debian 12, systemd 252, nginx 1.22
	Trixie   Release = "trixie"   // Debian 13, systemd 257, nginx 1.26
)

// Releases are the releases the suites run on, oldest first.
func Releases() []Release { return []Release{Bookworm, Trixie} }

// HostRelease is the release of this machine (Debian 12): the one whose nginx builds run on the
// host itself, outside a box, since a build needs its own release's libraries.
const HostRelease = Bookworm

// Number is the release's version, as people name it: "Debian 12".
func (r Release) Number() int {
	switch r {
	case Bookworm:
		return 12
	case Trixie:
		return 13
	}
	return 0
}

func (r Release) String() string { return string(r) }

// OrDefault is r, or Bookworm when r is unset: what a box boots when its options name no release.
func (r Release) OrDefault() Release {
	if r == "" {
		return Bookworm
	}
	return r
}

// Name is "Debian 12 (bookworm)".
func (r Release) Name() string { return fmt.Sprintf("Debian %d (%s)", r.Number(), string(r)) }

// Dir holds everything cached for r.
func (r Release) Dir() string { return filepath.Join(CacheDir(), string(r)) }

// GoldenDir is r's golden tree.
func (r Release) GoldenDir() string { return filepath.Join(r.Dir(), "golden") }

// Script is how to make r's caches, for messages.
func (r Release) Script() string {
	return "bash testdata/container/golden.sh " + string(r)
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

// CachedDebs reads the versions nginx-debs.sh recorded for r.
func (r Release) CachedDebs() (Debs, error) {
	dir := filepath.Join(r.Dir(), "debs")
	b, err := os.ReadFile(filepath.Join(dir, "versions"))
	if err != nil {
		return Debs{}, fmt.Errorf("%s nginx debs not cached (run `bash testdata/container/nginx-debs.sh %s` as root): %w", r.Name(), r, err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		return Debs{}, fmt.Errorf("%s/versions: want two versions, got %q", dir, lines)
	}
	return Debs{Dir: dir, Old: lines[0], New: lines[1]}, nil
}

// LibsDir holds the library packages lib-debs.sh cached for r's library-update tests.
func (r Release) LibsDir() string { return filepath.Join(r.Dir(), "debs", "libs") }

// Library roles in LibPackage.
const (
	LibSSL      = "ssl"      // OpenSSL: libssl3 on Debian 12, libssl3t64 on 13; nginx maps it
	LibUnmapped = "unmapped" // a library nginx does not map, with two versions in the archive
)

// LibPackage is the name of r's library package in role (LibSSL, LibUnmapped), as lib-debs.sh
// picked it.
func (r Release) LibPackage(role string) (string, error) {
	b, err := os.ReadFile(filepath.Join(r.LibsDir(), role))
	if err != nil {
		return "", fmt.Errorf("%s library packages not cached (run `bash testdata/container/lib-debs.sh %s` as root): %w", r.Name(), r, err)
	}
	return strings.TrimSpace(string(b)), nil
}
