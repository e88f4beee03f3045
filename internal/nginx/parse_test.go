package nginx

import (
	"io"
	"strings"
	"syscall"
	"testing"
)

func TestParseStatCountsFieldsFromTheLastParenthesis(t *testing.T) {
	// A command name may contain spaces and parentheses; the fields after it are what count.
	stat := "4242 (nginx) (x) S 1 4242 4242 0 -1 4194624 81 0 0 0 0 0 0 0 20 0 1 0 123456 14000000 300"
	p, err := ParseStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid != 4242 || p.PPid != 1 || p.State != 'S' || p.StartTime != 123456 {
		t.Fatalf("got %+v", p)
	}
}

func TestParseStatSumsCPUTimes(t *testing.T) {
	// utime 7, stime 3, cutime 20, cstime 5 (fields 14 to 17); a name with ") " in it.
	stat := "8239 (odd) name) R 8236 8236 17425 0 -1 4194304 99 0 0 0 7 3 20 5 20 0 1 0 1088590 3133440 407"
	p, err := ParseStat([]byte(stat))
	if err != nil || p.CPUTicks != 35 {
		t.Errorf("ParseStat = %+v, %v; want CPUTicks 35", p, err)
	}
	bad := "8239 (cat) R 8236 8236 17425 0 -1 4194304 99 0 0 0 x 3 20 5 20 0 1 0 1088590 3133440 407"
	if _, err := ParseStat([]byte(bad)); err == nil {
		t.Errorf("ParseStat(%q) took a bad utime", bad)
	}
}

func TestParseStatRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "4242", "4242 (nginx S 1", "x (nginx) S 1 2 3", "4242 (nginx) S one 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"} {
		if _, err := ParseStat([]byte(s)); err == nil {
			t.Errorf("ParseStat(%q) accepted", s)
		}
	}
}

func TestParseCmdlineDropsNginxTitlePadding(t *testing.T) {
	got := ParseCmdline([]byte("nginx: master process /usr/sbin/nginx -g daemon on;\x00\x00\x00   "))
	if got != "nginx: master process /usr/sbin/nginx -g daemon on;" {
		t.Fatalf("got %q", got)
	}
}

func TestParsePidAcceptsOnlyAPidAndANewline(t *testing.T) {
	if pid, err := ParsePid([]byte("1234\n")); err != nil || pid != 1234 {
		t.Fatalf("got %d, %v", pid, err)
	}
	for _, s := range []string{"", "\n", "0\n", "-5\n", "12 34\n", "1234\n\n", "abc", " 1234", "99999999999", "1234\r\n"} {
		if _, err := ParsePid([]byte(s)); err == nil {
			t.Errorf("ParsePid(%q) accepted", s)
		}
	}
}

func TestParseTitleRecoversHowTheMasterWasStarted(t *testing.T) {
	cases := []struct {
		title string
		want  StartArgs
	}{
		{"nginx: master process /usr/sbin/nginx -g daemon on; master_process on;",
			StartArgs{Binary: "/usr/sbin/nginx", Globals: "daemon on; master_process on;"}},
		{"nginx: master process /opt/n/sbin/nginx -p /opt/n -c /opt/n/nginx.conf -e /opt/n/err.log -g daemon on; master_process on;",
			StartArgs{Binary: "/opt/n/sbin/nginx", Prefix: "/opt/n", Conf: "/opt/n/nginx.conf", ErrorLog: "/opt/n/err.log", Globals: "daemon on; master_process on;"}},
		{"nginx: master process /usr/sbin/nginx -g daemon on; -c /etc/nginx/nginx.conf",
			StartArgs{Binary: "/usr/sbin/nginx", Globals: "daemon on;", Conf: "/etc/nginx/nginx.conf"}},
		{"nginx: master process /usr/sbin/nginx -c/etc/nginx/x.conf -q",
			StartArgs{Binary: "/usr/sbin/nginx", Conf: "/etc/nginx/x.conf"}},
		{"nginx: master process /usr/sbin/nginx", StartArgs{Binary: "/usr/sbin/nginx"}},
	}
	for _, c := range cases {
		got, err := ParseTitle(c.title)
		if err != nil {
			t.Errorf("ParseTitle(%q): %v", c.title, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseTitle(%q)\n got %+v\nwant %+v", c.title, got, c.want)
		}
	}
	for _, bad := range []string{"nginx: worker process", "nginx: master process ", "nginx: master process /usr/sbin/nginx -s reload", "nginx: master process /usr/sbin/nginx -c", "nginx: master process /usr/sbin/nginx stray"} {
		if _, err := ParseTitle(bad); err == nil {
			t.Errorf("ParseTitle(%q) accepted", bad)
		}
	}
}

func TestFlagsRoundTrip(t *testing.T) {
	a := StartArgs{Binary: "/b", Prefix: "/p", Conf: "/c", Globals: "daemon on;"}
	got := strings.Join(a.Flags(), "|")
	if got != "-p|/p|-c|/c|-g|daemon on;" {
		t.Fatalf("got %q", got)
	}
}

func TestParseConfigReadsWorkersAndForeground(t *testing.T) {
	cases := []struct {
		dump, globals string
		want          Config
	}{
		{"# configuration file /etc/nginx/nginx.conf:\nuser www-data;\nworker_processes auto;\n", "daemon on; master_process on;", Config{Workers: 0}},
		{"worker_processes  4;\nevents {}\n", "", Config{Workers: 4}},
		{"events {}\n", "", Config{Workers: 1}},
		{"worker_processes 2;\ndaemon off;\n", "", Config{Workers: 2, Foreground: true}},
		{"worker_processes 2;\n# daemon off;\n", "", Config{Workers: 2}},
		{"worker_processes 2;\n", "daemon off; master_process on;", Config{Workers: 2, Foreground: true}},
		{"worker_processes 2;\nmaster_process off;\n", "", Config{Workers: 2, Foreground: true}},
	}
	for _, c := range cases {
		got, err := ReadConfig(strings.NewReader(c.dump), c.globals)
		if err != nil || got != c.want {
			t.Errorf("ReadConfig(%q, %q) = %+v, %v; want %+v", c.dump, c.globals, got, err, c.want)
		}
	}
	if _, err := ReadConfig(strings.NewReader("worker_processes many;\n"), ""); err == nil {
		t.Error("worker_processes many accepted")
	}
}

func TestParseVersion(t *testing.T) {
	v, err := ParseVersion([]byte("nginx version: nginx/1.22.1\n"))
	if err != nil || v != "nginx/1.22.1" {
		t.Fatalf("got %q, %v", v, err)
	}
	if _, err := ParseVersion([]byte("sh: 1: nginx: not found")); err == nil {
		t.Fatal("accepted output without a version")
	}
}

func TestContainsStreamFindsANeedleAcrossReads(t *testing.T) {
	// 1-byte reads put every split of the needle across a read boundary.
	hay := strings.Repeat("x", 100) + "nginx version: " + strings.Repeat("y", 10)
	ok, err := containsStream(&oneByteReader{s: hay}, versionMarker)
	if err != nil || !ok {
		t.Fatalf("got %v, %v", ok, err)
	}
	ok, _ = containsStream(&oneByteReader{s: strings.Repeat("nginx versio", 50)}, versionMarker)
	if ok {
		t.Fatal("found a needle that is not there")
	}
}

type oneByteReader struct{ s string }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	p[0], r.s = r.s[0], r.s[1:]
	return 1, nil
}

func TestParsePendingSeesASentButUnhandledSignal(t *testing.T) {
	status := "Name:\tnginx\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000800\nSigBlk:\t0000000000000000\n"
	if ok, err := ParsePending([]byte(status), syscall.SIGUSR2); err != nil || !ok {
		t.Fatalf("USR2 (bit 11) pending: got %v, %v", ok, err)
	}
	if ok, err := ParsePending([]byte(status), syscall.SIGWINCH); err != nil || ok {
		t.Fatalf("WINCH not pending: got %v, %v", ok, err)
	}
	if _, err := ParsePending([]byte("Name:\tnginx\n"), syscall.SIGUSR2); err == nil {
		t.Fatal("status without masks accepted")
	}
}
