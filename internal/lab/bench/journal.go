package bench

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ctlIdentifier is the helper's SYSLOG_IDENTIFIER in the journal (internal/audit).
const ctlIdentifier = "nginx-upgradectl"

// systemd's MESSAGE_IDs for a unit's job starting to stop it and to start it.
const (
	msgUnitStopping = "de5b426a63be47a7b6ac3eaac82e2f6f"
	msgUnitStarting = "7d4958e842da4a758f6c1cdc7b36dcc5"
)

// journalEntry is one record of `journalctl -o json`.
type journalEntry struct {
	At     time.Time
	Fields map[string]string // the string fields; binary ones are left out
}

// parseJournal reads `journalctl -o json` output, one object a line. A record's time is its
// sender's (_SOURCE_REALTIME_TIMESTAMP: systemd's own records carry it) or else journald's
// reception (__REALTIME_TIMESTAMP: the helper's, sent over the journal socket as each step
// happens), in microseconds since the epoch: the box's clock is the host's.
func parseJournal(out string) ([]journalEntry, error) {
	var entries []journalEntry
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return nil, fmt.Errorf("journal record %.80q: %w", line, err)
		}
		e := journalEntry{Fields: map[string]string{}}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				e.Fields[k] = s
			}
		}
		ts := e.Fields["_SOURCE_REALTIME_TIMESTAMP"]
		if ts == "" {
			ts = e.Fields["__REALTIME_TIMESTAMP"]
		}
		us, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("journal record %.80q: no time: %w", line, err)
		}
		e.At = time.UnixMicro(us)
		entries = append(entries, e)
	}
	return entries, nil
}

// journalMark names the moment a record marks on a timeline, or "": the helper's signals (its
// usr2, winch and quit steps with RESULT=sent), and systemd starting to stop and to start
// nginx.service (a restart job logs both).
func journalMark(f map[string]string) string {
	switch {
	case f["SYSLOG_IDENTIFIER"] == ctlIdentifier && f["RESULT"] == "sent":
		return ctlSignal(f["STEP"])
	case f["_PID"] == "1" && f["UNIT"] == "nginx.service" && f["MESSAGE_ID"] == msgUnitStopping:
		return "stop"
	case f["_PID"] == "1" && f["UNIT"] == "nginx.service" && f["MESSAGE_ID"] == msgUnitStarting:
		return "start"
	}
	return ""
}
