package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// DefaultFile is where records go when journald is not running and no --audit-log is given.
const DefaultFile = "/var/log/nginx-upgradectl/audit.jsonl"

// writeTimeout bounds one write: the trail must never hold up a swap in progress.
const writeTimeout = 2 * time.Second

// Sink receives records. Write never blocks for long and its error never needs to stop a run: a
// sink reports its first failure (for the caller to log) and keeps going; later failures are
// silent.
type Sink interface {
	Write(Record) error
	Where() string // "journald", a file path, "journald and PATH", or "nowhere" when records are dropped
	Close() error
}

// Open picks the trail. With auditLog empty, records go to journald when it runs, else to
// DefaultFile; with auditLog set, they go to that file, and to journald too when it runs. When
// nothing can take them, Open returns a sink that drops them and a warning saying so and how to
// fix it: a missing trail is worth a warning, never a reason to leave nginx unupgraded.
func Open(auditLog string) (s Sink, warning error) {
	return open(auditLog, journal.Enabled())
}

func open(auditLog string, journald bool) (Sink, error) {
	if auditLog == "" {
		if journald {
			return Journal(), nil
		}
		auditLog = DefaultFile
	}
	f, err := File(auditLog)
	switch {
	case err == nil && journald:
		return Multi(Journal(), f), nil
	case err == nil:
		return f, nil
	case journald:
		return Journal(), fmt.Errorf("audit records go to journald only: %w; give --audit-log a writable file", err)
	}
	return drop{}, fmt.Errorf("no audit trail for this run: journald is not running and %w; "+
		"give --audit-log a writable file, or start systemd-journald", err)
}

// Journal returns the journald sink: each record is one journal entry, with MESSAGE_ID from its
// step and PRIORITY from its result.
func Journal() Sink {
	return guard(journalSink{send: journal.Send}, writeTimeout)
}

// File returns a sink appending each record to path as one JSON object per line. Its keys are the
// journald field names, its values strings, with the time in __REALTIME_TIMESTAMP: the object
// `journalctl -o json` would print, so that the file and the journal read back alike. The
// directory is created if missing; the file is readable by its owner only.
func File(path string) (Sink, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("cannot create audit log %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open audit log %s: %w", path, err)
	}
	return guard(&fileSink{f: f, sync: f.Sync}, writeTimeout), nil
}

// Multi returns a sink writing every record to each of sinks.
func Multi(sinks ...Sink) Sink { return multi(sinks) }

type journalSink struct {
	send func(message string, priority journal.Priority, vars map[string]string) error
}

func (j journalSink) Write(r Record) error {
	if err := j.send(r.message(), r.priority(), r.fields()); err != nil {
		return fmt.Errorf("writing to journald: %w", err)
	}
	return nil
}

func (journalSink) Where() string { return "journald" }
func (journalSink) Close() error  { return nil }

type fileSink struct {
	mu   sync.Mutex
	f    *os.File
	sync func() error // f.Sync
}

// beforeSignals reports whether step comes before a run sends nginx anything. A crash of the
// machine that loses such a record loses no change to nginx, and the next record synced takes it
// to disk too: not waiting for the disk there keeps 2-8 ms a record (here) off the swap's path.
func beforeSignals(step string) bool {
	switch step {
	case "lock", "wait", "find_master", "preflight", "keep":
		return true
	}
	return false
}

// line is r as the file stores it.
func line(r Record) []byte {
	f := r.fields()
	f["MESSAGE"] = r.message()
	f["PRIORITY"] = strconv.Itoa(int(r.priority()))
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	f["__REALTIME_TIMESTAMP"] = strconv.FormatInt(t.UnixMicro(), 10)
	b, _ := json.Marshal(f) // a map of strings always marshals
	return append(b, '\n')
}

func (s *fileSink) Write(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// One write(2) per line with O_APPEND keeps lines whole even when two runs share the file;
	// the sync makes a record survive the crash it may be the last word on.
	if _, err := s.f.Write(line(r)); err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	if beforeSignals(r.Step) {
		return nil
	}
	if err := s.sync(); err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	return nil
}

func (s *fileSink) Where() string { return s.f.Name() }

func (s *fileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

type multi []Sink

func (m multi) Write(r Record) error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Write(r))
	}
	return errors.Join(errs...)
}

func (m multi) Where() string {
	var w []string
	for _, s := range m {
		w = append(w, s.Where())
	}
	return strings.Join(w, " and ")
}

func (m multi) Close() error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// drop is the trail when there is none.
type drop struct{}

func (drop) Write(Record) error { return nil }
func (drop) Where() string      { return "nowhere" }
func (drop) Close() error       { return nil }
