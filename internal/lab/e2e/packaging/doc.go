// Package packaging holds the end-to-end tests of the .deb and the .rpm built from nfpm.yaml:
// installed with dpkg in a booted Debian, then nginx upgraded the way apt does it, under load.
// Compiled with -tags e2e (make test).
package packaging
