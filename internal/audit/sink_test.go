package audit

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// fullRecord has every field set, so that every key of the contract appears.
func fullRecord() Record {
	return Record{
		Time: time.Date(2025, 3, 4, 10, 0, 1, 0, time.UTC), UpgradeID: "5d1c0f3e9a8b47c6b2e1d0f9a8b7c6d5",
		Step: "workers", Result: "failed", Message: "new master 6124 has 0 of 2 workers",
		OldMasterPID: 6107, NewMasterPID: 6124, Unit: "nginx.service",
		OldBinary: "/usr/sbin/nginx", NewBinary: "/usr/sbin/nginx",
		OldVersion: "nginx/1.22.1", NewVersion: "nginx/1.22.1",
		OldSHA256: strings.Repeat("b", 64), NewSHA256: strings.Repeat("1", 64),
		Reason: "libraries", ReplacedPaths: []string{"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/x86_64-linux-gnu/libcrypto.so.3"},
		Duration: 1004 * time.Millisecond, Error: "workers missing", InvokedBy: "cli", InvokerUID: 0,
	}
}

// contractKeys are the fields every consumer of the trail relies on, as the issue names them.
var contractKeys = []string{
	"SYSLOG_IDENTIFIER", "MESSAGE_ID", "MESSAGE", "PRIORITY", "UPGRADE_ID", "STEP", "RESULT",
	"OLD_MASTER_PID", "NEW_MASTER_PID", "UNIT", "OLD_BINARY", "NEW_BINARY", "OLD_VERSION", "NEW_VERSION",
	"OLD_SHA256", "NEW_SHA256", "DURATION_MS", "ERROR", "INVOKED_BY", "INVOKER_UID",
	"REASON", "REPLACED_PATHS", // why a run swapped: a new binary, replaced modules or libraries
}

// sent captures what the journald sink hands to journal.Send.
type sent struct {
	message  string
	priority journal.Priority
	vars     map[string]string
}

func journalFake(out *[]sent) journalSink {
	return journalSink{send: func(m string, p journal.Priority, v map[string]string) error {
		*out = append(*out, sent{m, p, v})
		return nil
	}}
}

func TestFileLineKeysAreTheJournaldFieldNames(t *testing.T) {
	var obj map[string]string
	if err := json.Unmarshal(line(fullRecord()), &obj); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(contractKeys), "__REALTIME_TIMESTAMP")
	if got := slices.Sorted(maps.Keys(obj)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("keys of a file line:\n got %v\nwant %v", got, slices.Sorted(slices.Values(want)))
	}
	if obj["__REALTIME_TIMESTAMP"] != strconv.FormatInt(fullRecord().Time.UnixMicro(), 10) {
		t.Errorf("__REALTIME_TIMESTAMP = %s, want the record's time in microseconds", obj["__REALTIME_TIMESTAMP"])
	}
}

func TestFileAndJournalCarryTheSameFields(t *testing.T) {
	var got []sent
	if err := journalFake(&got).Write(fullRecord()); err != nil {
		t.Fatal(err)
	}
	j := maps.Clone(got[0].vars)
	j["MESSAGE"], j["PRIORITY"] = got[0].message, strconv.Itoa(int(got[0].priority))
	var f map[string]string
	if err := json.Unmarshal(line(fullRecord()), &f); err != nil {
		t.Fatal(err)
	}
	delete(f, "__REALTIME_TIMESTAMP") // journald stamps its own
	if !maps.Equal(j, f) {
		t.Errorf("journald gets %v\nthe file gets %v", j, f)
	}
}

func TestUnknownValuesAreLeftOut(t *testing.T) {
	r := Record{UpgradeID: "x", Step: "usr2", Result: "sent", InvokerUID: -1}
	want := []string{"DURATION_MS", "MESSAGE_ID", "RESULT", "STEP", "SYSLOG_IDENTIFIER", "UPGRADE_ID"}
	if got := slices.Sorted(maps.Keys(r.fields())); !slices.Equal(got, want) {
		t.Errorf("fields of a bare record = %v, want %v", got, want)
	}
}

func TestJournalMessageFallsBackToStepAndResult(t *testing.T) {
	var got []sent
	s := journalFake(&got)
	s.Write(Record{Step: "usr2", Result: "sent", Message: "sent USR2 to old master 6107"})
	s.Write(Record{Step: "usr2", Result: "sent"})
	if got[0].message != "sent USR2 to old master 6107" || got[1].message != "usr2 sent" {
		t.Errorf("MESSAGE = %q, %q; want the record's message, else \"usr2 sent\"", got[0].message, got[1].message)
	}
	if got[0].vars["MESSAGE_ID"] != MessageIDs()["usr2"] {
		t.Errorf("MESSAGE_ID = %s, want the id of step usr2", got[0].vars["MESSAGE_ID"])
	}
}

func TestPriority(t *testing.T) {
	for _, c := range []struct {
		step, result string
		want         journal.Priority
	}{
		{"usr2", "sent", journal.PriInfo},
		{"health", "ok", journal.PriInfo},
		{"workers", "failed", journal.PriWarning},
		{StepOutcome, "success", journal.PriInfo},
		{StepOutcome, "noop", journal.PriInfo},
		{StepOutcome, "paused", journal.PriInfo},
		{StepOutcome, "rolled_back", journal.PriWarning},
		{StepOutcome, "rejected", journal.PriWarning},
		{StepOutcome, "refused", journal.PriErr},
		{StepOutcome, "needs_operator", journal.PriErr},
	} {
		if got := (Record{Step: c.step, Result: c.result}).priority(); got != c.want {
			t.Errorf("%s %s: PRIORITY %d, want %d", c.step, c.result, got, c.want)
		}
	}
}

func TestOpenWithoutJournaldOrWritableFileDropsAndWarns(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(notDir, "audit.jsonl") // even root cannot create a file under a file
	s, warning := open(path, false)
	if warning == nil || !strings.Contains(warning.Error(), path) || !strings.Contains(warning.Error(), "--audit-log") {
		t.Errorf("warning = %v; want one naming %s and saying to fix --audit-log", warning, path)
	}
	if s.Where() != "nowhere" {
		t.Errorf("records go to %s, want nowhere", s.Where())
	}
	if err := s.Write(fullRecord()); err != nil {
		t.Errorf("the dropping sink failed a write: %v", err)
	}
}

func TestOpenPicksTheTrail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log", "audit.jsonl")
	for _, c := range []struct {
		auditLog string
		journald bool
		where    string
	}{
		{"", true, "journald"},
		{path, false, path},
		{path, true, "journald and " + path},
	} {
		s, warning := open(c.auditLog, c.journald)
		if warning != nil || s.Where() != c.where {
			t.Errorf("open(%q, journald %v): records go to %s (warning %v), want %s", c.auditLog, c.journald, s.Where(), warning, c.where)
		}
		s.Close()
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log %v (%v), want it created readable by its owner only", fi.Mode(), err)
	}
}

// stub is a sink that fails with err, after waiting for block to close when it is set.
type stub struct {
	err   error
	block chan struct{}
	calls atomic.Int32
}

func (s *stub) Write(Record) error {
	s.calls.Add(1)
	if s.block != nil {
		<-s.block
	}
	return s.err
}
func (*stub) Where() string { return "test sink" }
func (*stub) Close() error  { return nil }

func TestSinkReportsItsFirstFailureOnly(t *testing.T) {
	s := guard(&stub{err: errors.New("disk full")}, time.Second)
	if err := s.Write(fullRecord()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("first failed write: %v, want the failure reported", err)
	}
	if err := s.Write(fullRecord()); err != nil {
		t.Errorf("second failed write: %v, want it silent", err)
	}
}

func TestSinkThatHangsIsGivenUp(t *testing.T) {
	hung := &stub{block: make(chan struct{})}
	defer close(hung.block)
	s := guard(hung, 10*time.Millisecond)
	if err := s.Write(fullRecord()); err == nil || !strings.Contains(err.Error(), "test sink") {
		t.Errorf("hung write: %v, want an error naming the sink", err)
	}
	if err := s.Write(fullRecord()); err != nil {
		t.Errorf("write after a hang: %v, want it dropped silently", err)
	}
	if n := hung.calls.Load(); n != 1 {
		t.Errorf("the hung sink got %d writes, want none after the one that hung", n)
	}
}

// The file waits for the disk once a run has signalled nginx, and for its outcome: a record of
// the steps before is on disk with the next one.
func TestFileSyncsFromTheFirstSignalOn(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var syncs int
	s := &fileSink{f: f, sync: func() error { syncs++; return f.Sync() }}
	want := map[string]bool{"lock": false, "find_master": false, "preflight": false, "keep": false,
		"usr2": true, "winch": true, "quit": true, StepOutcome: true}
	for _, step := range []string{"lock", "find_master", "preflight", "keep", "usr2", "winch", "quit", StepOutcome} {
		before := syncs
		if err := s.Write(Record{Step: step, Result: "ok"}); err != nil {
			t.Fatal(err)
		}
		if synced := syncs > before; synced != want[step] {
			t.Errorf("record of step %s synced: %v, want %v", step, synced, want[step])
		}
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 8 {
		t.Errorf("%d lines in the file, want 8", n)
	}
}
