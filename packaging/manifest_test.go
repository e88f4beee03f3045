package packaging

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// entry is one file of nfpm.yaml's contents that comes from the repository.
type entry struct{ src, dst string }

var (
	listItem = regexp.MustCompile(`^\s*-\s`)
	srcLine  = regexp.MustCompile(`^\s*(?:-\s+)?src:\s*(\S+)`)
	dstLine  = regexp.MustCompile(`^\s*(?:-\s+)?dst:\s*(\S+)`)
)

// manifest reads the entries of nfpm.yaml whose source is a file of the repository (not one made
// at package time).
func manifest(t *testing.T) []entry {
	t.Helper()
	b, err := os.ReadFile("../nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var es []entry
	src := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if listItem.MatchString(line) {
			src = ""
		}
		if m := srcLine.FindStringSubmatch(line); m != nil {
			src = m[1]
		}
		if m := dstLine.FindStringSubmatch(line); m != nil && src != "" && !strings.Contains(src, "$") {
			es = append(es, entry{src, m[1]})
		}
	}
	if len(es) < 10 {
		t.Fatalf("read %d entries from nfpm.yaml: its format changed?", len(es))
	}
	return es
}

// mentions reports whether text names path as a path of its own (not inside a longer one).
func mentions(text, path string) bool {
	re := regexp.MustCompile(`(^|[^A-Za-z0-9_./-])` + regexp.QuoteMeta(path) + `($|[^A-Za-z0-9_.-])`)
	return re.MatchString(text)
}

// nfpm.yaml is the one list of what is installed where: no other file of the repository (a
// Makefile target, a test box, a script) names a packaged file's source together with where it
// goes, on one line or twice in the file. `make install` installs the package; the test boxes install the .deb.
func TestNfpmYamlIsTheOnlyInstallList(t *testing.T) {
	es := manifest(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	self, err := filepath.Abs("manifest_test.go")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case ".git", "bin", "dist", "testdata/fuzz-cache":
				return filepath.SkipDir
			}
			return nil
		}
		if rel == "nfpm.yaml" || path == self || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > 1<<20 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.IndexByte(b, 0) >= 0 {
			return nil // binary
		}
		text := string(b)
		var pairs []string
		for _, e := range es {
			if !mentions(text, e.src) || !mentions(text, e.dst) {
				continue
			}
			pairs = append(pairs, e.src+" → "+e.dst)
			for line := range strings.Lines(text) {
				if mentions(line, e.src) && mentions(line, e.dst) {
					t.Errorf("%s installs %s as %s: a second install list; install the package built from nfpm.yaml instead:\n%s", rel, e.src, e.dst, strings.TrimSpace(line))
				}
			}
		}
		// A comment may point from a source file to where it is installed; two are a list.
		if len(pairs) > 1 {
			t.Errorf("%s names packaged files and where they are installed (%s): a second install list; install the package built from nfpm.yaml instead", rel, strings.Join(pairs, ", "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
