package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/nginx-upgrade/nginx-upgrade/internal/lab/load"
	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
	"github.com/nginx-upgrade/nginx-upgrade/internal/wait"
)

// SlowSize is the size of the file served at /slow/big.bin, at SlowRate: a download that spans a
// whole swap and must arrive whole.
const (
	SlowSize = 8 << 20
	SlowRate = "1m"
)

// Nginx is a real nginx running in a private prefix on a loopback port, started the way Debian's
// unit starts it (daemon on, master_process on), from the binary at Dir/sbin/nginx.
type Nginx struct {
	Dir     string
	Binary  string // Dir/sbin/nginx: the path nginx re-executes on USR2
	PidFile string
	Port    int    // the TCP port on loopback (0 with Config.NoTCP)
	Socket  string // the unix socket nginx also listens on (Config.Unix), else ""
	UDPPort int    // the loopback UDP port of the stream server (Config.UDP), else 0
	SlowSHA string // sha256 of /slow/big.bin
	Workers int
	fg      *exec.Cmd
}

// Config shapes the instance.
type Config struct {
	Workers    int  // worker_processes; default 2
	Foreground bool // daemon off: nginx ignores USR2 then
	// Modules are loaded with load_module. Env ("NAME=value") is set for the master and kept by
	// an env directive each, so that a master started by USR2 has it too (nginx clears the rest).
	Modules []string
	Env     []string
	// Unix makes the site listen on the unix socket Dir/nginx.sock too; NoTCP drops its TCP
	// listener (with Unix: a unix-only nginx). UDP adds a stream server on a loopback UDP port
	// that answers each datagram with "pong\n" (ngx_stream_module must be in Modules).
	Unix, NoTCP, UDP bool
}

var confTmpl = template.Must(template.New("nginx.conf").Parse(`{{range .Modules}}load_module {{.}};
{{end}}{{range .EnvNames}}env {{.}};
{{end}}user root;
worker_processes {{.Workers}};
worker_rlimit_nofile 16384;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/logs/error.log notice;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path {{.Dir}}/tmp/body;
    proxy_temp_path {{.Dir}}/tmp/proxy;
    fastcgi_temp_path {{.Dir}}/tmp/fastcgi;
    uwsgi_temp_path {{.Dir}}/tmp/uwsgi;
    scgi_temp_path {{.Dir}}/tmp/scgi;
    server {
{{if .Port}}        listen 127.0.0.1:{{.Port}} backlog=4096;
{{end}}{{if .Socket}}        listen unix:{{.Socket}} backlog=4096;
{{end}}        root {{.Dir}}/html;
        location = /health { return 200 "ok\n"; }
        location /slow/ { limit_rate {{.SlowRate}}; }
    }
}
{{if .UDPPort}}stream {
    server {
        listen 127.0.0.1:{{.UDPPort}} udp;
        return "pong\n";
    }
}
{{end}}`))

// Setup creates a prefix in dir with build installed as sbin/nginx; it does not start nginx.
func Setup(dir, build string, cfg Config) (*Nginx, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.NoTCP && !cfg.Unix {
		return nil, errors.New("testbed: a site without TCP needs Unix")
	}
	n := &Nginx{Dir: dir, Binary: filepath.Join(dir, "sbin/nginx"), PidFile: filepath.Join(dir, "nginx.pid"), Workers: cfg.Workers}
	var err error
	if !cfg.NoTCP {
		if n.Port, err = freePort("tcp"); err != nil {
			return nil, err
		}
	}
	if cfg.UDP {
		if n.UDPPort, err = freePort("udp"); err != nil {
			return nil, err
		}
	}
	if cfg.Unix {
		n.Socket = filepath.Join(dir, "nginx.sock")
	}
	for _, d := range []string{"sbin", "logs", "tmp", "html/slow"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "html/index.html"), []byte("hello\n"), 0o644); err != nil {
		return nil, err
	}
	if n.SlowSHA, err = load.WriteFile(filepath.Join(dir, "html/slow/big.bin"), SlowSize); err != nil {
		return nil, err
	}
	f, err := os.Create(n.Conf())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var envNames []string
	for _, e := range cfg.Env {
		name, _, _ := strings.Cut(e, "=")
		envNames = append(envNames, name)
	}
	err = confTmpl.Execute(f, map[string]any{"Dir": dir, "Port": n.Port, "Socket": n.Socket, "UDPPort": n.UDPPort,
		"Workers": cfg.Workers, "SlowRate": SlowRate, "Modules": cfg.Modules, "EnvNames": envNames})
	if err != nil {
		return nil, err
	}
	return n, n.Install(build)
}

// Conf is the configuration file's path.
func (n *Nginx) Conf() string { return filepath.Join(n.Dir, "nginx.conf") }

// URL returns the address of path on this nginx: over TCP, or, for a unix-only nginx, over its
// socket as --health takes it.
func (n *Nginx) URL(path string) string {
	if n.Port == 0 {
		return n.UnixURL(path)
	}
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.Port, path)
}

// UnixURL returns the address of path over the unix socket, as --health takes it.
func (n *Nginx) UnixURL(path string) string { return "http://unix:" + n.Socket + ":" + path }

// Site is this nginx as a traffic target: over TCP, or over its socket when it has no TCP.
func (n *Nginx) Site() Site {
	if n.Port == 0 {
		return n.UnixSite()
	}
	return Site{Base: fmt.Sprintf("http://127.0.0.1:%d", n.Port), SlowSHA: n.SlowSHA}
}

// UnixSite is this nginx as a traffic target over its unix socket.
func (n *Nginx) UnixSite() Site {
	return Site{Base: "http://localhost", SlowSHA: n.SlowSHA, Socket: n.Socket}
}

// Install replaces sbin/nginx with build the way dpkg does: write a new file, rename it over the
// old one. A running master keeps the old file open (its /proc/PID/exe shows "(deleted)").
func (n *Nginx) Install(build string) error {
	tmp := n.Binary + ".dpkg-new"
	if err := copyFile(build, tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, n.Binary)
}

// Start starts nginx as Debian's nginx.service does and waits until all its workers serve.
func (n *Nginx) Start(ctx context.Context, cfg Config) error {
	args := []string{"-p", n.Dir, "-c", n.Conf(), "-e", filepath.Join(n.Dir, "logs/error.log"), "-g", "daemon on; master_process on;"}
	if cfg.Foreground {
		args[len(args)-1] = "daemon off; master_process on;"
		n.fg = exec.Command(n.Binary, args...)
		n.fg.Env = append(os.Environ(), cfg.Env...)
		if err := n.fg.Start(); err != nil {
			return fmt.Errorf("start nginx: %w", err)
		}
	} else {
		cmd := exec.CommandContext(ctx, n.Binary, args...)
		cmd.Env = append(os.Environ(), cfg.Env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("start nginx: %w: %s", err, out)
		}
	}
	return n.waitServing(ctx)
}

func (n *Nginx) waitServing(ctx context.Context) error {
	err := wait.Until(ctx, 10*time.Millisecond, func() (bool, error) {
		pid, err := nginx.ReadPidFile(n.PidFile)
		if err != nil {
			return false, nil
		}
		if serving, _, _ := nginx.Workers(pid); len(serving) != n.Workers {
			return false, nil
		}
		network, addr := "tcp", fmt.Sprintf("127.0.0.1:%d", n.Port)
		if n.Port == 0 {
			network, addr = "unix", n.Socket
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			return false, nil
		}
		return true, c.Close()
	})
	if err != nil {
		return fmt.Errorf("nginx in %s not serving: %w; error log:\n%s", n.Dir, err, n.ErrorLog())
	}
	return nil
}

// Master returns the pid the pid file names (0 if none).
func (n *Nginx) Master() int {
	pid, _ := nginx.ReadPidFile(n.PidFile)
	return pid
}

// ErrorLog returns nginx's error log.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "logs/error.log"))
	return string(b)
}

// Stop ends every nginx process of this prefix: QUIT, then after a bounded wait, KILL.
func (n *Nginx) Stop() { n.stop(n.masters) }

// StopNamed is Stop for an nginx that only ever ran the master its pid file names, as the bench's
// cold starts do: it reads no other process's /proc entry, where Stop reads every one (among the
// bench's 30,000 sleepers, a second each time).
func (n *Nginx) StopNamed() { n.stop(n.named) }

// stop ends the masters find finds, and their workers.
func (n *Nginx) stop(find func() []nginx.Proc) {
	masters := find()
	for _, m := range masters {
		syscall.Kill(m.Pid, syscall.SIGQUIT)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wait.Until(ctx, 10*time.Millisecond, func() (bool, error) {
		for _, m := range masters {
			if nginx.Alive(m) {
				return false, nil
			}
		}
		return true, nil
	})
	for _, m := range find() {
		kids, _ := nginx.Children(m.Pid)
		syscall.Kill(m.Pid, syscall.SIGKILL)
		for _, k := range kids {
			syscall.Kill(k.Pid, syscall.SIGKILL)
		}
	}
	if n.fg != nil {
		n.fg.Wait()
	}
}

// named is the master the pid file names, if it is this prefix's.
func (n *Nginx) named() []nginx.Proc {
	if p, err := nginx.ReadProc(n.Master()); err == nil && n.isMaster(p) {
		return []nginx.Proc{p}
	}
	return nil
}

// isMaster tells this prefix's masters by their title, which names the prefix.
func (n *Nginx) isMaster(p nginx.Proc) bool {
	return strings.HasPrefix(p.Title, nginx.MasterTitle) && strings.Contains(p.Title, " -p "+n.Dir+" ")
}

// masters finds this prefix's masters among all processes.
func (n *Nginx) masters() []nginx.Proc {
	entries, _ := os.ReadDir("/proc")
	var ms []nginx.Proc
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		p, err := nginx.ReadProc(pid)
		if err == nil && n.isMaster(p) {
			ms = append(ms, p)
		}
	}
	return ms
}

// freePort finds a port free on loopback for network ("tcp" or "udp").
func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
