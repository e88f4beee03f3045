package audit

import (
	"os"
	"path"
	"strings"
)

// InvokedBy names what started this process, for INVOKED_BY: "dpkg:PACKAGE:SCRIPT" from a
// package's maintainer script or trigger, the systemd service it runs in, or "cli".
func InvokedBy() string {
	cgroup, _ := os.ReadFile("/proc/self/cgroup") // unreadable: not a service, as far as we know
	return invokedBy(os.Getenv, string(cgroup))
}

func invokedBy(getenv func(string) string, cgroup string) string {
	if pkg := getenv("DPKG_MAINTSCRIPT_PACKAGE"); pkg != "" {
		return "dpkg:" + pkg + ":" + getenv("DPKG_MAINTSCRIPT_NAME")
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
