package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/nginx-upgrade/nginx-upgrade/internal/audit"
	"github.com/nginx-upgrade/nginx-upgrade/internal/upgrade"
)

// trail writes every event of one run to the audit sink: journald where it runs, else the
// --audit-log file. It never fails or blocks a run; it says where the trail went, or that it
// went nowhere.
type trail struct {
	sink   audit.Sink
	id     string
	unit   string
	by     string
	stderr io.Writer
	warned bool
}

// sinkOpener opens the trail's sink: audit.Open, or in tests a sink that keeps their runs out of
// the host's journal.
type sinkOpener func(auditLog string) (audit.Sink, error)

func openTrail(openSink sinkOpener, auditLog, unit string, stderr io.Writer) *trail {
	sink, warning := openSink(auditLog)
	if warning != nil {
		fmt.Fprintf(stderr, "nginx-upgradectl: audit: %v\n", warning)
	}
	return &trail{sink: sink, id: audit.NewUpgradeID(), unit: unit, by: audit.InvokedBy(), stderr: stderr}
}

// observe records one event.
func (t *trail) observe(ev upgrade.Event) {
	r := audit.Record{
		Time: time.Now(), UpgradeID: t.id, Step: string(ev.Step), Result: ev.Result, Message: ev.Message,
		OldMasterPID: ev.Info.OldMaster, NewMasterPID: ev.Info.NewMaster, Unit: t.unit,
		OldBinary: ev.Info.Old.Path, NewBinary: ev.Info.New.Path,
		OldVersion: ev.Info.Old.Version, NewVersion: ev.Info.New.Version,
		OldSHA256: ev.Info.Old.SHA256, NewSHA256: ev.Info.New.SHA256,
		Reason: upgrade.JoinReasons(ev.Info.Reasons), ReplacedPaths: ev.Info.Replaced,
		Duration: ev.Duration, InvokedBy: t.by, InvokerUID: os.Getuid(),
	}
	if ev.Err != nil {
		r.Error = ev.Err.Error()
	}
	if err := t.sink.Write(r); err != nil && !t.warned {
		t.warned = true
		fmt.Fprintf(t.stderr, "nginx-upgradectl: audit trail %s: %v (the run goes on)\n", t.sink.Where(), err)
	}
}

// close ends the trail and says where it went.
func (t *trail) close() {
	t.sink.Close()
	fmt.Fprintf(t.stderr, "audit trail: %s, UPGRADE_ID=%s\n", t.sink.Where(), t.id)
}

// history prints past runs from the journal, or from --audit-log.
func history(ctx context.Context, f *flags, stdout, stderr io.Writer) int {
	since := time.Now().Add(-f.since)
	var runs []audit.Run
	var err error
	switch {
	case f.auditLog != "":
		runs, err = audit.FileHistory(f.auditLog, since)
	case journal.Enabled():
		runs, err = audit.JournalHistory(ctx, since)
	default: // where runs write without journald
		runs, err = audit.FileHistory(audit.DefaultFile, since)
	}
	if err != nil {
		fmt.Fprintf(stderr, "nginx-upgradectl history: %v\n", err)
		if runs == nil {
			return exitRefused
		}
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(runs)
		return exitOK
	}
	audit.WriteTable(stdout, runs)
	return exitOK
}
