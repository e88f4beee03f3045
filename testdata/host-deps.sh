#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian 12 machine (as root), then caches the two nginx
# builds they swap between; `host-deps.sh demo` installs only what `make demo` needs (wrk, curl).
# Safe to run again: only what is missing is installed.
#   wrk        closed-loop load (Connection: close)
#   patchelf   gcc   build the fault-injection nginx whose workers die (testdata/faults)
#   curl       used by the demo and by people reading the README
#   rpm        the .rpm tests: rpm -qp, and installs into a scratch root
#   ansible    the fleet tests: ansible-playbook (ansible-core 2.14) and its community
#              collections, whose community.docker.nsenter connection reaches the test hosts
#   lintian    make lint-deb: Debian's checks of our .deb
#   openssl    the bench's TLS 1.2 visitors that resume by session ID (openssl s_client)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

pkgs=(wrk patchelf gcc libc6-dev curl dpkg-dev rpm ansible lintian openssl)
[[ ${1:-} == demo ]] && pkgs=(wrk curl)
need=()
for pkg in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if ((${#need[@]})); then
	echo "host-deps.sh: installing ${need[*]}" >&2
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then apt-get update -q; fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null ||
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"; }
fi
bash "$here/container/nginx-debs.sh"
