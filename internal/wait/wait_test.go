package wait

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUntilReturnsAsSoonAsDone(t *testing.T) {
	n := 0
	err := Until(context.Background(), time.Millisecond, func() (bool, error) { n++; return n == 3, nil })
	if err != nil || n != 3 {
		t.Fatalf("got %v after %d checks, want nil after 3", err, n)
	}
}

func TestUntilStopsOnTheCheckError(t *testing.T) {
	boom := errors.New("boom")
	if err := Until(context.Background(), time.Millisecond, func() (bool, error) { return false, boom }); err != boom {
		t.Fatalf("got %v, want boom", err)
	}
}

func TestUntilEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := Until(ctx, time.Millisecond, func() (bool, error) { return false, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
}
