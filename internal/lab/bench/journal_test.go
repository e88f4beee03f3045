package bench

import (
	"testing"
	"time"
)

// Records as journalctl -o json printed them in a box (trimmed to the fields that matter): the
// helper's USR2 step, systemd starting a restart of nginx.service, nginx's own output, and a
// field journald gives as an array of bytes (not valid UTF-8).
const journalSample = `{"SYSLOG_IDENTIFIER":"nginx-upgradectl","STEP":"usr2","RESULT":"sent","UNIT":"nginx.service","__REALTIME_TIMESTAMP":"1795582402775154","MESSAGE":"sent USR2 to old master 171"}
{"SYSLOG_IDENTIFIER":"nginx-upgradectl","STEP":"usr2","RESULT":"ok","UNIT":"nginx.service","__REALTIME_TIMESTAMP":"1795582402800000"}
{"_PID":"1","UNIT":"nginx.service","MESSAGE_ID":"de5b426a63be47a7b6ac3eaac82e2f6f","JOB_TYPE":"stop","_SOURCE_REALTIME_TIMESTAMP":"1795582402002197","__REALTIME_TIMESTAMP":"1795582402002340"}

{"_PID":"1","UNIT":"nginx.service","MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","_SOURCE_REALTIME_TIMESTAMP":"1795582402778070","__REALTIME_TIMESTAMP":"1795582402778172"}
{"_PID":"1","UNIT":"nginx.service","MESSAGE_ID":"39f53479d3a045ac8e11786248231fbf","_SOURCE_REALTIME_TIMESTAMP":"1795582402794358","__REALTIME_TIMESTAMP":"1795582402797696"}
{"_PID":"171","UNIT":"nginx.service","MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","__REALTIME_TIMESTAMP":"1795582402900000","MESSAGE":[110,255]}
`

func TestParseJournalAndMarks(t *testing.T) {
	entries, err := parseJournal(journalSample)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 6 {
		t.Fatalf("%d entries, want 6 (the empty line skipped)", len(entries))
	}
	type got struct {
		label string
		at    time.Time
	}
	var marks []got
	for _, e := range entries {
		if l := journalMark(e.Fields); l != "" {
			marks = append(marks, got{l, e.At})
		}
	}
	want := []got{
		{"USR2", time.UnixMicro(1795582402775154)}, // journald's reception: the helper sends no time
		{"stop", time.UnixMicro(1795582402002197)}, // systemd's own time, not journald's
		{"start", time.UnixMicro(1795582402778070)},
	}
	if len(marks) != len(want) {
		t.Fatalf("marks %v, want %v", marks, want)
	}
	for i := range want {
		if marks[i].label != want[i].label || !marks[i].at.Equal(want[i].at) {
			t.Errorf("mark %d = %v, want %v", i, marks[i], want[i])
		}
	}
	if _, ok := entries[5].Fields["MESSAGE"]; ok {
		t.Errorf("a binary MESSAGE was kept as a string")
	}
}

func TestParseJournalRejects(t *testing.T) {
	for _, in := range []string{
		"not json\n",
		`{"MESSAGE":"no time"}` + "\n",
		`{"__REALTIME_TIMESTAMP":"soon"}` + "\n",
	} {
		if _, err := parseJournal(in); err == nil {
			t.Errorf("parseJournal(%q) took it", in)
		}
	}
}

func TestIsHelperUpgrade(t *testing.T) {
	for in, want := range map[string]bool{
		"/usr/sbin/nginx-upgradectl\x00upgrade\x00--unit\x00nginx.service\x00": true,
		"nginx-upgradectl\x00upgrade\x00":                                      true,
		"/usr/sbin/nginx-upgradectl\x00status\x00":                             false,
		"/bin/sh\x00/usr/share/nginx-upgrade/hook\x00swap\x00trigger\x00":      false,
		"/usr/sbin/nginx-upgradectl":                                           false,
		"":                                                                     false,
	} {
		if got := isHelperUpgrade([]byte(in)); got != want {
			t.Errorf("isHelperUpgrade(%q) = %v, want %v", in, got, want)
		}
	}
}
