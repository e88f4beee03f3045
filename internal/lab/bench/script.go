package bench

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/bench/report"
)

//go:embed scripts/*
var scripts embed.FS

// Manual is the sequence from nginx's docs run by a script with fixed sleeps (scripts/manual.sh).
type Manual struct{}

func (Manual) Name() string { return "manual-script" }
func (Manual) Describe() string {
	return "nginx docs' manual sequence as a script: USR2, sleep 1, WINCH, sleep 1, QUIT"
}

func (Manual) Swap(ctx context.Context, env Env) (Outcome, error) {
	return runScript(ctx, env, "manual.sh", env.Nginx.PidFile)
}

// InitScript is the `upgrade` action of Debian's /etc/init.d/nginx (scripts/initd-upgrade.sh says
// how it is reproduced). Script is the init script as extracted from the nginx-common .deb.
type InitScript struct {
	Script string
}

func (InitScript) Name() string { return "debian-initd" }
func (InitScript) Describe() string {
	return "Debian's /etc/init.d/nginx upgrade: USR2, poll pid files every 1 s, QUIT"
}

func (m InitScript) Swap(ctx context.Context, env Env) (Outcome, error) {
	return runScript(ctx, env, "initd-upgrade.sh", m.Script, env.Nginx.PidFile)
}

// ExtractInitScript writes /etc/init.d/nginx from the nginx-common .deb in debDir to dir.
func ExtractInitScript(debDir, dir string) (string, error) {
	debs, _ := filepath.Glob(filepath.Join(debDir, "nginx-common_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("want one nginx-common_*.deb in %s, found %d", debDir, len(debs))
	}
	cmd := exec.Command("sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -xO ./etc/init.d/nginx`, "sh", debs[0])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	script, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("extract /etc/init.d/nginx from %s: %w: %s", debs[0], err, stderr.String())
	}
	if !bytes.Contains(script, []byte("\nupgrade_nginx() {\n")) {
		return "", fmt.Errorf("/etc/init.d/nginx from %s has no upgrade_nginx function", debs[0])
	}
	path := filepath.Join(dir, "init.d-nginx")
	if err := os.WriteFile(path, script, 0o755); err != nil {
		return "", fmt.Errorf("write init script: %w", err)
	}
	return path, nil
}

// runScript runs an embedded script with /bin/sh and reads the marks it logged.
func runScript(ctx context.Context, env Env, name string, args ...string) (Outcome, error) {
	dir, err := os.MkdirTemp("", "bench-script")
	if err != nil {
		return Outcome{}, fmt.Errorf("script dir: %w", err)
	}
	defer os.RemoveAll(dir)
	for _, f := range []string{name, "start-stop-daemon"} {
		b, err := scripts.ReadFile("scripts/" + f)
		if err != nil {
			return Outcome{}, fmt.Errorf("embedded script %s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o755); err != nil {
			return Outcome{}, fmt.Errorf("write script %s: %w", f, err)
		}
	}
	marks := filepath.Join(dir, "marks")
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{filepath.Join(dir, name)}, args...)...)
	cmd.Env = append(os.Environ(), "BENCH_MARKS="+marks,
		"PATH="+dir+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	usage, runErr := runMeasured(cmd)
	var o Outcome
	if cmd.ProcessState != nil {
		o.ExitCode = cmd.ProcessState.ExitCode()
		o.Usage = usage
	}
	o.Detail = fmt.Sprintf("exit %d %s", o.ExitCode, strings.TrimSpace(out.String()))
	b, err := os.ReadFile(marks)
	if err != nil {
		return o, fmt.Errorf("%s logged no signal (%v): %s", name, runErr, o.Detail)
	}
	if o.Marks, err = ParseMarks(b, env.Clock); err != nil {
		return o, fmt.Errorf("%s: %w", name, err)
	}
	if runErr != nil {
		return o, fmt.Errorf("%s: %w: %s", name, runErr, o.Detail)
	}
	return o, nil
}

// ParseMarks reads "LABEL UNIX_NANOSECONDS" lines and places them on the load's timeline.
func ParseMarks(b []byte, clock func(time.Time) time.Duration) ([]report.Mark, error) {
	var marks []report.Mark
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("bad mark line %q", sc.Text())
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad mark time in %q: %w", sc.Text(), err)
		}
		marks = append(marks, report.Mark{Label: f[0], At: clock(time.Unix(0, ns))})
	}
	return marks, sc.Err()
}
