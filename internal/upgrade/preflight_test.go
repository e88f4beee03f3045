package upgrade

import (
	"strings"
	"testing"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

func TestResumptionNoteOnlyForTLSWithoutTicketKeyFiles(t *testing.T) {
	for _, c := range []struct {
		cfg  nginx.Config
		note bool
	}{
		{nginx.Config{}, false},
		{nginx.Config{TLS: true}, true},
		{nginx.Config{TLS: true, TicketKeyFiles: true}, false},
	} {
		got := resumptionNote(c.cfg)
		if (got != "") != c.note || strings.Contains(got, "\n") {
			t.Errorf("resumptionNote(%+v) = %q; want a line: %v", c.cfg, got, c.note)
			continue
		}
		if c.note && (!strings.Contains(got, "ssl_session_ticket_key") || !strings.Contains(got, "ssl_session_tickets on") || !strings.Contains(got, "ssl_session_cache")) {
			t.Errorf("resumptionNote(%+v) = %q; want it to name what to set (key files, tickets on) and the cache it cannot keep", c.cfg, got)
		}
	}
}
