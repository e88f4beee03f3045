package audit

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

const catalogPath = "../../systemd/nginx-upgradectl.catalog"

// readCatalog returns the catalog's entries as MESSAGE_ID → the step its subject names, and
// every @FIELD@ it substitutes.
func readCatalog(t *testing.T) (steps map[string]string, vars []string) {
	t.Helper()
	f, err := os.Open(catalogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	steps = map[string]string{}
	header := regexp.MustCompile(`^-- ([0-9a-f]{32})$`)
	subject := regexp.MustCompile(`^Subject: nginx-upgradectl ([a-z0-9_]+): `)
	variable := regexp.MustCompile(`@([A-Za-z0-9_]+)@`)
	var id string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if m := header.FindStringSubmatch(line); m != nil {
			if _, dup := steps[m[1]]; dup {
				t.Errorf("catalog: id %s has two entries", m[1])
			}
			id, steps[m[1]] = m[1], ""
			continue
		}
		if strings.HasPrefix(line, "-- ") {
			t.Errorf("catalog: %q: an entry header is -- and 32 lowercase hex digits", line)
		}
		if m := subject.FindStringSubmatch(line); m != nil && id != "" {
			steps[id] = m[1]
		}
		for _, m := range variable.FindAllStringSubmatch(line, -1) {
			vars = append(vars, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return steps, vars
}

func TestCatalogMatchesMessageIDs(t *testing.T) {
	catalog, _ := readCatalog(t)
	ids := MessageIDs()
	for step, id := range ids {
		switch got, ok := catalog[id]; {
		case !ok:
			t.Errorf("step %s: MESSAGE_ID %s has no catalog entry", step, id)
		case got != step:
			t.Errorf("step %s: catalog entry %s has subject for step %q", step, id, got)
		}
	}
	for id, step := range catalog {
		if ids[step] != id {
			t.Errorf("catalog entry %s (step %q) is not the MESSAGE_ID of any step", id, step)
		}
	}
}

func TestMessageIDsAreJournalIDs(t *testing.T) {
	id128 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]string{}
	for step, id := range MessageIDs() {
		if !id128.MatchString(id) {
			t.Errorf("step %s: MESSAGE_ID %q is not 32 lowercase hex digits", step, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("steps %s and %s share MESSAGE_ID %s", step, other, id)
		}
		seen[id] = step
	}
	if a, b := NewUpgradeID(), NewUpgradeID(); !id128.MatchString(a) || a == b {
		t.Error("NewUpgradeID must return a fresh 128-bit hex id each call")
	}
}

func TestStepWithoutOwnIDGetsOtherID(t *testing.T) {
	if MessageID("usr2") == MessageID("something_new") {
		t.Error("usr2 must have its own MESSAGE_ID")
	}
	if MessageID("something_new") != MessageIDs()[stepOther] {
		t.Error("a step with no MESSAGE_ID of its own must get the id of step other")
	}
}

// A typo in @FIELD@ shows up only when journalctl -x prints it; this catches it here. journalctl
// substitutes names of capital letters and underscores only, so OLD_SHA256 cannot be used.
func TestCatalogSubstitutesOnlyRecordFields(t *testing.T) {
	_, vars := readCatalog(t)
	full := fullRecord().fields()
	for _, v := range vars {
		if _, ok := full[v]; !ok {
			t.Errorf("catalog substitutes @%s@, which no record has", v)
		}
		if strings.ContainsAny(v, "0123456789") {
			t.Errorf("catalog substitutes @%s@, which journalctl prints as is (a digit in the name)", v)
		}
	}
}
