// Package testbed runs real nginx builds from Debian's archive on loopback, for the project's tests,
// demo and benchmark: two distinct builds picked from what the archive serves today, an nginx in a
// private prefix, the binary replaced the way a package manager does it, and fault builds.
package testbed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/nspawn"
)

// Builds are the two distinct Debian nginx builds of one release the tests swap between.
type Builds struct {
	Release                nspawn.Release
	OldVersion, NewVersion string
	Old, New               string // paths of the extracted /usr/sbin/nginx binaries
	OldDebs, NewDebs       string // directories holding nginx_*.deb and nginx-common_*.deb
}

// LoadBuilds returns release's cached builds, fetching them with the project's script when
// missing (`apt-cache madison nginx` of that release picks the versions: old ones vanish from
// the archive). Only nspawn.HostRelease's builds run on this machine outside a box.
func LoadBuilds(release nspawn.Release) (Builds, error) {
	debs, err := release.CachedDebs()
	if err != nil {
		if err := runScript("testdata/container/nginx-debs.sh", string(release)); err != nil {
			return Builds{}, err
		}
		if debs, err = release.CachedDebs(); err != nil {
			return Builds{}, err
		}
	}
	if debs.Old == debs.New {
		return Builds{}, fmt.Errorf("%s/versions names one version twice: %s", debs.Dir, debs.Old)
	}
	b := Builds{Release: release, OldVersion: debs.Old, NewVersion: debs.New, OldDebs: debs.VersionDir(debs.Old), NewDebs: debs.VersionDir(debs.New)}
	if b.Old, err = b.extract(b.OldDebs, b.OldVersion); err != nil {
		return Builds{}, err
	}
	if b.New, err = b.extract(b.NewDebs, b.NewVersion); err != nil {
		return Builds{}, err
	}
	return b, nil
}

// extract unpacks the nginx .deb of version into the cache, once, and returns its binary.
func (b Builds) extract(debDir, version string) (string, error) {
	dir := filepath.Join(b.Release.Dir(), "builds", version)
	bin := filepath.Join(dir, "usr/sbin/nginx")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	debs, _ := filepath.Glob(filepath.Join(debDir, "nginx_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("want one nginx_*.deb in %s, found %d (run: bash testdata/container/nginx-debs.sh %s)", debDir, len(debs), b.Release)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w: %s", debs[0], err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return bin, nil
}

// StreamModule returns ngx_stream_module.so of the new build (from Debian's libnginx-mod-stream of
// its version: a module loads only into the nginx it was built for), unpacked into the cache once.
func StreamModule(b Builds) (string, error) {
	dir := filepath.Join(b.Release.Dir(), "builds", b.NewVersion+"-libnginx-mod-stream")
	mod := filepath.Join(dir, "usr/lib/nginx/modules/ngx_stream_module.so")
	if _, err := os.Stat(mod); err == nil {
		return mod, nil
	}
	glob := filepath.Join(b.NewDebs, "libnginx-mod-stream_*.deb")
	if debs, _ := filepath.Glob(glob); len(debs) == 0 {
		if err := runScript("testdata/container/nginx-debs.sh", string(b.Release)); err != nil {
			return "", err
		}
	}
	debs, _ := filepath.Glob(glob)
	if len(debs) != 1 {
		return "", fmt.Errorf("want one %s, found %d (run: bash testdata/container/nginx-debs.sh %s)", glob, len(debs), b.Release)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w: %s", debs[0], err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return mod, nil
}

// RepoRoot finds the module root from the working directory (tests run in their package dir).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func runScript(rel string, args ...string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("bash", append([]string{filepath.Join(root, rel)}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}
