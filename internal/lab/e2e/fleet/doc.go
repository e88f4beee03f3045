// Package fleet holds the end-to-end tests of the Ansible role and playbook in
// packaging/ansible: three booted Debian hosts with networks of their own (two Debian 12, the
// third Debian 13, each offered its own release's builds), each under its own load, swapped one
// batch at a time by the real ansible-playbook. Compiled with -tags e2e (make
// test).
package fleet
