// Package engine holds the end-to-end tests of the upgrade engine through the command itself: a
// real Debian nginx build in a private prefix on loopback, swapped by nginx-upgradectl under load
// (wrk, an open-loop stream, slow downloads), with fault builds, kills at every step and bad
// input. Compiled with -tags e2e (make test); as root, with the builds cached.
package engine
