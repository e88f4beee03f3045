// Package audit keeps the trail of every nginx-upgradectl run: one record per step, sent to
// journald (or, without it, appended to a JSON lines file) under field names that dashboards and
// alerts query, and read back as a history of runs.
//
// The fields are a contract. Every record has SYSLOG_IDENTIFIER=nginx-upgradectl, a MESSAGE_ID
// per kind of step (explained in systemd/nginx-upgradectl.catalog), the UPGRADE_ID shared by all
// records of one run, STEP and RESULT; the last record of a run has STEP=outcome and the run's
// outcome as RESULT.
package audit

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// Identifier is the SYSLOG_IDENTIFIER of every record, the -t of journalctl.
const Identifier = "nginx-upgradectl"

// Record is one audit event: one step of one run.
type Record struct {
	Time      time.Time // when it happened; zero means when it is written
	UpgradeID string
	Step      string
	Result    string // ok, sent, failed, skipped; the run's outcome when Step is StepOutcome
	Message   string // for a human: what happened; "STEP RESULT" when empty

	OldMasterPID, NewMasterPID int // 0 = unknown, field omitted
	Unit                       string
	OldBinary, NewBinary       string
	OldVersion, NewVersion     string // from `nginx -v`, e.g. "nginx/1.22.1"
	OldSHA256, NewSHA256       string
	// Reason says why the run swaps: binary, modules, libraries, comma-separated (REASON); the
	// replaced files of code it found are in ReplacedPaths (REPLACED_PATHS, one path a line).
	Reason        string
	ReplacedPaths []string

	Duration   time.Duration // of this step (of the whole run on the outcome record); DURATION_MS
	Error      string
	InvokedBy  string // cli, a systemd unit, a package trigger; see InvokedBy
	InvokerUID int    // -1 = unknown, field omitted
}

// NewUpgradeID returns a fresh UPGRADE_ID: 128 random bits as 32 lowercase hex digits, the form
// of a journald id.
func NewUpgradeID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b[:])
}

// message is the MESSAGE of r.
func (r Record) message() string {
	if r.Message != "" {
		return r.Message
	}
	return r.Step + " " + r.Result
}

// priority is the PRIORITY of r: problems a human must act on are errors, a build that was not
// taken and failed steps are warnings, everything else is information.
func (r Record) priority() journal.Priority {
	if r.Step == StepOutcome {
		switch r.Result {
		case "refused", "needs_operator":
			return journal.PriErr
		case "rolled_back", "rejected":
			return journal.PriWarning
		}
		return journal.PriInfo
	}
	if r.Result == "failed" || r.Error != "" {
		return journal.PriWarning
	}
	return journal.PriInfo
}

// fields are the journald fields of r other than MESSAGE and PRIORITY, which journal.Send takes
// apart. Unknown values are left out rather than written as zero.
func (r Record) fields() map[string]string {
	f := map[string]string{
		"SYSLOG_IDENTIFIER": Identifier,
		"MESSAGE_ID":        MessageID(r.Step),
		"UPGRADE_ID":        r.UpgradeID,
		"STEP":              r.Step,
		"RESULT":            r.Result,
		"DURATION_MS":       strconv.FormatInt(r.Duration.Milliseconds(), 10),
	}
	set := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	pid := func(k string, v int) {
		if v > 0 {
			f[k] = strconv.Itoa(v)
		}
	}
	pid("OLD_MASTER_PID", r.OldMasterPID)
	pid("NEW_MASTER_PID", r.NewMasterPID)
	set("UNIT", r.Unit)
	set("OLD_BINARY", r.OldBinary)
	set("NEW_BINARY", r.NewBinary)
	set("OLD_VERSION", r.OldVersion)
	set("NEW_VERSION", r.NewVersion)
	set("OLD_SHA256", r.OldSHA256)
	set("NEW_SHA256", r.NewSHA256)
	set("REASON", r.Reason)
	set("REPLACED_PATHS", strings.Join(r.ReplacedPaths, "\n"))
	set("ERROR", r.Error)
	set("INVOKED_BY", r.InvokedBy)
	if r.InvokerUID >= 0 {
		f["INVOKER_UID"] = strconv.Itoa(r.InvokerUID)
	}
	return f
}

// record is the inverse of fields, for records read back from the journal or a file. Values that
// do not parse are treated as absent: history must show what it can of a damaged trail.
func record(f map[string]string) Record {
	atoi := func(k string) int {
		n, _ := strconv.Atoi(f[k])
		return n
	}
	r := Record{
		UpgradeID: f["UPGRADE_ID"], Step: f["STEP"], Result: f["RESULT"], Message: f["MESSAGE"],
		OldMasterPID: atoi("OLD_MASTER_PID"), NewMasterPID: atoi("NEW_MASTER_PID"), Unit: f["UNIT"],
		OldBinary: f["OLD_BINARY"], NewBinary: f["NEW_BINARY"],
		OldVersion: f["OLD_VERSION"], NewVersion: f["NEW_VERSION"],
		OldSHA256: f["OLD_SHA256"], NewSHA256: f["NEW_SHA256"], Reason: f["REASON"],
		Duration: time.Duration(atoi("DURATION_MS")) * time.Millisecond,
		Error:    f["ERROR"], InvokedBy: f["INVOKED_BY"], InvokerUID: -1,
	}
	if p := f["REPLACED_PATHS"]; p != "" {
		r.ReplacedPaths = strings.Split(p, "\n") // the kernel prints a newline in a path as \012
	}
	if uid, err := strconv.Atoi(f["INVOKER_UID"]); err == nil {
		r.InvokerUID = uid
	}
	if us, err := strconv.ParseInt(f["__REALTIME_TIMESTAMP"], 10, 64); err == nil {
		r.Time = time.UnixMicro(us)
	}
	return r
}
