package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Incomplete is the Outcome of a run with no outcome record: the helper was killed, or its trail
// lost the end.
const Incomplete = "incomplete"

// Run is one past run, put together from its records.
type Run struct {
	UpgradeID                                    string
	Start, End                                   time.Time
	Outcome                                      string // RESULT of the outcome record, or Incomplete
	OldVersion, NewVersion, OldSHA256, NewSHA256 string
	Reason                                       string   // why it swapped: binary, modules, libraries
	ReplacedPaths                                []string // the replaced files of code it found
	OldMasterPID, NewMasterPID                   int
	Duration                                     time.Duration
	InvokedBy                                    string
	InvokerUID                                   int // -1 = unknown
	Unit                                         string
	Error                                        string
	Steps                                        []Record // in time order, the outcome last
}

// Journalctl reads the trail from the journal by running journalctl, the journal's own reader, so
// that no cgo is needed.
type Journalctl struct {
	Path string   // "" finds journalctl in PATH
	Args []string // put before the query: --directory=DIR, --machine=NAME, --file=GLOB
}

// JournalHistory returns the runs recorded in the local journal since since (zero: all), oldest
// first.
func JournalHistory(ctx context.Context, since time.Time) ([]Run, error) {
	return Journalctl{}.History(ctx, since)
}

// History returns the runs journalctl finds since since (zero: all), oldest first.
func (j Journalctl) History(ctx context.Context, since time.Time) ([]Run, error) {
	path := cmp.Or(j.Path, "journalctl")
	args := append(slices.Clone(j.Args), "--quiet", "--no-pager", "--output=json", "--identifier="+Identifier)
	if !since.IsZero() {
		args = append(args, "--since=@"+strconv.FormatInt(since.Unix(), 10))
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return nil, fmt.Errorf("reading the journal with %s: %w; read the file trail with --audit-log instead", path, err)
	}
	recs, err := parse(&stdout)
	if err != nil {
		return nil, fmt.Errorf("reading journalctl output: %w", err)
	}
	return group(recs), nil
}

// FileHistory returns the runs recorded in the file at path since since (zero: all), oldest
// first. Lines that are not records (a write cut short by a full disk) are skipped; the runs read
// come back with an error naming the first such line.
func FileHistory(path string, since time.Time) ([]Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	defer f.Close()
	recs, err := parse(f)
	if err != nil {
		err = fmt.Errorf("audit log %s: %w", path, err)
	}
	recs = slices.DeleteFunc(recs, func(r Record) bool { return r.Time.Before(since) })
	return group(recs), err
}

// parse reads journal entries, one JSON object per line: `journalctl -o json` output or an audit
// file. Only string values are kept: journalctl prints a field that is not valid UTF-8 as an
// array of byte values, and a field set more than once as an array; no field of ours is either.
// Entries without an UPGRADE_ID (other lines logged as nginx-upgradectl) are not records and are
// dropped. Lines that are not JSON objects are skipped, and reported in the error.
func parse(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20) // journalctl prints whole entries; a field may hold a big message
	var recs []Record
	var bad []error
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			bad = append(bad, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		f := make(map[string]string, len(raw))
		for k, v := range raw {
			var s string
			if json.Unmarshal(v, &s) == nil {
				f[k] = s
			}
		}
		if f["UPGRADE_ID"] != "" {
			recs = append(recs, record(f))
		}
	}
	if err := sc.Err(); err != nil {
		return recs, err
	}
	if len(bad) > 0 {
		return recs, fmt.Errorf("skipped %d lines that are not records, the first at %w", len(bad), bad[0])
	}
	return recs, nil
}

// group puts records together by UPGRADE_ID, oldest run first. Later records know more about a
// swap (the new master's pid exists only after USR2), so the last value seen of a field wins.
func group(recs []Record) []Run {
	byID := map[string]*Run{}
	var runs []*Run
	for _, r := range recs {
		run := byID[r.UpgradeID]
		if run == nil {
			run = &Run{UpgradeID: r.UpgradeID, InvokerUID: -1}
			byID[r.UpgradeID] = run
			runs = append(runs, run)
		}
		run.Steps = append(run.Steps, r)
	}
	out := make([]Run, 0, len(runs))
	for _, run := range runs {
		summarize(run)
		out = append(out, *run)
	}
	slices.SortStableFunc(out, func(a, b Run) int { return a.Start.Compare(b.Start) })
	return out
}

func summarize(run *Run) {
	slices.SortStableFunc(run.Steps, func(a, b Record) int { return a.Time.Compare(b.Time) })
	run.Start, run.End = run.Steps[0].Time, run.Steps[len(run.Steps)-1].Time
	run.Outcome, run.Duration = Incomplete, run.End.Sub(run.Start)
	last := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	for _, r := range run.Steps {
		last(&run.OldVersion, r.OldVersion)
		last(&run.NewVersion, r.NewVersion)
		last(&run.OldSHA256, r.OldSHA256)
		last(&run.NewSHA256, r.NewSHA256)
		last(&run.Reason, r.Reason)
		if len(r.ReplacedPaths) > 0 {
			run.ReplacedPaths = r.ReplacedPaths
		}
		last(&run.InvokedBy, r.InvokedBy)
		last(&run.Unit, r.Unit)
		last(&run.Error, r.Error)
		run.OldMasterPID = cmp.Or(r.OldMasterPID, run.OldMasterPID)
		run.NewMasterPID = cmp.Or(r.NewMasterPID, run.NewMasterPID)
		if r.InvokerUID >= 0 {
			run.InvokerUID = r.InvokerUID
		}
		if r.Step == StepOutcome {
			// The outcome record times the whole run, from before its first record.
			run.Outcome, run.Duration = r.Result, r.Duration
		}
	}
}
