package upgrade

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Status of a finished swap whose old master still drains: steady, and it says what drains.
func TestStatusOfADrainingOldMasterSaysWhatDrains(t *testing.T) {
	st := Status{State: OldDraining, PidFile: "/run/nginx.pid",
		Draining: &Draining{Pid: 10, Connections: 3, SwapAgeSeconds: 75}}
	if st.State.HalfDone() {
		t.Fatalf("%s is half-done", st.State)
	}
	var out bytes.Buffer
	st.Write(&out)
	for _, want := range []string{"state:    old-draining", "old master 10 draining 3 connections", "1m15s ago"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status does not say %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "half-done") {
		t.Errorf("status calls a finished swap half-done:\n%s", out.String())
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		State    string `json:"state"`
		Draining struct {
			Pid            int     `json:"pid"`
			Connections    int     `json:"connections"`
			SwapAgeSeconds float64 `json:"swap_age_seconds"`
		} `json:"draining"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.State != "old-draining" || got.Draining.Pid != 10 || got.Draining.Connections != 3 || got.Draining.SwapAgeSeconds != 75 {
		t.Fatalf("JSON %s: %+v, %v", b, got, err)
	}
}

func TestDrainingWithoutACountSaysWhy(t *testing.T) {
	d := Draining{Pid: 10, ConnectionsError: "permission denied"}
	if s := d.String(); !strings.Contains(s, "old master 10 draining") || !strings.Contains(s, "permission denied") {
		t.Fatalf("got %q", s)
	}
}
