# Sourced by the scripts of testdata/container: the Debian release they work on, where its caches
# are, and apt for it. The host's own release uses the host's apt as it is; any other release gets
# a private apt state under its cache (its own sources, lists, dpkg status and archives), so the
# host's sources are never changed.
#
#   release_init CODENAME   sets release, cache, rcache ($cache/$release) and apt_opts
#   apt_get ... / apt_cache ...   apt-get / apt-cache for $release
#   apt_lists                     makes sure $release's package lists are there
#   host_uri SUITE                the host's apt URI that serves SUITE
#
# Environment: NGINX_UPGRADE_CACHE (default /var/cache/nginx-upgrade).

# The releases the lab runs, oldest first (internal/lab/nspawn.Releases names the same).
releases=(bookworm trixie)

release_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

release_init() {
	release=${1:-bookworm}
	local r ok=
	for r in "${releases[@]}"; do [[ $r == "$release" ]] && ok=1; done
	[[ -n $ok ]] || {
		release_log "unknown release $release: pick one of ${releases[*]}"
		return 1
	}
	cache=${NGINX_UPGRADE_CACHE:-/var/cache/nginx-upgrade}
	rcache=$cache/$release
	apt_opts=()
	local host
	host=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	[[ $release == "$host" ]] && return
	local a=$rcache/apt
	apt_opts=(
		-o "Dir::Etc::SourceList=$a/sources.list" -o "Dir::Etc::SourceParts=$a/sources.list.d"
		-o "Dir::State=$a/state" -o "Dir::State::status=$a/state/status"
		-o "Dir::Cache=$a/cache" -o "APT::Sandbox::User=root"
	)
	[[ -r $a/sources.list ]] && return
	local main security
	main=$(host_uri "$host") || return 1
	security=$(host_uri "$host-security" 2>/dev/null) || security=${main%/debian}/debian-security
	mkdir -p "$a/sources.list.d" "$a/state/lists/partial" "$a/cache/archives/partial"
	touch "$a/state/status"
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	printf 'deb [signed-by=%s] %s %s main\n' \
		"$keyring" "$main" "$release" \
		"$keyring" "$main" "$release-updates" \
		"$keyring" "$security" "$release-security" >"$a/sources.list.tmp"
	mv "$a/sources.list.tmp" "$a/sources.list"
}

apt_get() { apt-get "${apt_opts[@]}" "$@"; }
apt_cache() { apt-cache "${apt_opts[@]}" "$@"; }

apt_lists() {
	local lists=/var/lib/apt/lists
	((${#apt_opts[@]})) && lists=$rcache/apt/state/lists
	compgen -G "$lists/*_Packages*" >/dev/null || apt_get update -q >&2
}

host_uri() {
	local suite=$1 uri=
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
	[[ -n $uri ]] || {
		release_log "no apt source for $suite in /etc/apt"
		return 1
	}
	printf '%s\n' "$uri"
}
