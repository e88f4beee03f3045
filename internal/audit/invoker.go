package audit

import (
	"os"
	"path"
	"strings"
	"unicode/utf8"
)

// InvokedBy names what started this process, for INVOKED_BY: "dpkg:PACKAGE:SCRIPT" from a
// package's maintainer script or trigger, what a caller declared in $NGINX_UPGRADE_INVOKED_BY
// (an orchestrator such as the Ansible role: "ansible:PLAY"), the systemd service it runs in, or
// "cli".
func InvokedBy() string {
	cgroup, _ := os.ReadFile("/proc/self/cgroup") // unreadable: not a service, as far as we know
	return invokedBy(os.Getenv, string(cgroup))
}

func invokedBy(getenv func(string) string, cgroup string) string {
	if pkg := getenv("DPKG_MAINTSCRIPT_PACKAGE"); pkg != "" {
		return "dpkg:" + pkg + ":" + getenv("DPKG_MAINTSCRIPT_NAME")
	}
	// Declared, not proven: whoever runs the helper could write anything, so it is kept to one
	// short printable line; INVOKER_UID says who actually ran it.
	if by := declared(getenv(InvokedByEnv)); by != "" {
		return by
	}
	// systemd puts a service's processes in a cgroup named after it. Only the last path element
	// counts: a shell in a terminal lives in a scope below user@UID.service, and is the cli.
	for line := range strings.Lines(cgroup) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) < 3 || (parts[0] != "0" && parts[1] != "name=systemd") {
			continue
		}
		if unit := path.Base(parts[2]); strings.HasSuffix(unit, ".service") {
			return unit
		}
	}
	return "cli"
}

// InvokedByEnv is where a caller names itself for INVOKED_BY.
const InvokedByEnv = "NGINX_UPGRADE_INVOKED_BY"

func declared(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	for len(s) > 100 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
