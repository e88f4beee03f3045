package nginx

import (
	"errors"
	"strconv"
	"time"
)

// nginxUnits are the units of nginx's time values (ngx_parse_time); "ms" before "m", so that
// the longer suffix wins.
var nginxUnits = []struct {
	suffix string
	d      time.Duration
}{
	{"y", 365 * 24 * time.Hour}, {"M", 30 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour}, {"h", time.Hour}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second},
}

// ParseTime reads a time value of a msec directive as nginx does (ngx_parse_time): "30s",
// "1m30s", "500ms"; a number without a unit, alone or last, is seconds ("30", "1m30").
func ParseTime(v string) (time.Duration, error) {
	if v == "" {
		return 0, errors.New("empty time value")
	}
	var total time.Duration
	rest := v
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, errors.New("not an nginx time value")
		}
		n, _ := strconv.Atoi(rest[:i])
		rest = rest[i:]
		if rest == "" {
			return total + time.Duration(n)*time.Second, nil
		}
		unit := -1
		for j, u := range nginxUnits {
			if len(rest) >= len(u.suffix) && rest[:len(u.suffix)] == u.suffix {
				unit = j
				break
			}
		}
		if unit < 0 {
			return 0, errors.New("not an nginx time value")
		}
		total += time.Duration(n) * nginxUnits[unit].d
		rest = rest[len(nginxUnits[unit].suffix):]
	}
	return total, nil
}
