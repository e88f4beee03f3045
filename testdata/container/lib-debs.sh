#!/usr/bin/env bash
# lib-debs.sh [RELEASE]: caches, for one Debian release (release.sh; default bookworm), the library
# packages the library-update tests install in its boxes, picked from what its archive serves
# today (versions vanish from the archive: never hard-coded). OpenSSL's package is libssl3 on
# Debian 12 and libssl3t64 on 13; the tests read the packages' names from the files ssl and
# unmapped.
#   $NGINX_UPGRADE_CACHE/<release>/debs/libs/ssl                             the OpenSSL package's name
#   $NGINX_UPGRADE_CACHE/<release>/debs/libs/unmapped                        a library nginx does not map
#   $NGINX_UPGRADE_CACHE/<release>/debs/libs/<ssl>/<version>/<ssl>_*.deb     two newest distinct
#   $NGINX_UPGRADE_CACHE/<release>/debs/libs/<ssl>/versions                  OLDER, then NEWER
#   $NGINX_UPGRADE_CACHE/<release>/debs/libs/<unmapped>/...                  the same
#   $NGINX_UPGRADE_CACHE/<release>/debs/libs/needrestart/*.deb   needrestart and what it needs beyond
#                                                           the golden tree (installed offline)
# Run by golden.sh after the tree is built (the needrestart closure is computed against its
# dpkg status). Safe to run again: what is cached is kept.
set -euo pipefail

# shellcheck source=release.sh
source "$(dirname "${BASH_SOURCE[0]}")/release.sh"
release_init "${1:-bookworm}"
libs=$rcache/debs/libs
golden=$rcache/golden

log() { printf 'lib-debs.sh: %s\n' "$*" >&2; }

apt_lists

# download DIR PKG=VERSION...: into DIR, atomically; apt's lists refreshed once on a miss (a
# version superseded on the mirror since the lists were fetched).
download() {
	local dir=$1 tmp
	shift
	mkdir -p "$(dirname "$dir")"
	tmp=$(mktemp -d "$(dirname "$dir")/.download.XXXXXX")
	# apt drops privileges to _apt for downloads: a directory it owns.
	chown _apt "$tmp"
	log "downloading $*"
	if ! (cd "$tmp" && apt_get download -q "$@" >&2); then
		apt_get update -q >&2
		(cd "$tmp" && apt_get download -q "$@" >&2) || {
			rm -rf "$tmp"
			return 1
		}
	fi
	chown root "$tmp"
	chmod 755 "$tmp"
	rm -rf "$dir"
	mv "$tmp" "$dir"
}

# two PKG: the two newest distinct versions of PKG (apt-cache madison, newest first), each in
# its own directory, and the versions file (OLDER, then NEWER).
two() {
	local pkg=$1 newer older
	mapfile -t v < <(apt_cache madison "$pkg" | awk -F' *[|] *' '$3 ~ /Packages$/ && !seen[$2]++ { print $2 }' | head -n2)
	if ((${#v[@]} != 2)); then
		log "need two distinct $pkg versions from apt-cache madison $pkg, got: ${v[*]:-none}"
		return 1
	fi
	newer=${v[0]} older=${v[1]}
	dpkg --compare-versions "$newer" gt "$older" || {
		log "unexpected version order: $newer is not newer than $older"
		return 1
	}
	local ver
	for ver in "$older" "$newer"; do
		compgen -G "$libs/$pkg/$ver/${pkg}_*.deb" >/dev/null || download "$libs/$pkg/$ver" "$pkg=$ver"
	done
	printf '%s\n%s\n' "$older" "$newer" >"$libs/$pkg/versions.tmp"
	mv "$libs/$pkg/versions.tmp" "$libs/$pkg/versions"
	log "$pkg: OLDER=$older NEWER=$newer"
}

# needrestart with what the golden tree lacks of its dependencies (no recommends).
needrestart() {
	if compgen -G "$libs/needrestart/needrestart_*.deb" >/dev/null; then
		return
	fi
	[[ -r $golden/var/lib/dpkg/status ]] || {
		log "no golden tree at $golden: run testdata/container/golden.sh"
		return 1
	}
	local pkgs
	mapfile -t pkgs < <(apt_get -s -q -o Dir::State::status="$golden/var/lib/dpkg/status" \
		install --no-install-recommends needrestart 2>/dev/null |
		sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p')
	if ((${#pkgs[@]} == 0)); then
		log "apt-get -s found nothing to install for needrestart"
		return 1
	fi
	download "$libs/needrestart" "${pkgs[@]}"
}

# The one OpenSSL library package of the release.
ssl=$(apt_cache pkgnames libssl3 | grep -x -e libssl3 -e libssl3t64 | sort | tail -n1)
[[ -n $ssl ]] || {
	log "$release: no libssl3 or libssl3t64 package"
	exit 1
}
mkdir -p "$libs"
printf '%s\n' "$ssl" >"$libs/ssl"
two "$ssl"
# A library nginx does not map, with two versions: the first of these that has them (Debian 12's
# libexpat1 has; Debian 13's has one version today).
unmapped=
for pkg in libexpat1 libnghttp2-14 libzstd1; do
	if (($(apt_cache madison "$pkg" | awk -F' *[|] *' '$3 ~ /Packages$/ && !seen[$2]++' | wc -l) >= 2)); then
		unmapped=$pkg
		break
	fi
done
[[ -n $unmapped ]] || {
	log "$release: no library nginx does not map has two versions"
	exit 1
}
printf '%s\n' "$unmapped" >"$libs/unmapped"
two "$unmapped"
needrestart
