// Package systemdspec is a specification of systemd, not of this project: tests that establish,
// on a real systemd in a booted container, the platform facts the swap relies on (what a plain
// USR2/WINCH/QUIT does to nginx.service with and without PIDFile=, what MAINPID= needs to be
// accepted, what `daemon off;` does). If a systemd release changes one, this fails first.
// Compiled with -tags e2e (make test).
package systemdspec
