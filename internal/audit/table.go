package audit

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// WriteTable writes runs as an aligned table, one line per run: when it started (in the times'
// own location), its id, the versions and master pids it went between, why it swapped, its
// outcome, how long it took and who ran it.
func WriteTable(w io.Writer, runs []Run) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tID\tVERSION\tMASTER\tREASON\tOUTCOME\tDURATION\tBY")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%.8s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Start.Format(time.DateTime), r.UpgradeID, versions(r), pid(r.OldMasterPID)+" → "+pid(r.NewMasterPID),
			cmp.Or(r.Reason, "-"), r.Outcome, duration(r.Duration), who(r))
	}
	tw.Flush()
}

// versions shows old → new. Debian builds of one upstream version answer the same `nginx -v`, so
// equal versions get their hashes, shortened, to show which build is which.
func versions(r Run) string {
	old, nu := cmp.Or(r.OldVersion, "?"), cmp.Or(r.NewVersion, "?")
	if r.OldVersion == r.NewVersion {
		old, nu = withSHA(old, r.OldSHA256), withSHA(nu, r.NewSHA256)
	}
	return old + " → " + nu
}

func withSHA(v, sha string) string {
	if sha == "" {
		return v
	}
	return fmt.Sprintf("%s (%.8s)", v, sha)
}

func pid(p int) string {
	if p == 0 {
		return "-"
	}
	return strconv.Itoa(p)
}

func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func who(r Run) string {
	by := cmp.Or(r.InvokedBy, "?")
	if r.InvokerUID < 0 {
		return by
	}
	return fmt.Sprintf("%s (uid %d)", by, r.InvokerUID)
}
