package keep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// FailedSwap records that the binary at Path failed a swap and was rolled back from: the master
// serves on the kept build KeptSHA256 while a restart would start the one that failed.
type FailedSwap struct {
	Path          string    `json:"path"`
	FailedSHA256  string    `json:"failed_sha256"`
	FailedVersion string    `json:"failed_version,omitempty"`
	KeptSHA256    string    `json:"kept_sha256"` // the build that served and serves again
	UpgradeID     string    `json:"upgrade_id,omitempty"`
	Time          time.Time `json:"time"`
	Restored      *Restored `json:"restored,omitempty"`
}

// Restored says the kept build was put back at Path, the failed one diverted to DivertedTo.
type Restored struct {
	Time       time.Time `json:"time"`
	DivertedTo string    `json:"diverted_to"`
}

// failedFile is the record of the last failed swap; packaging/hook reads its failed_sha256.
func (s Store) failedFile() string { return filepath.Join(s.Dir, "failed-swap.json") }

// RecordFailed records f, replacing any earlier record.
func (s Store) RecordFailed(f FailedSwap) error {
	if err := s.open(); err != nil {
		return err
	}
	return writeJSON(s.failedFile(), f)
}

// ForgetFailed removes the record of a failed swap, if any.
func (s Store) ForgetFailed() error {
	if err := os.Remove(s.failedFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget the failed swap: %w", err)
	}
	return nil
}

// Failed returns the record of a failed swap, or nil when there is none.
func (s Store) Failed() (*FailedSwap, error) {
	data, err := os.ReadFile(s.failedFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f FailedSwap
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", s.failedFile(), err)
	}
	return &f, nil
}

// FailedSuffix names where dpkg's file goes while a kept build stands in for it:
// /usr/sbin/nginx.failed-swap.
const FailedSuffix = ".failed-swap"

// ErrNothingToRestore means there is no failed build on disk to replace.
var ErrNothingToRestore = errors.New("nothing to restore")

// Restore puts the kept build back at the path of the build that failed, in a way dpkg knows
// about: a local diversion sends dpkg's file (and the next package's) to path.failed-swap, and
// the kept build takes path. The next nginx package lands on the diverted path; packaging/hook
// then lifts the diversion and swaps to it as usual. path is never missing meanwhile: the
// failed build is linked to the diverted path and the kept one renamed over path.
func (s Store) Restore(ctx context.Context) (*FailedSwap, error) {
	f, err := s.Failed()
	switch {
	case err != nil:
		return nil, err
	case f == nil:
		return nil, fmt.Errorf("%w: no swap failed (no record in %s)", ErrNothingToRestore, s.failedFile())
	}
	if sum, err := nginx.HashFile(f.Path); err != nil || sum != f.FailedSHA256 {
		what := "another build"
		if f.Restored != nil && sum == f.KeptSHA256 {
			what = fmt.Sprintf("the kept build already (restored at %s)", f.Restored.Time.Format(time.RFC3339))
		}
		if err != nil {
			what = err.Error()
		}
		return nil, fmt.Errorf("%w: %s is no longer the build that failed at %s: %s", ErrNothingToRestore, f.Path, f.Time.Format(time.RFC3339), what)
	}
	kept, err := s.Get(f.KeptSHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: the build that served is not kept: %v; install the previous nginx package instead", ErrNothingToRestore, err)
	}
	diverted := f.Path + FailedSuffix
	if err := s.putBack(ctx, kept, f.Path, diverted); err != nil {
		return nil, err
	}
	f.Restored = &Restored{Time: time.Now(), DivertedTo: diverted}
	if err := s.RecordFailed(*f); err != nil {
		return nil, fmt.Errorf("restored, but not recorded: %w", err)
	}
	return f, nil
}

// putBack installs the kept build at path with dpkg's file diverted to diverted, undoing what it
// did when a step fails.
func (s Store) putBack(ctx context.Context, kept Build, path, diverted string) error {
	tmp := filepath.Join(filepath.Dir(path), ".nginx-upgrade-restore")
	if err := copyFile(s.File(kept.SHA256), tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy the kept build next to %s: %w", path, err)
	}
	defer os.Remove(tmp) // renamed away on success
	if out, err := exec.CommandContext(ctx, "dpkg-divert", "--local", "--no-rename", "--divert", diverted, "--add", path).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-divert %s to %s: %w: %s (restore needs dpkg)", path, diverted, err, out)
	}
	err := os.Remove(diverted)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err == nil {
		err = os.Link(path, diverted)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(diverted)
		exec.CommandContext(ctx, "dpkg-divert", "--local", "--no-rename", "--remove", path).Run()
		return fmt.Errorf("put the kept build at %s: %w; undone, nothing changed", path, err)
	}
	return nil
}

// copyFile writes a copy of src at dst, executable, synced to disk.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(0o755) // against the umask
	}
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}
