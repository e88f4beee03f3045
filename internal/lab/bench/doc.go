// Package bench runs the benchmark: ways of swapping a live nginx's binary measured under the
// same load: this project's helper, the manual sequence from nginx's docs, Debian's init-script
// `upgrade` action, a restart, and Debian's package upgrade under systemd with and without this
// project's package. It runs real Debian builds on loopback through internal/lab/testbed (in a
// box for the package upgrades), under testbed's traffic, and samples the swap as it happens; what
// a run measured is a report.Run, which internal/lab/bench/report aggregates and presents.
// internal/lab/cmd/upgrade-bench prints and records the results.
package bench
