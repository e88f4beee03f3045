package nginx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Config is what the helper needs to know of a configuration, read from `nginx -T`.
type Config struct {
	Workers    int  // worker_processes; 0 means "auto" (one per CPU nginx sees)
	Foreground bool // `daemon off` or `master_process off`: nginx ignores USR2 then
	// ShutdownTimeout is worker_shutdown_timeout: how long a quitting worker keeps its
	// connections before nginx closes them; 0 when unset (they last until their clients close).
	ShutdownTimeout time.Duration
	// TLS: an ssl_certificate directive appears in any context. TicketKeyFiles: so does
	// ssl_session_ticket_key. Without key files each master makes its own ticket keys at start,
	// so a swap invalidates every session ticket clients hold.
	TLS, TicketKeyFiles bool
}

// ErrConfigRejected means the binary's `-t` failed: the new build would not start.
var ErrConfigRejected = errors.New("configuration test failed")

// stderrKeep is how much of the end of `-T`'s stderr is kept for the message: nginx prints the
// reason it fails last, after any warnings (a big configuration can warn once per server block).
const stderrKeep = 16 << 10

// TestConfig runs `binary -T` with the master's start arguments: the configuration test that
// the new master would otherwise fail at startup, plus a dump of the configuration to read. The
// dump is read as nginx writes it, in one pass: a configuration of 100,000 server blocks dumps
// tens of megabytes, which are never held in memory. A cancelled ctx kills nginx and returns
// ctx's error, never ErrConfigRejected.
func TestConfig(ctx context.Context, binary string, args StartArgs) (Config, error) {
	cmd := exec.CommandContext(ctx, binary, append([]string{"-T"}, args.Flags()...)...)
	stderr := &tailBuffer{keep: stderrKeep}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Config{}, fmt.Errorf("%s -T: %w", binary, err)
	}
	if err := cmd.Start(); err != nil {
		return Config{}, fmt.Errorf("%s -T: %w", binary, err)
	}
	cfg, parseErr := ReadConfig(stdout, args.Globals)
	if parseErr != nil { // nginx's verdict comes first: let it finish writing the dump
		io.Copy(io.Discard, stdout)
	}
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return Config{}, fmt.Errorf("%s -T interrupted: %w", binary, ctx.Err())
	}
	if waitErr != nil {
		msg := stderr.String()
		if msg == "" {
			msg = waitErr.Error()
		}
		return Config{}, fmt.Errorf("%s -t: %w: %s", binary, ErrConfigRejected, msg)
	}
	return cfg, parseErr
}

// tailBuffer keeps the last keep bytes (about: whole lines) written to it.
type tailBuffer struct {
	keep int
	buf  []byte
	cut  bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.keep { // amortized: copy once per keep bytes written
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.keep:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	b := t.buf
	if t.cut || len(b) > t.keep {
		b = b[max(len(b)-t.keep, 0):]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		return "… " + strings.TrimSpace(string(b))
	}
	return strings.TrimSpace(string(b))
}

// ReadConfig reads the facts the helper needs from a `-T` dump and the -g globals, tokenized as
// nginx tokenizes them (ngx_conf_read_token): directives may share a line, comments start wherever
// a token may, quotes and backslashes protect '#', ';' and braces. Only main-context directives
// count: those outside any block of the file `nginx -T` printed them in (each file follows a
// "# configuration file NAME:" line), and those of -g, which nginx reads first.
//
// It reads the dump once, a line at a time: time is linear in the dump's size and memory is
// bounded by its longest line, whatever the number of server blocks.
func ReadConfig(dump io.Reader, globals string) (Config, error) {
	p := confParser{cfg: Config{Workers: 1}, seen: map[string]bool{}} // 1: nginx's default
	if err := p.section([]byte(globals)); err != nil {
		return Config{}, err
	}
	p.reset()
	br := bufio.NewReaderSize(dump, 64<<10)
	var long []byte // a line longer than br's buffer, put together
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			line, err = br.ReadSlice('\n')
		}
		if len(long) > 0 {
			long = append(long, line...)
			line, long = long, long[:0]
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("read the configuration dump: %w", err)
		}
		if first || bytes.HasPrefix(line, []byte(dumpFileHeader)) {
			p.reset() // a file of its own: its main context starts afresh
		}
		if perr := p.section(line); perr != nil {
			return Config{}, perr
		}
		if err != nil { // io.EOF
			return p.cfg, nil
		}
	}
}

// dumpFileHeader starts the line `nginx -T` prints before each file of the configuration.
const dumpFileHeader = "# configuration file "

// confParser is ngx_conf_read_token's state between the lines of one file of the dump, and what
// the main-context directives said so far. Only directive names (in any context: the TLS facts)
// and the arguments of the main-context directives the helper reads are kept.
type confParser struct {
	cfg  Config
	seen map[string]bool

	depth  int
	quote  byte // the open quote, or 0
	inTok  bool
	ntok   int    // tokens of the directive so far
	cur    []byte // the token being read (only while it may matter)
	long   bool   // the first token is too long to be a directive the helper reads
	wanted bool   // the directive is one the helper reads
	name   string
	args   []string
}

// wantedNames are the main-context directives the helper reads; wantedNameMax is the length of
// the longest.
var wantedNames = [...]string{"worker_processes", "daemon", "master_process", "worker_shutdown_timeout"}

const wantedNameMax = len("worker_shutdown_timeout")

func (p *confParser) reset() {
	p.depth, p.quote, p.inTok = 0, 0, false
	p.startDirective()
}

func (p *confParser) startDirective() {
	p.ntok, p.cur, p.long, p.wanted, p.name, p.args = 0, p.cur[:0], false, false, "", p.args[:0]
}

// section feeds the next piece of a file: a whole line (its '\n' included), or all of -g.
// A backslash or "${" is read with the character after it, which is always in the same piece.
func (p *confParser) section(s []byte) error {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if p.quote != 0 {
			switch {
			case ch == p.quote:
				p.quote = 0
				p.endToken()
			case ch == '\\' && i+1 < len(s):
				i++
				p.add(s[i])
			default:
				p.add(ch)
			}
			continue
		}
		switch {
		case ch == '#' && !p.inTok:
			i = len(s) // a comment runs to the end of the line
		case ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n':
			p.endToken()
		case ch == ';' || ch == '{' || ch == '}':
			p.endToken()
			if ch == ';' && p.depth == 0 && p.wanted {
				if err := p.apply(); err != nil {
					return err
				}
			}
			switch ch {
			case '{':
				p.depth++
			case '}':
				p.depth = max(p.depth-1, 0)
			}
			p.startDirective()
		case (ch == '"' || ch == '\'') && !p.inTok:
			p.inTok, p.quote = true, ch
		case ch == '\\' && i+1 < len(s):
			p.inTok = true
			i++
			p.add(s[i])
		case ch == '$' && i+1 < len(s) && s[i+1] == '{':
			p.inTok = true
			p.add('$')
			p.add('{')
			i++
		default:
			p.inTok = true
			p.add(ch)
		}
	}
	return nil
}

// add appends ch to the current token when it can matter: a main-context directive's name (as far
// as a name the helper reads can go), or an argument of a directive the helper reads.
func (p *confParser) add(ch byte) {
	switch {
	case p.ntok == 0 && len(p.cur) < wantedNameMax:
		p.cur = append(p.cur, ch)
	case p.ntok == 0:
		p.long = true
	case p.depth > 0:
	case p.wanted:
		p.cur = append(p.cur, ch)
	}
}

func (p *confParser) endToken() {
	if !p.inTok {
		return
	}
	p.inTok = false
	switch {
	case p.ntok == 0 && !p.long:
		// Compared, not converted: no allocation per directive.
		p.cfg.TLS = p.cfg.TLS || string(p.cur) == "ssl_certificate"
		p.cfg.TicketKeyFiles = p.cfg.TicketKeyFiles || string(p.cur) == "ssl_session_ticket_key"
		for _, name := range wantedNames {
			if p.depth == 0 && string(p.cur) == name {
				p.name, p.wanted = name, true
			}
		}
	case p.ntok > 0 && p.wanted:
		p.args = append(p.args, string(p.cur))
	}
	p.ntok++
	p.cur = p.cur[:0]
}

// apply records a main-context directive the helper reads.
func (p *confParser) apply() error {
	name := p.name
	if p.seen[name] {
		return fmt.Errorf("%s is duplicate", name)
	}
	p.seen[name] = true
	if len(p.args) != 1 {
		return fmt.Errorf("%s takes one argument, not %q", name, p.args)
	}
	v := p.args[0]
	switch {
	case name == "worker_shutdown_timeout":
		d, err := ParseTime(v)
		if err != nil {
			return fmt.Errorf("worker_shutdown_timeout %q: %w", v, err)
		}
		p.cfg.ShutdownTimeout = d
	case name == "worker_processes" && v == "auto":
		p.cfg.Workers = 0
	case name == "worker_processes":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || v[0] == '+' {
			return fmt.Errorf("worker_processes %q: not a number or auto", v)
		}
		p.cfg.Workers = n
	case strings.EqualFold(v, "off"):
		p.cfg.Foreground = true
	case !strings.EqualFold(v, "on"):
		return fmt.Errorf("%s %q: not on or off", name, v)
	}
	return nil
}
