package audit

import (
	"strings"
	"testing"
)

func TestInvokedBy(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		name   string
		getenv func(string) string
		cgroup string
		want   string
	}{
		{"a shell", env(), "0::/user.slice/user-0.slice/session-3.scope\n", "cli"},
		{"a terminal under the user manager", env(),
			"0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1.scope\n", "cli"},
		{"a service", env(), "0::/system.slice/nginx-upgrade.service\n", "nginx-upgrade.service"},
		{"a service on cgroup v1", env(), "4:memory:/system.slice/x.service\n1:name=systemd:/system.slice/nginx-upgrade.service\n", "nginx-upgrade.service"},
		{"a package trigger", env("DPKG_MAINTSCRIPT_PACKAGE", "nginx-core", "DPKG_MAINTSCRIPT_NAME", "postinst"),
			"0::/system.slice/apt-daily-upgrade.service\n", "dpkg:nginx-core:postinst"},
		{"no cgroup file", env(), "", "cli"},
		{"an orchestrator that names itself", env("NGINX_UPGRADE_INVOKED_BY", "ansible:rolling swap"),
			"0::/user.slice/user-0.slice/session-3.scope\n", "ansible:rolling swap"},
		{"a declared name is one printable line", env("NGINX_UPGRADE_INVOKED_BY", " ansible:a\nINVOKED_BY=x\x00 "), "", "ansible:aINVOKED_BY=x"},
		{"a declared name is short", env("NGINX_UPGRADE_INVOKED_BY", strings.Repeat("é", 80)), "", strings.Repeat("é", 50)},
		{"only blanks declare nothing", env("NGINX_UPGRADE_INVOKED_BY", " \t"), "0::/system.slice/x.service\n", "x.service"},
		{"dpkg wins over a declared name", env("NGINX_UPGRADE_INVOKED_BY", "ansible:x", "DPKG_MAINTSCRIPT_PACKAGE", "nginx-upgrade", "DPKG_MAINTSCRIPT_NAME", "postinst"),
			"", "dpkg:nginx-upgrade:postinst"},
	} {
		if got := invokedBy(c.getenv, c.cgroup); got != c.want {
			t.Errorf("%s: INVOKED_BY %q, want %q", c.name, got, c.want)
		}
	}
}
