// Package systemd holds the end-to-end tests of nginx-upgradectl under a real systemd: Debian's
// nginx under its stock nginx.service (and hand-written shapes of it) in a booted container,
// swapped by `systemctl reload nginx-upgrade`, with MainPID and the journal checked over D-Bus.
// Compiled with -tags e2e (make test).
package systemd
