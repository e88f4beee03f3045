package audit

import (
	"fmt"
	"sync"
	"time"
)

// guarded keeps a sink's troubles away from the run it records: each call gets a time limit, the
// first failure is reported and later ones are not, and a sink that hung once is given up on
// rather than left to pile blocked writes behind the one that never returned.
type guarded struct {
	sink    Sink
	timeout time.Duration

	mu       sync.Mutex
	reported bool
	hung     bool
}

func guard(s Sink, timeout time.Duration) *guarded {
	return &guarded{sink: s, timeout: timeout}
}

func (g *guarded) Write(r Record) error { return g.call(func() error { return g.sink.Write(r) }) }
func (g *guarded) Where() string        { return g.sink.Where() }
func (g *guarded) Close() error         { return g.call(g.sink.Close) }

func (g *guarded) call(f func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hung {
		return nil
	}
	done := make(chan error, 1) // buffered: a call that returns after its timeout must not leak
	go func() { done <- f() }()
	t := time.NewTimer(g.timeout)
	defer t.Stop()
	var err error
	select {
	case err = <-done:
	case <-t.C:
		g.hung = true
		err = fmt.Errorf("%s took no record for %s; no more records go there in this run", g.sink.Where(), g.timeout)
	}
	if err == nil || g.reported {
		return nil
	}
	g.reported = true
	return fmt.Errorf("audit trail incomplete: %w", err)
}
