#!/bin/sh
# The manual binary swap from nginx's docs (http://nginx.org/en/docs/control.html, "Upgrading
# Executable on the Fly"), as a script with fixed sleeps: USR2, sleep 1, WINCH, sleep 1, QUIT.
# It checks nothing, as such scripts do.
#
# usage: manual.sh PIDFILE
# Each signal is logged to $BENCH_MARKS as "SIGNAL UNIX_NANOSECONDS", taken just before kill runs.
set -u
pidfile=$1
mark() { echo "$1 $(date +%s%N)" >>"$BENCH_MARKS"; }

mark USR2;  kill -USR2 "$(cat "$pidfile")"
sleep 1
mark WINCH; kill -WINCH "$(cat "$pidfile.oldbin")"
sleep 1
mark QUIT;  kill -QUIT "$(cat "$pidfile.oldbin")"
