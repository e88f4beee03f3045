package upgrade

// Fuzz target for the status JSON (`nginx-upgradectl status --json` and what reads it back).
// Seed corpus in testdata/fuzz/FuzzStatusJSON/; testdata/fuzz.sh at the repository root runs it.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzStatusJSON: a Status survives encoding/json unchanged. Two ways in:
//
//   - A Status built from fuzzed fields (paths, versions, errors and states are outside input:
//     pid file paths, readlink of /proc/PID/exe, `nginx -v`, error texts) is marshalled and
//     unmarshalled back; the result must equal it. Marshal may refuse a Status it cannot encode
//     exactly, but must not encode it lossily.
//   - Arbitrary bytes that unmarshal into a Status are marshalled and unmarshalled again; the two
//     decoded values must be equal (decoding is the parser of the JSON others hand us).
//
// ms packs the masters: every 13 bytes are one master (pid int32, inode uint32, flags, workers and
// stopping counts, then worker pids), fields of the first master are the strings given; nil and
// empty slices are both produced, as ReadStatus produces both.
func FuzzStatusJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, state, pidFile, problem, exe, version, diskPath, diskVersion, diskErr string,
		ms []byte, diskInode uint64, onDisk, pending bool, raw []byte) {
		// JSON strings are UTF-8: a path that is not comes out with U+FFFD in place of its bytes.
		// That loss is documented (README, status); the round trip is asserted for the rest.
		for _, s := range []string{state, pidFile, problem, exe, version, diskPath, diskVersion, diskErr} {
			if !utf8.ValidString(s) {
				t.Skip("not UTF-8")
			}
		}
		st := Status{State: State(state), PidFile: pidFile, Problem: problem, UpgradePending: pending}
		roles := []string{"old", "current", exe}
		for i := 0; len(ms) >= 13 && i < 3; i++ {
			m := MasterStatus{
				Role:    roles[i],
				Pid:     int(int32(binary.LittleEndian.Uint32(ms))),
				Inode:   uint64(binary.LittleEndian.Uint32(ms[4:])) << (ms[8] & 0x20),
				Deleted: ms[8]&1 != 0,
				Exe:     exe,
				Version: version,
			}
			if ms[8]&2 != 0 {
				m.Workers, m.Stopping = []int{}, []int{}
			}
			nw, ns := int(ms[9]%4), int(ms[10]%3)
			for j := 0; j < nw; j++ {
				m.Workers = append(m.Workers, int(ms[11])<<8|j)
			}
			for j := 0; j < ns; j++ {
				m.Stopping = append(m.Stopping, -int(ms[12])-j)
			}
			if ms[8]&4 != 0 {
				m.Exe += "\u2028</script>&" // characters encoding/json escapes
			}
			st.Masters = append(st.Masters, m)
			ms = ms[13:]
		}
		if onDisk {
			st.OnDisk = &DiskBinary{Path: diskPath, Inode: diskInode, Version: diskVersion, Error: diskErr}
		}
		b, err := json.Marshal(st)
		if err == nil {
			var back Status
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("Unmarshal of Marshal(%s) = %s: %v", showStatus(st), b, err)
			}
			if !reflect.DeepEqual(back, st) {
				t.Fatalf("status JSON is lossy:\n  in   %s\n  json %s\n  out  %s", showStatus(st), b, showStatus(back))
			}
		}

		// Arbitrary JSON.
		var s1 Status
		if json.Unmarshal(raw, &s1) != nil {
			return
		}
		b1, err := json.Marshal(s1)
		if err != nil {
			t.Fatalf("Marshal of decoded %s: %v", showStatus(s1), err)
		}
		var s2 Status
		if err := json.Unmarshal(b1, &s2); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b1, err)
		}
		if !reflect.DeepEqual(s1, s2) {
			t.Fatalf("decoded status does not survive a round trip:\n  raw  %q\n  1st  %s\n  json %s\n  2nd  %s", raw, showStatus(s1), b1, showStatus(s2))
		}
	})
}

// show prints a Status with its strings quoted and OnDisk followed.
func showStatus(s Status) string {
	d := "nil"
	if s.OnDisk != nil {
		d = fmt.Sprintf("&%#v", *s.OnDisk)
	}
	return fmt.Sprintf("{State:%q PidFile:%q Problem:%q Masters:%#v OnDisk:%s UpgradePending:%v}",
		s.State, s.PidFile, s.Problem, s.Masters, d, s.UpgradePending)
}
