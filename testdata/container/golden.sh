#!/usr/bin/env bash
# Builds the cached golden Debian trees that internal/lab/nspawn boots with
# `systemd-nspawn --volatile=overlay --boot`, one per release the lab runs (release.sh; all of them
# by default, or those named: `golden.sh trixie`), then caches each release's nginx .debs
# (nginx-debs.sh) and the library packages of the library-update tests (lib-debs.sh). Safe to run
# again: a complete tree whose stamp matches is reused, a half-built or outdated one is rebuilt.
#
#   $NGINX_UPGRADE_CACHE/<release>/golden
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
# shellcheck source=release.sh
source "$here/release.sh"
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

# nginx's and nginx-common's run-time dependencies over every version apt
# knows, so `dpkg -i nginx-common_*.deb nginx_*.deb` works offline in the
# container. Alternatives resolve to their first member, as apt does.
nginx_deps() {
	apt_cache show nginx nginx-common |
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
		# debootstrap does not resolve virtual packages: on Debian 13 policy-rcd-declarative's
		# libre-engine-re2-perl depends on libre2-11-absl20240722, which libre2-11 provides.
		[[ $release == trixie ]] && printf '%s\n' libre2-11
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
	log "debootstrap $release into $tmp (include=$include)"
	# From the mirror the host's own packages come from.
	debootstrap --variant=minbase --include="$include" "$release" "$tmp" \
		"$(host_uri "$(. /etc/os-release && printf '%s' "$VERSION_CODENAME")")"
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
		log "run as root: it installs packages, mounts cgroups and writes ${NGINX_UPGRADE_CACHE:-/var/cache/nginx-upgrade}"
		exit 1
	fi
	ensure_host
	local r
	for r in "${@:-${releases[@]}}"; do
		golden_release "$r"
	done
}

golden_release() {
	release_init "$1"
	golden=$rcache/golden
	mkdir -p "$rcache"
	apt_lists
	# One builder at a time; a second run waits and then finds the tree done.
	exec 9>"$rcache/.golden.lock"
	flock 9
	local want
	want="include=$(include_list)
configure=$(declare -f configure_tree | sha256sum | cut -d' ' -f1)"
	if [[ -r $golden/$stamp_name && $(<"$golden/$stamp_name") == "$want" ]]; then
		log "golden tree up to date: $golden"
	else
		build "$want"
	fi
	exec 9>&-
	bash "$here/nginx-debs.sh" "$release"
	# The library-update tests' packages: needrestart's closure is computed against the tree.
	bash "$here/lib-debs.sh" "$release"
}

main "$@"
