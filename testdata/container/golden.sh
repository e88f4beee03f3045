#!/usr/bin/env bash
# Builds the cached golden Debian tree that internal/nspawn boots with
# `systemd-nspawn --volatile=overlay --boot`, then caches the nginx .debs
# (nginx-debs.sh) and the library packages of the library-update tests (lib-debs.sh). Safe to run again: a complete tree whose stamp matches is
# reused, a half-built or outdated one is rebuilt.
#
# Host prerequisites, installed here on a fresh Debian 12 machine:
#   - debootstrap and systemd-container (systemd-nspawn, /usr/bin);
#   - apt package lists (apt-get update when they are missing);
#   - a name=systemd cgroup v1 hierarchy or a cgroup2 mount, which nspawn
#     needs even when the host's PID 1 is not systemd: mounted here when
#     /sys/fs/cgroup has neither.
#
# Environment: NGINX_UPGRADE_CACHE (default /var/cache/nginx-upgrade).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${NGINX_UPGRADE_CACHE:-/var/cache/nginx-upgrade}
suite=bookworm
golden=$cache/golden-$suite
# Inside the tree so that the rename publishes tree and stamp together.
stamp_name=.nginx-upgrade-golden

log() { printf 'golden.sh: %s\n' "$*" >&2; }

ensure_host() {
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
		apt-get update
	fi
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	[[ -x /usr/bin/systemd-nspawn ]] || missing+=(systemd-container)
	if ((${#missing[@]})); then
		DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
	fi
	ensure_cgroups
}

ensure_cgroups() {
	local fs
	fs=$(stat -fc %T /sys/fs/cgroup)
	[[ $fs == cgroup2fs ]] && return
	if [[ $fs == tmpfs ]]; then
		# Hybrid/legacy host: nspawn wants the name=systemd hierarchy.
		[[ -e /sys/fs/cgroup/systemd/cgroup.procs ]] && return
		mkdir -p /sys/fs/cgroup/systemd
		mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
		return
	fi
	# Nothing mounted at all: a unified hierarchy is the simplest that works.
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
}

# The first URI of the apt source that serves $suite, so the tree comes from
# the same mirror as the host's packages.
mirror() {
	local uri=
	if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
		uri=$(awk -v suite="$suite" '
			/^[[:space:]]*$/ { if (ok && u != "") { print u; exit } ok = 0; u = ""; next }
			tolower($1) == "uris:" { u = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
			END { if (ok && u != "") print u }
		' /etc/apt/sources.list.d/debian.sources | head -n1)
	fi
	if [[ -z $uri && -r /etc/apt/sources.list ]]; then
		# deb [options] URI suite components...
		uri=$(awk -v suite="$suite" '
			{ sub(/\[[^]]*\]/, "") }
			$1 == "deb" && $3 == suite { print $2; exit }
		' /etc/apt/sources.list)
	fi
	[[ -n $uri ]] || { log "no apt source for $suite in /etc/apt"; return 1; }
	printf '%s\n' "$uri"
}

# nginx's and nginx-common's run-time dependencies over every version apt
# knows, so `dpkg -i nginx-common_*.deb nginx_*.deb` works offline in the
# container. Alternatives resolve to their first member, as apt does.
nginx_deps() {
	apt-cache show nginx nginx-common |
		sed -n 's/^\(Pre-\)\{0,1\}Depends: //p' |
		tr ',' '\n' |
		sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g' |
		grep -v -x -e '' -e 'nginx-common' |
		sort -u
}

include_list() {
	{
		# python3-apt: Ansible's modules, and its apt module, on the fleet tests' hosts.
		# man-db: `man nginx-upgradectl` in the packaging tests (minbase has no man).
		printf '%s\n' systemd systemd-sysv dbus curl procps iproute2 \
			policy-rcd-declarative policy-rcd-declarative-allow-all python3 python3-apt man-db
		nginx_deps
	} | sort -u | paste -sd, -
}

# Tweaks for booting under nspawn. Their text is part of the stamp, so
# changing them rebuilds the tree.
configure_tree() {
	local dir=$1 unit
	mkdir -p "$dir/etc/systemd/journald.conf.d"
	printf '[Journal]\nStorage=volatile\n' >"$dir/etc/systemd/journald.conf.d/volatile.conf"
	# networkd: the container shares the host's network and must not manage
	# it. The timers: their jobs could take the dpkg lock in mid-test.
	for unit in systemd-networkd.service systemd-networkd.socket apt-daily.timer \
		apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer; do
		ln -sfn /dev/null "$dir/etc/systemd/system/$unit"
	done
	printf 'golden\n' >"$dir/etc/hostname"
	rm -f "$dir"/var/cache/apt/archives/*.deb
}

build() {
	local want=$1 tmp=$golden.tmp include
	include=$(sed -n 's/^include=//p' <<<"$want")
	rm -rf "$tmp"
	log "debootstrap $suite into $tmp (include=$include)"
	debootstrap --variant=minbase --include="$include" "$suite" "$tmp" "$(mirror)"
	configure_tree "$tmp"
	printf '%s\n' "$want" >"$tmp/$stamp_name"
	if [[ -e $golden ]]; then
		rm -rf "$golden.old"
		mv "$golden" "$golden.old"
	fi
	mv "$tmp" "$golden"
	rm -rf "$golden.old"
	log "golden tree ready: $golden"
}

main() {
	if ((EUID != 0)); then
		log "run as root: it installs packages, mounts cgroups and writes $cache"
		exit 1
	fi
	ensure_host
	mkdir -p "$cache"
	# One builder at a time; a second run waits and then finds the tree done.
	exec 9>"$cache/.golden.lock"
	flock 9
	local want
	want="include=$(include_list)
configure=$(declare -f configure_tree | sha256sum | cut -d' ' -f1)"
	if [[ -r $golden/$stamp_name && $(<"$golden/$stamp_name") == "$want" ]]; then
		log "golden tree up to date: $golden"
	else
		build "$want"
	fi
	bash "$here/nginx-debs.sh"
	# The library-update tests' packages: needrestart's closure is computed against the tree.
	bash "$here/lib-debs.sh"
}

main "$@"
