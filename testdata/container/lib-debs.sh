#!/usr/bin/env bash
# Caches the library packages the library-update tests install in the boxes, picked from what
# apt knows today (versions vanish from the archive: never hard-coded):
#   $NGINX_UPGRADE_CACHE/debs/libs/libssl3/<version>/libssl3_*.deb     two newest distinct
#   $NGINX_UPGRADE_CACHE/debs/libs/libssl3/versions                    OLDER, then NEWER
#   $NGINX_UPGRADE_CACHE/debs/libs/libexpat1/...                       the same: a library
#                                                                      nginx does not map
#   $NGINX_UPGRADE_CACHE/debs/libs/needrestart/*.deb   needrestart and what it needs beyond the
#                                                      golden tree (apt-get install offline)
# Run by golden.sh after the tree is built (the needrestart closure is computed against its
# dpkg status). Safe to run again: what is cached is kept.
set -euo pipefail

cache=${NGINX_UPGRADE_CACHE:-/var/cache/nginx-upgrade}
libs=$cache/debs/libs
golden=${GOLDEN:-$cache/golden-bookworm}

log() { printf 'lib-debs.sh: %s\n' "$*" >&2; }

if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	apt-get update -q
fi

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
	if ! (cd "$tmp" && apt-get download -q "$@" >&2); then
		apt-get update -q >&2
		(cd "$tmp" && apt-get download -q "$@" >&2) || {
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
	mapfile -t v < <(apt-cache madison "$pkg" | awk -F' *[|] *' '$3 ~ /Packages$/ && !seen[$2]++ { print $2 }' | head -n2)
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
	mapfile -t pkgs < <(apt-get -s -q -o Dir::State::status="$golden/var/lib/dpkg/status" \
		install --no-install-recommends needrestart 2>/dev/null |
		sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p')
	if ((${#pkgs[@]} == 0)); then
		log "apt-get -s found nothing to install for needrestart"
		return 1
	fi
	download "$libs/needrestart" "${pkgs[@]}"
}

two libssl3
two libexpat1
needrestart
