// Package wait polls for a condition with a deadline. Waiting this way, rather than sleeping a
// fixed time and hoping, returns as soon as the condition holds and says what was last seen
// when it does not.
package wait

import (
	"context"
	"time"
)

// Until calls check every interval until it reports done or fails, or ctx ends (then it returns
// ctx's error).
func Until(ctx context.Context, every time.Duration, check func() (done bool, err error)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
