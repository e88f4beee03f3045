package upgrade

import (
	"context"
	"fmt"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// What preflight adds before anything is signalled: deadlines sized to the configuration, room in
// memory for a second generation, and a last look at the context.

// startPerTest scales the start deadline from the new binary's `-T` on the running configuration.
// The new master does what -T does (parse, open files, load certificates), then maps its shared
// zones and forks its workers, while the old generation serves under load beside it: measured
// with 100,000 server blocks, -T took 11 s and the new master was up after 14.3 s (1.3×). Three
// times leaves room for a host twice as busy at the swap as at the test.
const startPerTest = 3

// healthPerTest scales the deadline of one round of health checks: a request is matched against
// the server names and regex locations, so a big configuration answers slower, and the first
// requests of new workers compete with a master that has just parsed it all.
const healthPerTest = 1

// scaleDeadlines sizes the waits after USR2 from took, how long -T took: the options' values are
// the floor. The step line says which deadline was used and why.
func (r *run) scaleDeadlines(took time.Duration) {
	start, startWhy := scaled(r.opts.StartTimeout, startPerTest, took)
	health, healthWhy := scaled(r.opts.HealthTimeout, healthPerTest, took)
	r.opts.StartTimeout, r.opts.HealthTimeout = start, health
	r.rec.record(StepPreflight, "ok", nil, "nginx -T took %s: start and settle deadline %s (%s), health round deadline %s (%s)",
		took.Round(time.Millisecond), start, startWhy, health, healthWhy)
}

// scaled is max(floor, k × took), and why.
func scaled(floor time.Duration, k int, took time.Duration) (time.Duration, string) {
	if d := time.Duration(k) * took; d > floor {
		d = d.Round(time.Millisecond)
		return d, fmt.Sprintf("%d × the test, above the %s floor", k, floor)
	}
	return floor, fmt.Sprintf("the floor; %d × the test is less", k)
}

// resumptionNote is the one line preflight prints when the swap will end TLS session resumption
// for every returning client, or "": without ssl_session_ticket_key files each master makes its
// own ticket keys at start, and an ssl_session_cache, shared or not, lives in one master's memory,
// so the new master knows no ticket and no session of the old one's.
func resumptionNote(cfg nginx.Config) string {
	if !cfg.TLS || cfg.TicketKeyFiles {
		return ""
	}
	return "TLS session tickets and cached sessions do not survive the swap (no ssl_session_ticket_key): every returning client makes a full handshake once; " +
		"to keep tickets valid, set ssl_session_ticket_key to the same key files for the old and new build, with ssl_session_tickets on (the default) (ssl_session_cache shared:..., and so TLS 1.2 session IDs, is per master and is lost either way)"
}

// oldFootprint starts reading the old generation's footprint, beside the -T (see footprint).
func (r *run) oldFootprint() func() (uint64, error) {
	if r.opts.IgnoreMemory {
		return func() (uint64, error) { return 0, nil }
	}
	return beside(func() (uint64, error) {
		kids, err := nginx.Children(r.old.Pid)
		if err != nil {
			return 0, err
		}
		pids := []int{r.old.Pid}
		for _, k := range kids {
			pids = append(pids, k.Pid)
		}
		return r.opts.memory.footprint(pids)
	})
}

// checkMemory refuses a swap the memory available to nginx cannot hold: two generations run side
// by side until the old one quits. An operator who knows the new build needs less passes
// --ignore-memory.
func (r *run) checkMemory(footprint func() (uint64, error)) *Result {
	if r.opts.IgnoreMemory {
		r.rec.record(StepPreflight, "skipped", nil, "memory for a second generation not checked (--ignore-memory)")
		return nil
	}
	fp, err := footprint()
	var h headroom
	if err == nil {
		h, err = r.opts.memory.headroom(r.old.Pid, fp)
	}
	if err != nil {
		r.rec.record(StepPreflight, "skipped", err, "memory for a second generation not checked: %v", err)
		return nil
	}
	if !h.enough() {
		err := fmt.Errorf("not enough memory for a second generation of nginx beside master %d's: %s", r.old.Pid, h)
		return r.rec.finish(Refused, err, "refused, nothing signalled: %v; free memory or raise the limit, or pass --ignore-memory if you know the new build needs less", err)
	}
	r.rec.record(StepPreflight, "ok", nil, "memory for a second generation: %s", h)
	return nil
}

// interrupted ends a run whose context is done before it signals: an interrupt (SIGTERM, Ctrl-C)
// or the run's --timeout during preflight, where nothing has been signalled yet and nothing is to
// be rolled back. nil when ctx is live.
func (r *run) interrupted(ctx context.Context, before string) *Result {
	if ctx.Err() == nil {
		return nil
	}
	err := fmt.Errorf("interrupted before %s: %w", before, context.Cause(ctx))
	return r.rec.finish(Refused, err, "refused, nothing signalled: %v; old master %d serves as before", err, r.old.Pid)
}
