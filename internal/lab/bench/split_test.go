package bench

import (
	"slices"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		count, parts int
		want         []int
	}{
		{30000, 2, []int{15000, 15000}},
		{50000, 4, []int{12500, 12500, 12500, 12500}},
		{10, 3, []int{4, 3, 3}},
		{1, 2, []int{1, 0}},
	} {
		if got := Split(c.count, c.parts); !slices.Equal(got, c.want) {
			t.Errorf("Split(%d, %d) = %v; want %v", c.count, c.parts, got, c.want)
		}
	}
}
