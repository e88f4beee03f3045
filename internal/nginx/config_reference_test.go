package nginx

import (
	"fmt"
	"strconv"
	"strings"
)

// The parser ReadConfig replaced, kept as it was (but for its names, and worker_shutdown_timeout read in step with ReadConfig) as the reference that
// FuzzParseConfig holds the streaming one to: it splits the dump into files and tokenizes each
// one whole. It grows each file by += per line, quadratic in the dump's size: 245 s for 100,000
// server blocks.

// referenceParseConfig reads the facts the helper needs from a `-T` dump and the -g globals, tokenized as
// nginx tokenizes them (ngx_conf_read_token): directives may share a line, comments start wherever
// a token may, quotes and backslashes protect '#', ';' and braces. Only main-context directives
// count: those outside any block of the file `nginx -T` printed them in (each file follows a
// "# configuration file NAME:" line), and those of -g, which nginx reads first.
func referenceParseConfig(dump, globals string) (Config, error) {
	c := Config{Workers: 1} // nginx's default
	seen := map[string]bool{}
	apply := func(d []string) error {
		name := d[0]
		if name != "worker_processes" && name != "daemon" && name != "master_process" && name != "worker_shutdown_timeout" {
			return nil
		}
		if seen[name] {
			return fmt.Errorf("%s is duplicate", name)
		}
		seen[name] = true
		if len(d) != 2 {
			return fmt.Errorf("%s takes one argument, not %q", name, d[1:])
		}
		v := d[1]
		switch {
		case name == "worker_shutdown_timeout":
			d, err := ParseTime(v)
			if err != nil {
				return fmt.Errorf("worker_shutdown_timeout %q: %w", v, err)
			}
			c.ShutdownTimeout = d
		case name == "worker_processes" && v == "auto":
			c.Workers = 0
		case name == "worker_processes":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || v[0] == '+' {
				return fmt.Errorf("worker_processes %q: not a number or auto", v)
			}
			c.Workers = n
		case strings.EqualFold(v, "off"):
			c.Foreground = true
		case !strings.EqualFold(v, "on"):
			return fmt.Errorf("%s %q: not on or off", name, v)
		}
		return nil
	}
	sections := []string{globals}
	for _, s := range strings.SplitAfter(dump, "\n") {
		if strings.HasPrefix(s, "# configuration file ") || len(sections) == 1 {
			sections = append(sections, "")
		}
		sections[len(sections)-1] += s
	}
	// The TLS facts: a directive's name, in any context.
	named := func(name string) {
		c.TLS = c.TLS || name == "ssl_certificate"
		c.TicketKeyFiles = c.TicketKeyFiles || name == "ssl_session_ticket_key"
	}
	for _, s := range sections {
		if err := referenceMainDirectives(s, apply, named); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// referenceMainDirectives calls f with each directive (name and arguments) outside any block of
// conf, and named with the name of every directive, in any block.
func referenceMainDirectives(conf string, f func([]string) error, named func(string)) error {
	var (
		depth int
		d     []string
		tok   strings.Builder
		inTok bool
	)
	end := func() {
		if inTok {
			d = append(d, tok.String())
			if len(d) == 1 {
				named(d[0])
			}
			tok.Reset()
			inTok = false
		}
	}
	for i := 0; i < len(conf); i++ {
		ch := conf[i]
		switch {
		case ch == '#' && !inTok:
			for i < len(conf) && conf[i] != '\n' {
				i++
			}
		case ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n':
			end()
		case ch == ';' || ch == '{' || ch == '}':
			end()
			if ch == ';' && depth == 0 && len(d) > 0 {
				if err := f(d); err != nil {
					return err
				}
			}
			switch ch {
			case '{':
				depth++
			case '}':
				depth = max(depth-1, 0)
			}
			d = d[:0]
		case (ch == '"' || ch == '\'') && !inTok:
			inTok = true
			for i++; i < len(conf) && conf[i] != ch; i++ {
				if conf[i] == '\\' && i+1 < len(conf) {
					i++
				}
				tok.WriteByte(conf[i])
			}
			end()
		case ch == '\\' && i+1 < len(conf):
			inTok = true
			i++
			tok.WriteByte(conf[i])
		case ch == '$' && i+1 < len(conf) && conf[i+1] == '{':
			inTok = true
			tok.WriteString("${")
			i++
		default:
			inTok = true
			tok.WriteByte(ch)
		}
	}
	return nil
}
