#!/usr/bin/env bash
# nginx-debs.sh [RELEASE]: caches, for one Debian release (release.sh; default bookworm), the
# nginx and nginx-common .debs of the two newest distinct nginx versions its archive serves, for
# upgrade tests (OLD is installed, NEW replaces it), and NEW's libnginx-mod-stream, a dynamic
# module built for that very nginx (the archive's pool may no longer have OLD's):
#   $NGINX_UPGRADE_CACHE/<release>/debs/<version>/{nginx,nginx-common}_*.deb
#   $NGINX_UPGRADE_CACHE/<release>/debs/<NEW>/libnginx-mod-stream_*.deb
#   $NGINX_UPGRADE_CACHE/<release>/debs/versions   (two lines: OLD, then NEW)
# Safe to run again: packages already downloaded are skipped.
set -euo pipefail

# shellcheck source=release.sh
source "$(dirname "${BASH_SOURCE[0]}")/release.sh"
release_init "${1:-bookworm}"
debs=$rcache/debs

log() { printf 'nginx-debs.sh: %s\n' "$*" >&2; }

apt_lists

# apt lists versions newest first; keep the first two distinct binary ones.
mapfile -t newest < <(apt_cache madison nginx | awk -F' *[|] *' '$3 ~ /Packages$/ && !seen[$2]++ { print $2 }' | head -n2)
if ((${#newest[@]} != 2)); then
	log "need two distinct nginx versions from apt-cache madison nginx, got: ${newest[*]:-none}"
	exit 1
fi
new=${newest[0]} old=${newest[1]}
dpkg --compare-versions "$new" gt "$old" || {
	log "unexpected version order: $new is not newer than $old"
	exit 1
}

# fetch VERSION [PACKAGE...]: nginx, nginx-common and the packages named.
fetch() {
	local version=$1 dir=$debs/$1 missing=() p
	shift
	for p in nginx nginx-common "$@"; do
		compgen -G "$dir/${p}_*.deb" >/dev/null || missing+=("$p=$version")
	done
	if ((${#missing[@]} == 0)); then
		return
	fi
	local tmp
	tmp=$(mktemp -d "$debs/.download.XXXXXX")
	# apt drops privileges to _apt for downloads; a directory it owns keeps it
	# from falling back to root with a warning.
	chown _apt "$tmp"
	log "downloading ${missing[*]}"
	(cd "$tmp" && apt_get download -q "${missing[@]}")
	chown root "$tmp"
	chmod 755 "$tmp"
	if [[ -d $dir ]]; then
		# A cache from before the module was fetched: add it, keep the rest.
		mv "$tmp"/*.deb "$dir"/
		rmdir "$tmp"
	else
		mv "$tmp" "$dir"
	fi
}

mkdir -p "$debs"
fetch "$old"
fetch "$new" libnginx-mod-stream
printf '%s\n%s\n' "$old" "$new" >"$debs/versions.tmp"
mv "$debs/versions.tmp" "$debs/versions"
log "$release: OLD=$old NEW=$new in $debs"
