#!/bin/sh
# packaging/gen.sh DIR: the files the package carries that are made from others, written into
# DIR for nfpm.yaml (PKG_GEN); `make package` runs it.
#   nginx-upgradectl.8.gz   the man page, from packaging/man/nginx-upgradectl.8.md by go-md2man
#                           (pinned as a tool in go.mod), gzip -9n as Debian wants it
#   copyright               LICENSE in Debian's machine-readable copyright format
#   changelog.gz            packaging/changelog (Debian's format; a native package)
# Environment: GO, the go command (default: go on PATH).
set -eu
out=${1:?usage: gen.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mkdir -p "$out"

(cd "$root" && "${GO:-go}" tool go-md2man -in packaging/man/nginx-upgradectl.8.md -out "$out/nginx-upgradectl.8.tmp")
gzip -9n <"$out/nginx-upgradectl.8.tmp" >"$out/nginx-upgradectl.8.gz"
rm -f "$out/nginx-upgradectl.8.tmp"

gzip -9n <"$here/changelog" >"$out/changelog.gz"

# The license's text from its first blank line on, as a DEP-5 License paragraph: each line
# indented by one space, empty lines as " .".
{
	cat <<'HEAD'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: nginx-upgrade
Upstream-Contact: nginx-upgrade <nginx-upgrade@users.noreply.github.com>
Source: https://github.com/nginx-upgrade/nginx-upgrade

Files: *
Copyright: 2026 The nginx-upgrade authors
License: BSD-2-Clause

License: BSD-2-Clause
HEAD
	sed -e '1,/^$/d' -e 's/^$/./' -e 's/^/ /' "$root/LICENSE"
} >"$out/copyright"
