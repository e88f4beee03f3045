package audit

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// step returns a record of run id at second sec of a fixed day.
func step(id string, sec int, stepName, result string) Record {
	return Record{
		Time: time.Date(2025, 3, 4, 10, 0, sec, 0, time.UTC), UpgradeID: id, Step: stepName, Result: result,
		OldMasterPID: 6107, OldVersion: "nginx/1.22.1", OldSHA256: "bc08ffbb8c8d",
		NewVersion: "nginx/1.24.0", NewSHA256: "1f2e3d4c5b6a", InvokedBy: "cli", InvokerUID: 0,
	}
}

func TestFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := File(path)
	if err != nil {
		t.Fatal(err)
	}
	ok, back, killed := "0000000000000000000000000000000a", "0000000000000000000000000000000b", "0000000000000000000000000000000c"
	usr2 := step(ok, 1, "usr2", "sent")
	nm := step(ok, 2, "new_master", "ok")
	nm.NewMasterPID = 6124
	done := step(ok, 4, StepOutcome, "success")
	done.NewMasterPID, done.Duration = 6124, 3500*time.Millisecond
	failed := step(back, 6, "workers", "failed")
	failed.Error = "workers missing"
	rolled := step(back, 7, StepOutcome, "rolled_back")
	rolled.Error = "workers missing"
	// Two runs interleave, as when an old run's records are written late; a third never ends.
	for _, r := range []Record{usr2, nm, step(back, 5, "usr2", "sent"), done, failed, rolled,
		step(killed, 9, "preflight", "ok"), step(killed, 10, "usr2", "sent")} {
		if err := s.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	runs, err := FileHistory(path, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 {
		t.Fatalf("read %d runs, want 3", len(runs))
	}
	for i, want := range []struct {
		id, outcome string
		steps       int
		newPID      int
		duration    time.Duration
		err         string
	}{
		{ok, "success", 3, 6124, 3500 * time.Millisecond, ""},
		{back, "rolled_back", 3, 0, 0, "workers missing"},
		{killed, Incomplete, 2, 0, time.Second, ""},
	} {
		r := runs[i]
		if r.UpgradeID != want.id || r.Outcome != want.outcome || len(r.Steps) != want.steps ||
			r.NewMasterPID != want.newPID || r.Duration != want.duration || r.Error != want.err {
			t.Errorf("run %d = %s %s, %d steps, new master %d, took %s, error %q;\nwant %s %s, %d steps, new master %d, took %s, error %q",
				i, r.UpgradeID, r.Outcome, len(r.Steps), r.NewMasterPID, r.Duration, r.Error,
				want.id, want.outcome, want.steps, want.newPID, want.duration, want.err)
		}
	}
	r := runs[0]
	if !r.Start.Equal(usr2.Time) || !r.End.Equal(done.Time) || r.OldMasterPID != 6107 ||
		r.OldVersion != "nginx/1.22.1" || r.NewSHA256 != "1f2e3d4c5b6a" || r.InvokedBy != "cli" || r.InvokerUID != 0 {
		t.Errorf("run summary = %+v", r)
	}
	if last := r.Steps[len(r.Steps)-1]; last.Step != StepOutcome || last.Message != "outcome success" {
		t.Errorf("last step = %s %q, want the outcome with its default message", last.Step, last.Message)
	}
}

func TestFileHistorySince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, _ := File(path)
	s.Write(step("0000000000000000000000000000000a", 1, StepOutcome, "noop"))
	s.Write(step("0000000000000000000000000000000b", 5, StepOutcome, "noop"))
	s.Close()
	runs, err := FileHistory(path, time.Date(2025, 3, 4, 10, 0, 3, 0, time.UTC))
	if err != nil || len(runs) != 1 || runs[0].UpgradeID != "0000000000000000000000000000000b" {
		t.Errorf("runs since 10:00:03 = %+v (%v), want the one at 10:00:05", runs, err)
	}
}

func TestFileHistoryKeepsWhatItCanOfADamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	good := string(line(step("0000000000000000000000000000000a", 1, StepOutcome, "success")))
	os.WriteFile(path, []byte(`{"UPGRADE_ID":"0000000000000000000000000000000b","STE`+"\n"+good), 0o600)
	runs, err := FileHistory(path, time.Time{})
	if len(runs) != 1 || runs[0].Outcome != "success" {
		t.Errorf("runs = %+v, want the one whole record read", runs)
	}
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("error = %v, want it to name %s line 1", err, path)
	}
}

// testdata/journalctl.json is real `journalctl -t nginx-upgradectl -o json` output, captured from a
// journald fed by the Journal sink: a run that rolled back, whose workers record has an ERROR
// with bytes that are not UTF-8 (journalctl prints it as an array of numbers), a line logged
// under our identifier that is no record, and a run killed after USR2.
func TestParseJournalctlOutput(t *testing.T) {
	f, err := os.Open("testdata/journalctl.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	runs := group(recs)
	if len(runs) != 2 {
		t.Fatalf("read %d runs, want 2", len(runs))
	}
	back, killed := runs[0], runs[1]
	if back.UpgradeID != "5d1c0f3e9a8b47c6b2e1d0f9a8b7c6d5" || back.Outcome != "rolled_back" || len(back.Steps) != 7 ||
		back.OldMasterPID != 6107 || back.NewMasterPID != 6124 || back.Duration != 1090*time.Millisecond ||
		back.Unit != "nginx.service" || back.Error != "workers missing" {
		t.Errorf("first run = %+v", back)
	}
	if !back.Start.Equal(time.UnixMicro(1795573512771586)) {
		t.Errorf("first run started %s, want __REALTIME_TIMESTAMP of its first record", back.Start)
	}
	if w := back.Steps[4]; w.Step != "workers" || w.Result != "failed" || w.Error != "" || w.Message != "workers failed" {
		t.Errorf("workers record = %+v; want its binary ERROR skipped, the rest kept", w)
	}
	if killed.Outcome != Incomplete || killed.InvokedBy != "nginx-upgrade.service" || killed.NewVersion != "nginx/1.24.0" {
		t.Errorf("second run = %+v", killed)
	}
}

func TestParseKeepsOnlyStringValues(t *testing.T) {
	in := `{"UPGRADE_ID":"a","STEP":"health","RESULT":"ok","UNIT":["nginx.service","other.service"],"ERROR":null}`
	recs, err := parse(strings.NewReader(in))
	if err != nil || len(recs) != 1 || recs[0].Unit != "" || recs[0].Step != "health" {
		t.Errorf("records = %+v (%v); want a field set twice (an array) skipped", recs, err)
	}
}

func TestJournalctlRunsTheQuery(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "journalctl")
	script := "#!/bin/sh\necho \"$@\" > " + dir + "/args\ncat testdata/journalctl.json\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	j := Journalctl{Path: fake, Args: []string{"--directory=/srv/journal"}}
	runs, err := j.History(context.Background(), time.Unix(1700000000, 0))
	if err != nil || len(runs) != 2 {
		t.Fatalf("History = %d runs, %v; want the 2 runs of the sample", len(runs), err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	want := "--directory=/srv/journal --quiet --no-pager --output=json --identifier=nginx-upgradectl --since=@1700000000\n"
	if string(args) != want {
		t.Errorf("journalctl %s\nwant journalctl %s", args, want)
	}
}

func TestJournalctlFailureSaysWhy(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "journalctl")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'No journal files were opened due to insufficient permissions.' >&2\nexit 1\n"), 0o755)
	_, err := Journalctl{Path: fake}.History(context.Background(), time.Time{})
	if err == nil || !strings.Contains(err.Error(), "insufficient permissions") || !strings.Contains(err.Error(), "--audit-log") {
		t.Errorf("error = %v; want journalctl's complaint and what to do instead", err)
	}
}

// Why a run swapped survives the trail: REASON as written, REPLACED_PATHS one path a line (paths
// may hold spaces and commas, never a newline: the kernel prints one as \012).
func TestReasonAndReplacedPathsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := File(path)
	if err != nil {
		t.Fatal(err)
	}
	replaced := []string{"/usr/lib/nginx/modules/ngx_stream_module.so", "/opt/odd, name/lib ssl (deleted).so"}
	id := "0000000000000000000000000000000d"
	pre := step(id, 1, "preflight", "ok")
	pre.Reason, pre.ReplacedPaths = "modules,libraries", replaced
	done := step(id, 3, StepOutcome, "success")
	done.Reason, done.ReplacedPaths = pre.Reason, replaced
	if f := done.fields(); f["REASON"] != "modules,libraries" || f["REPLACED_PATHS"] != strings.Join(replaced, "\n") {
		t.Errorf("journald fields REASON=%q REPLACED_PATHS=%q", f["REASON"], f["REPLACED_PATHS"])
	}
	for _, r := range []Record{step(id, 0, "find_master", "ok"), pre, done} {
		s.Write(r)
	}
	s.Close()

	runs, err := FileHistory(path, time.Time{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v (%v), want one", runs, err)
	}
	if r := runs[0]; r.Reason != "modules,libraries" || !slices.Equal(r.ReplacedPaths, replaced) {
		t.Errorf("run reason %q, replaced %q; want modules,libraries and %q", r.Reason, r.ReplacedPaths, replaced)
	}
	if f := step(id, 0, "find_master", "ok").fields(); f["REASON"] != "" || f["REPLACED_PATHS"] != "" {
		t.Errorf("a record before preflight has REASON=%q REPLACED_PATHS=%q, want them left out", f["REASON"], f["REPLACED_PATHS"])
	}
}
