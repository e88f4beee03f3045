#!/bin/sh
# Runs the `upgrade` action of Debian's /etc/init.d/nginx against a test-bed nginx, faithfully:
# the upgrade_nginx function is cut out of the init script shipped in the nginx-common .deb and
# run unchanged by /bin/sh, with PID set to the test bed's pid file (the init script reads it from
# /etc/nginx/nginx.conf) and NAME=nginx. That function sends USR2 with start-stop-daemon, polls
# once a second (at most 10 times) until both nginx.pid.oldbin and nginx.pid are non-empty, then
# sends QUIT to the old master; there is no WINCH and no check of the new workers. Debian's
# nginx postinst runs it on every package upgrade: `invoke-rc.d nginx upgrade || ... restart`.
#
# usage: initd-upgrade.sh INIT_SCRIPT PIDFILE
# A start-stop-daemon wrapper first on PATH logs each signal to $BENCH_MARKS as
# "SIGNAL UNIX_NANOSECONDS", then execs the real one with the same arguments.
# No `set -u`: the init script runs without it, and its loop counter starts unset.
init=$1
PID=$2
NAME=nginx
fn=$(sed -n '/^upgrade_nginx() {$/,/^}$/p' "$init")
if [ -z "$fn" ]; then
	echo "no upgrade_nginx function in $init" >&2
	exit 100
fi
eval "$fn"
upgrade_nginx
