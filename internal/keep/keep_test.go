package keep

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// build writes an "executable" with content to a temporary file and returns its path and sha256.
func build(t *testing.T, content string) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nginx")
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	return path, hex.EncodeToString(sum[:])
}

// files lists the names in the store's builds directory.
func files(t *testing.T, s Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.builds())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestKeepStoresTheBuildBySHA256(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "state")}
	src, sum := build(t, "build one")
	b, err := s.Keep(src, Build{Path: "/usr/sbin/nginx", Version: "nginx/1.22.1", Package: "nginx 1.22.1-9"})
	if err != nil {
		t.Fatal(err)
	}
	if b.SHA256 != sum {
		t.Fatalf("kept as %s, want the content's sha256 %s", b.SHA256, sum)
	}
	if got, err := os.ReadFile(s.File(sum)); err != nil || string(got) != "build one" {
		t.Fatalf("kept file %q, %v", got, err)
	}
	got, err := s.Get(sum)
	if err != nil || got.Version != "nginx/1.22.1" || got.Package != "nginx 1.22.1-9" || got.Path != "/usr/sbin/nginx" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	for _, dir := range []string{s.Dir, s.builds()} {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: mode %v, %v; want 0700 (root alone)", dir, fi.Mode().Perm(), err)
		}
	}
	// Kept again, after dpkg replaced it on disk: one copy, and the package it was kept with.
	if b, err := s.Keep(src, Build{Path: "/usr/sbin/nginx"}); err != nil || b.Package != "nginx 1.22.1-9" {
		t.Fatalf("kept again: %+v, %v; want the package kept", b, err)
	}
	if got := files(t, s); !slices.Equal(got, []string{sum, sum + ".json"}) {
		t.Fatalf("store holds %v, want the build and its description once", got)
	}
}

func TestKeepIsBoundedDroppingTheOldest(t *testing.T) {
	s := Store{Dir: t.TempDir(), Max: 2}
	var sums []string
	for _, c := range []string{"first", "second", "third"} {
		src, sum := build(t, c)
		if _, err := s.Keep(src, Build{}); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range list {
		got = append(got, b.SHA256)
	}
	if want := []string{sums[2], sums[1]}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want the newest two %v", got, want)
	}
	if _, err := os.Stat(s.File(sums[0])); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the oldest build is still on disk: %v", err)
	}
}

func TestKeepThatFailsLeavesNothingBehind(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	// A directory opens but cannot be read: the copy fails half-way, like a full disk.
	if _, err := s.Keep(t.TempDir(), Build{}); err == nil {
		t.Fatal("kept a directory")
	}
	if got := files(t, s); len(got) != 0 {
		t.Fatalf("a failed keep left %v", got)
	}
}

func TestKeepRefusesAStoreOthersCanWrite(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	src, _ := build(t, "x")
	_, err := Store{Dir: dir}.Keep(src, Build{})
	if err == nil || !strings.Contains(err.Error(), "writable by root alone") {
		t.Fatalf("Keep in a world-writable directory: %v", err)
	}
}

func TestRestoreRefusesWhenThereIsNothingToRestore(t *testing.T) {
	failed, failedSum := build(t, "the build that failed")
	keptSrc, keptSum := build(t, "the build that served")
	for _, c := range []struct {
		name  string
		setUp func(s Store)
		want  string
	}{
		{"no failed swap", func(Store) {}, "no swap failed"},
		{"another build on disk", func(s Store) {
			s.RecordFailed(FailedSwap{Path: keptSrc, FailedSHA256: failedSum, KeptSHA256: keptSum})
		}, "is no longer the build that failed"},
		{"nothing kept", func(s Store) {
			s.RecordFailed(FailedSwap{Path: failed, FailedSHA256: failedSum, KeptSHA256: keptSum})
		}, "the build that served is not kept"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Store{Dir: t.TempDir()}
			c.setUp(s)
			_, err := s.Restore(t.Context())
			if !errors.Is(err, ErrNothingToRestore) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Restore: %v; want %q", err, c.want)
			}
			if got, _ := os.ReadFile(failed); string(got) != "the build that failed" {
				t.Fatalf("a refused restore changed %s", failed)
			}
		})
	}
}

func TestFailedSwapRecordRoundTrips(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if f, err := s.Failed(); f != nil || err != nil {
		t.Fatalf("Failed() on an empty store = %v, %v", f, err)
	}
	want := FailedSwap{Path: "/usr/sbin/nginx", FailedSHA256: "aa", KeptSHA256: "bb", UpgradeID: "id1", Time: time.Unix(1700000000, 0).UTC()}
	if err := s.RecordFailed(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Failed()
	if err != nil || got == nil || *got != want {
		t.Fatalf("Failed() = %+v, %v; want %+v", got, err, want)
	}
	// packaging/hook reads failed_sha256 with sed, a line of its own.
	data, _ := os.ReadFile(s.failedFile())
	if !strings.Contains(string(data), "\n  \"failed_sha256\": \"aa\",\n") {
		t.Fatalf("record lacks a failed_sha256 line the hook can read:\n%s", data)
	}
	if err := s.ForgetFailed(); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Failed(); f != nil || err != nil {
		t.Fatalf("Failed() after ForgetFailed = %v, %v", f, err)
	}
	if err := s.ForgetFailed(); err != nil {
		t.Fatalf("forgetting twice: %v", err)
	}
}

func TestAStagedCopyHasNoNameUntilKept(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "state")}
	src, sum := build(t, "build one")
	if _, err := s.Stage(src); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stage into a store that does not exist yet = %v, want an error (a run that may not swap creates nothing)", err)
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stage created %s (%v)", s.Dir, err)
	}
	if err := s.open(); err != nil {
		t.Fatal(err)
	}

	// Staged, then dropped: a run that did not swap leaves the store as it was.
	st, err := s.Stage(src)
	if err != nil {
		t.Fatal(err)
	}
	if got := files(t, s); len(got) != 0 {
		t.Fatalf("store holds %v while a copy is staged, want nothing named", got)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if got := files(t, s); len(got) != 0 {
		t.Fatalf("store holds %v after a staged copy was dropped, want nothing", got)
	}

	// Staged, the file on disk replaced meanwhile (as dpkg does), then kept: the staged content.
	if st, err = s.Stage(src); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("build two"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := st.SHA256(); got != sum {
		t.Fatalf("staged SHA256 = %s, want %s, the sum of the content copied (the record takes it)", got, sum)
	}
	if err := st.Describe(Build{Path: "/usr/sbin/nginx", Package: "nginx 1.22.1-9"}); err != nil {
		t.Fatal(err)
	}
	if got := files(t, s); len(got) != 0 {
		t.Fatalf("store holds %v while a described copy is staged, want nothing named", got)
	}
	b, err := st.Keep()
	if err != nil || b.SHA256 != sum {
		t.Fatalf("KeepStaged = %+v, %v; want it kept as %s", b, err, sum)
	}
	if got, err := os.ReadFile(s.File(sum)); err != nil || string(got) != "build one" {
		t.Fatalf("kept file %q, %v; want the staged content", got, err)
	}
	if got := files(t, s); !slices.Equal(got, []string{sum, sum + ".json"}) {
		t.Fatalf("store holds %v, want the build and its description", got)
	}

	// A build already kept, staged again: one copy, marked newest, its package kept.
	if st, err = s.Stage(filepath.Join(s.builds(), sum)); err != nil {
		t.Fatal(err)
	}
	if err := st.Describe(Build{Path: "/usr/sbin/nginx"}); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Keep(); err != nil || b.Package != "nginx 1.22.1-9" {
		t.Fatalf("kept again: %+v, %v; want the package kept", b, err)
	}
	if got, err := s.Get(sum); err != nil || got.Package != "nginx 1.22.1-9" || got.Path != "/usr/sbin/nginx" {
		t.Fatalf("Get = %+v, %v; want the description staged", got, err)
	}
	if got := files(t, s); !slices.Equal(got, []string{sum, sum + ".json"}) {
		t.Fatalf("store holds %v, want the build and its description once", got)
	}
}
