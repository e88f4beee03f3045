package lab

import (
	"go/build"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/nginx-upgrade/nginx-upgrade"

// root is the repository, two levels above this package.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", dir, err)
	}
	return dir
}

// packages returns every directory of the module that holds Go files, with or without the e2e
// tag, relative to root.
func packages(t *testing.T, root string) map[string]*build.Package {
	t.Helper()
	ctx := build.Default
	ctx.BuildTags = []string{"e2e"}
	pkgs := map[string]*build.Package{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "dist") {
			return filepath.SkipDir
		}
		p, err := ctx.ImportDir(path, 0)
		if err != nil {
			if _, none := err.(*build.NoGoError); none {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, path)
		pkgs[filepath.ToSlash(rel)] = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// shipped reports whether a package goes into what is installed: cmd/nginx-upgradectl and the
// internal packages outside the lab.
func shipped(rel string) bool {
	return rel == "cmd/nginx-upgradectl" || strings.HasPrefix(rel, "internal/") && rel != "internal/lab" && !strings.HasPrefix(rel, "internal/lab/")
}

func TestCmdHoldsOnlyWhatShips(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(root(t), "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "nginx-upgradectl" {
			t.Errorf("cmd/%s: cmd/ holds only what ships; lab commands go under internal/lab/cmd", e.Name())
		}
	}
}

func TestShippedCodeImportsNoLabPackage(t *testing.T) {
	for rel, p := range packages(t, root(t)) {
		if !shipped(rel) {
			continue
		}
		// Test files of a shipped package may use lab equipment; what it compiles into may not.
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/internal/lab") {
				t.Errorf("%s imports %s: shipped code must not depend on the lab", rel, imp)
			}
		}
	}
}

// tableRow matches a row of the README's Layout table and captures its first cell.
var tableRow = regexp.MustCompile("(?m)^\\| (`[^|]+`) \\|")

func TestREADMELayoutTableMatchesTheTree(t *testing.T) {
	dir := root(t)
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no \"## Layout\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var listed []string
	for _, m := range tableRow.FindAllStringSubmatch(section, -1) {
		for _, cell := range strings.Split(m[1], ",") {
			path := strings.Trim(strings.TrimSpace(cell), "`/")
			listed = append(listed, path)
			if _, err := os.Stat(filepath.Join(dir, path)); err != nil {
				t.Errorf("README's Layout lists %s, which does not exist", path)
			}
		}
	}
	for rel := range packages(t, dir) {
		// A package is described by its own row or by a row for a directory above it, except
		// that the lab's own rows must name each of its packages.
		covered := slices.ContainsFunc(listed, func(p string) bool {
			return rel == p || strings.HasPrefix(rel, p+"/") && !strings.HasPrefix(rel, "internal/lab/")
		})
		if !covered && rel != "internal/lab" {
			t.Errorf("package %s is missing from README's Layout table", rel)
		}
	}
}
