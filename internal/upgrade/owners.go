package upgrade

// Which package owns a stale file, for status to tell a person which update replaced a library
// nginx still runs. It is information only: no answer (no dpkg, a file no package owns, a slow
// database) is never an error.

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
)

// packageOwners returns the package owning each of paths that dpkg knows, as `dpkg-query -S` names it
// (e.g. "libssl3:amd64"), asking once for all of them within ctx. On a merged-/usr system the
// loader maps /usr/lib/x86_64-linux-gnu/libc.so.6 while dpkg lists /lib/x86_64-linux-gnu/libc.so.6,
// so a /usr path is also asked for without its /usr.
func packageOwners(ctx context.Context, paths []string) map[string]string {
	var ask []string
	for _, p := range paths {
		// dpkg-query -S takes glob patterns: a path with glob characters could match other files.
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "*?[\\\n") {
			continue
		}
		ask = append(ask, p)
		if rest, ok := strings.CutPrefix(p, "/usr/"); ok {
			ask = append(ask, "/"+rest)
		}
	}
	if len(ask) == 0 {
		return map[string]string{}
	}
	// It exits 1 when some path has no owner; what it printed for the others still holds.
	out, _ := exec.CommandContext(ctx, "dpkg-query", append([]string{"-S", "--"}, ask...)...).Output()
	found := parseDpkgSearch(out)
	owners := map[string]string{}
	for _, p := range paths {
		if o, ok := found[p]; ok {
			owners[p] = o
		} else if rest, ok := strings.CutPrefix(p, "/usr/"); ok && found["/"+rest] != "" {
			owners[p] = found["/"+rest]
		}
	}
	return owners
}

// parseDpkgSearch reads `dpkg-query -S` output, "package[, package…]: path" a line, into path →
// packages. Diversion lines ("diversion by … to: …") are not ownership and are skipped.
func parseDpkgSearch(out []byte) map[string]string {
	owners := map[string]string{}
	for _, line := range strings.Split(string(bytes.TrimSpace(out)), "\n") {
		pkgs, path, ok := strings.Cut(line, ": ")
		if !ok || strings.HasPrefix(pkgs, "diversion by ") || !strings.HasPrefix(path, "/") {
			continue
		}
		owners[path] = pkgs
	}
	return owners
}
