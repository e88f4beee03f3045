package nginx

// Fuzz targets for every parser of outside input in this package: /proc/PID/stat, cmdline and maps,
// pid files, master titles, `nginx -T` dumps and `nginx -v` output, and the stream search that
// recognises an nginx executable. Seed corpora (real captures) are in testdata/fuzz/<FuzzName>/
// and run as ordinary tests; testdata/fuzz.sh at the repository root fuzzes each target briefly.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// FuzzParseStat: ParseStat never panics; what it accepts has a positive pid and a one-byte state,
// and a stat line re-rendered from the result (same command name, canonical numbers, the other
// fields zeroed) parses to the same Proc. The re-rendered line is what the kernel would print for
// that process, so this checks that ParseStat reads fields by position from the last ')' and
// nothing else of the line leaks into the result.
func FuzzParseStat(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseStat(b)
		if err != nil {
			return
		}
		if p.Pid <= 0 {
			t.Fatalf("ParseStat(%q) accepted pid %d", b, p.Pid)
		}
		if p.State == ')' || bytes.ContainsRune([]byte(" \t\n\v\f\r"), rune(p.State)) {
			t.Fatalf("ParseStat(%q) returned state %q: fields were split wrongly", b, p.State)
		}
		if p.Title != "" {
			t.Fatalf("ParseStat(%q) set a title %q: the title comes from cmdline only", b, p.Title)
		}
		comm := b[bytes.IndexByte(b, '(')+1 : bytes.LastIndexByte(b, ')')]
		line := renderStat(p, comm)
		q, err := ParseStat(line)
		if err != nil {
			t.Fatalf("ParseStat(%q) = %+v, but its re-rendering %q is rejected: %v", b, p, line, err)
		}
		if q != p {
			t.Fatalf("ParseStat(%q) = %+v, but its re-rendering %q gives %+v", b, p, line, q)
		}
	})
}

// renderStat prints p as the kernel prints /proc/PID/stat (fs/proc/array.c): pid, (comm), then
// state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime
// cstime priority nice num_threads itrealvalue starttime vsize rss ..., single spaces.
func renderStat(p Proc, comm []byte) []byte {
	var b []byte
	b = strconv.AppendInt(b, int64(p.Pid), 10)
	b = append(b, " ("...)
	b = append(b, comm...)
	b = append(b, ") "...)
	b = append(b, p.State, ' ') // the raw byte: %c would UTF-8-encode a byte ≥ 0x80
	b = strconv.AppendInt(b, int64(p.PPid), 10)
	b = append(b, " 0 0 0 -1 4194304 0 0 0 0 "...)
	b = strconv.AppendInt(b, p.CPUTicks, 10) // all of it as utime: the sum is what counts
	b = append(b, " 0 0 0 20 0 1 0 "...)
	b = strconv.AppendUint(b, p.StartTime, 10)
	b = append(b, " 10502144 1652 18446744073709551615 0 0 0 0 0 0 0 1073745920 402745863 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"...)
	return b
}

// FuzzParsePending: ParsePending never panics and refuses signals outside 1..64. On a status file
// shaped as the kernel writes it (proc_pid_status: exactly one "SigPnd:\t" and one "ShdPnd:\t"
// line, each a 16-digit hex mask) it reports whether the signal's bit is set in either mask. On any
// other input it may refuse, but what it reports must be backed by the mask lines it could read
// ("SigPnd" or "ShdPnd", ':', a hex number): "pending" only if one of them has the bit, "not
// pending" only if it read two and neither has it.
func FuzzParsePending(f *testing.F) {
	f.Fuzz(func(t *testing.T, status []byte, sig int) {
		got, err := ParsePending(status, syscall.Signal(sig))
		if sig < 1 || sig > 64 {
			if err == nil {
				t.Fatalf("ParsePending(%q, %d) accepted a signal out of range", status, sig)
			}
			return
		}
		bit := uint64(1) << (sig - 1)
		strict := map[string][]uint64{}
		var readable []uint64
		for _, line := range strings.Split(string(status), "\n") {
			key, val, _ := strings.Cut(line, ":")
			if key != "SigPnd" && key != "ShdPnd" {
				continue
			}
			if m, err := strconv.ParseUint(strings.TrimSpace(val), 16, 64); err == nil {
				readable = append(readable, m)
			}
			if hex, ok := strings.CutPrefix(val, "\t"); ok && len(hex) == 16 {
				if m, err := strconv.ParseUint(hex, 16, 64); err == nil {
					strict[key] = append(strict[key], m)
					continue
				}
			}
			strict["malformed"] = append(strict["malformed"], 0)
		}
		if len(strict) == 2 && len(strict["SigPnd"]) == 1 && len(strict["ShdPnd"]) == 1 {
			want := (strict["SigPnd"][0]|strict["ShdPnd"][0])&bit != 0
			if err != nil || got != want {
				t.Fatalf("ParsePending(%q, %d) = %v, %v; want %v", status, sig, got, err, want)
			}
			return
		}
		if err != nil {
			return
		}
		set := false
		for _, m := range readable {
			set = set || m&bit != 0
		}
		switch {
		case got && !set:
			t.Fatalf("ParsePending(%q, %d) = pending, but no mask line has bit %d", status, sig, sig-1)
		case !got && set:
			t.Fatalf("ParsePending(%q, %d) = not pending, but a mask line has bit %d", status, sig, sig-1)
		case !got && len(readable) < 2:
			t.Fatalf("ParsePending(%q, %d) = not pending from %d mask lines", status, sig, len(readable))
		}
	})
}

// FuzzParseCmdline: ParseCmdline never panics, its result holds no NUL and ends in neither a space
// nor a NUL, and it only drops padding: it is the input with NULs turned into spaces, minus a tail
// that was all spaces.
func FuzzParseCmdline(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		got := ParseCmdline(b)
		if strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("ParseCmdline(%q) = %q holds a NUL", b, got)
		}
		if strings.HasSuffix(got, " ") {
			t.Fatalf("ParseCmdline(%q) = %q ends in a space", b, got)
		}
		spaced := bytes.ReplaceAll(b, []byte{0}, []byte{' '})
		if !bytes.HasPrefix(spaced, []byte(got)) {
			t.Fatalf("ParseCmdline(%q) = %q is not the argv joined by spaces", b, got)
		}
		if rest := spaced[len(got):]; len(bytes.Trim(rest, " ")) != 0 {
			t.Fatalf("ParseCmdline(%q) = %q dropped %q, which is not padding", b, got, rest)
		}
	})
}

// FuzzParsePid: ParsePid never panics and accepts exactly what nginx writes to a pid file
// (ngx_create_pidfile: "%P" then a newline): a positive decimal number without sign, leading
// zeros or spaces, at most 1<<22 (PID_MAX_LIMIT), optionally followed by one "\n". The oracle is
// written independently of ParsePid; the accepted value prints back to the same digits.
func FuzzParsePid(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParsePid(b)
		want, ok := pidOracle(b)
		switch {
		case err == nil && !ok:
			t.Fatalf("ParsePid(%q) = %d, want it rejected: not a pid as nginx writes one", b, got)
		case err != nil && ok:
			t.Fatalf("ParsePid(%q) rejected (%v), want %d", b, err, want)
		case err == nil && got != want:
			t.Fatalf("ParsePid(%q) = %d, want %d", b, got, want)
		case err == nil && strconv.Itoa(got) != strings.TrimSuffix(string(b), "\n"):
			t.Fatalf("ParsePid(%q) = %d, which prints as %q", b, got, strconv.Itoa(got))
		}
	})
}

// pidOracle is the pid file grammar: [1-9][0-9]*, value ≤ 1<<22, optional single trailing "\n".
func pidOracle(b []byte) (int, bool) {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if len(b) == 0 || len(b) > 7 || b[0] == '0' { // 1<<22 = 4194304 has 7 digits
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= 1<<22
}

// FuzzParseTitle checks ParseTitle four ways.
//
//  1. Any title: no panic; an accepted title names a binary, and the title rebuilt from the
//     result (MasterTitle, Binary, Flags) parses to the same StartArgs.
//  2. StartArgs built from fuzzed fields that hold no whitespace (strings.Fields splits the title
//     on any Unicode space, so a value holding one is the documented ambiguity of titles) and do
//     not start with '-' round-trip through the title nginx would show for them.
//  3. Against nginx: a title whose words are taken as separate argv elements and which nginx's own
//     option parser (ngx_get_options, modelled by nginxOptions) would run as a master must, if
//     ParseTitle accepts it, give the prefix, configuration, error log and globals nginx uses.
//     A title with a lone "-" word is skipped: nginx ignores that argument, ParseTitle folds it
//     into a preceding -g value, and the title could equally come from `-g "x -"`.
//  4. The same fields written the other ways nginx accepts them, chosen by style: bit 0 glues each
//     value to its option ("-c/etc/nginx.conf"), bit 1 puts -q in front of each option's letter
//     ("-qc /etc/nginx.conf"), bit 2 adds a lone "-q" first, bit 3 reverses the options. Without
//     bit 1 ParseTitle must accept the title; with it, it may refuse; what it accepts must be
//     what nginx uses.
func FuzzParseTitle(f *testing.F) {
	f.Fuzz(func(t *testing.T, title, binary, prefix, conf, errorLog, globals string, style byte) {
		// 1. Any title.
		a, err := ParseTitle(title)
		if err == nil {
			if a.Binary == "" {
				t.Fatalf("ParseTitle(%q) accepted a title without a binary", title)
			}
			again := MasterTitle + strings.Join(append([]string{a.Binary}, a.Flags()...), " ")
			if b, err := ParseTitle(again); err != nil || b != a {
				t.Fatalf("ParseTitle(%q) = %+v, but the title rebuilt from it, %q, parses to %+v, %v", title, a, again, b, err)
			}
			// 3. Against nginx's option parser.
			words := strings.Fields(strings.TrimPrefix(title, MasterTitle))
			if n, master := nginxOptions(words[1:]); master && !hasWord(words, "-") {
				checkAgainstNginx(t, title, a, n)
			}
		}

		for _, v := range []string{binary, prefix, conf, errorLog, globals} {
			if strings.ContainsFunc(v, unicode.IsSpace) {
				return
			}
		}
		if binary == "" {
			return
		}
		// 4. Other spellings of the same arguments.
		var argv []string
		if style&4 != 0 {
			argv = append(argv, "-q")
		}
		opts := [][2]string{{"p", prefix}, {"c", conf}, {"e", errorLog}, {"g", globals}}
		if style&8 != 0 {
			slices.Reverse(opts)
		}
		for _, o := range opts {
			if o[1] == "" {
				continue
			}
			flag := "-" + o[0]
			if style&2 != 0 {
				flag = "-q" + o[0]
			}
			if style&1 != 0 {
				argv = append(argv, flag+o[1])
			} else {
				argv = append(argv, flag, o[1])
			}
		}
		spelled := MasterTitle + binary + " " + strings.Join(argv, " ")
		n, master := nginxOptions(argv)
		if !master {
			t.Fatalf("nginx would not run %q as a master", argv) // the model or this generator is wrong
		}
		if got, err := ParseTitle(spelled); err == nil {
			if got.Binary != binary {
				t.Fatalf("ParseTitle(%q) = binary %q, want %q", spelled, got.Binary, binary)
			}
			checkAgainstNginx(t, spelled, got, n)
		} else if style&2 == 0 {
			t.Fatalf("ParseTitle(%q): %v", spelled, err)
		}

		// 2. Round trip of StartArgs with plain values.
		want := StartArgs{Binary: binary, Prefix: prefix, Conf: conf, ErrorLog: errorLog, Globals: globals}
		for _, v := range []string{binary, prefix, conf, errorLog, globals} {
			if strings.HasPrefix(v, "-") {
				return
			}
		}
		built := MasterTitle + binary + " " + strings.Join(want.Flags(), " ")
		got, err := ParseTitle(built)
		if err != nil {
			t.Fatalf("ParseTitle(%q) of %+v: %v", built, want, err)
		}
		if got != want {
			t.Fatalf("ParseTitle(%q)\n got %+v\nwant %+v", built, got, want)
		}
	})
}

func checkAgainstNginx(t *testing.T, title string, a StartArgs, n [4]string) {
	t.Helper()
	if got := [4]string{a.Prefix, a.Conf, a.ErrorLog, a.Globals}; got != n {
		t.Fatalf("ParseTitle(%q) = -p %q -c %q -e %q -g %q, but nginx started with these arguments uses -p %q -c %q -e %q -g %q",
			title, got[0], got[1], got[2], got[3], n[0], n[1], n[2], n[3])
	}
}

func hasWord(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

// nginxOptions models ngx_get_options (src/core/nginx.c, 1.22) on argv[1:]: each argument is a
// '-' and a cluster of option letters; -p -c -e -g -s take the rest of the argument or, if that
// is empty, the next one. It returns -p, -c, -e and -g as given (the last of each wins) and
// whether nginx would run as a master with them: not on an invalid option, a missing value, or
// one of -h -? -v -V -t -T -s, with which nginx prints, tests or signals and exits.
func nginxOptions(argv []string) (vals [4]string, master bool) {
	master = true
	for i := 0; i < len(argv); i++ {
		p := argv[i]
		if p == "" || p[0] != '-' {
			return vals, false // invalid option
		}
		p = p[1:]
	cluster:
		for len(p) > 0 {
			c := p[0]
			p = p[1:]
			var dst int
			switch c {
			case 'q':
				continue
			case '?', 'h', 'v', 'V', 't', 'T':
				master = false
				continue
			case 'p':
				dst = 0
			case 'c':
				dst = 1
			case 'e':
				dst = 2
			case 'g':
				dst = 3
			case 's':
				dst = -1
			default:
				return vals, false
			}
			v := p
			if v == "" {
				if i+1 >= len(argv) {
					return vals, false // option requires a value
				}
				i++
				v = argv[i]
			}
			if dst < 0 {
				master = false // signaller: nginx -s reload and the like exit
			} else {
				vals[dst] = v
			}
			break cluster
		}
	}
	return vals, master
}

// FuzzParseConfig: ReadConfig never panics, reports Workers ≥ 0, and reads every dump exactly as
// the parser it replaced does (referenceParseConfig: the same Config, or both an error), fed
// whole or in pieces of any size. It must also read what nginx
// reads, so it is checked against rewrites of the dump that nginx's tokenizer
// (ngx_conf_read_token) reads as the same directives: for each newline picked by mask (two bits per
// newline, the first 32 newlines),
//   - bit 1: when the line ends a statement or block (';', '{' or '}'), holds no '#', and the next
//     line is not one of the "# configuration file NAME:" headers `nginx -T` puts between files,
//     the newline becomes a space: nginx separates tokens by either alike;
//   - bit 2: unless the line ends in a backslash (which would escape the space), a comment
//     " # daemon off; worker_processes 7;" is appended to the line.
//
// Both rewrites must give the same Config, or both a refusal. nginx allows several directives on
// one line and comments anywhere a token may start; a parser that reads directives line by line
// fails this.
// referenceMax bounds the dumps FuzzParseConfig compares with the parser ReadConfig replaced.
const referenceMax = 16 << 10

func FuzzParseConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, dump, globals string, mask uint64) {
		c, err := ReadConfig(iotest.OneByteReader(strings.NewReader(dump)), globals)
		if err == nil && c.Workers < 0 {
			t.Fatalf("ReadConfig(%q, %q) = %+v: negative workers", dump, globals, c)
		}
		// The reference takes time quadratic in the dump's lines: it checks dumps up to
		// referenceMax, every seed and most of what the fuzzer makes of them.
		if len(dump) <= referenceMax {
			if ref, refErr := referenceParseConfig(dump, globals); (err == nil) != (refErr == nil) || (err == nil && c != ref) {
				t.Fatalf("ReadConfig(%q, %q) = %+v, %v; the parser it replaced: %+v, %v", dump, globals, c, err, ref, refErr)
			}
		}
		if mask == 0 {
			return
		}
		same := rewriteConfig(dump, mask)
		c2, err2 := ReadConfig(strings.NewReader(same), globals)
		if (err == nil) != (err2 == nil) || c != c2 {
			t.Fatalf("the same configuration for nginx reads differently (globals %q):\n%q\n  -> %+v, %v\n%q\n  -> %+v, %v", globals, dump, c, err, same, c2, err2)
		}
	})
}

func rewriteConfig(dump string, mask uint64) string {
	lines := strings.SplitAfter(dump, "\n")
	var b strings.Builder
	for n, line := range lines {
		body, nl := strings.CutSuffix(line, "\n")
		if !nl || n >= 32 {
			b.WriteString(line)
			continue
		}
		op := mask >> (2 * n) & 3
		end := strings.TrimRight(body, " \t\r")
		switch {
		case op&2 != 0 && !strings.HasSuffix(body, "\\"):
			b.WriteString(body + " # daemon off; worker_processes 7;\n")
		case op&1 != 0 && !strings.Contains(body, "#") && end != "" && strings.ContainsRune(";{}", rune(end[len(end)-1])) &&
			!strings.HasPrefix(lines[n+1], dumpFileHeader):
			b.WriteString(body + " ")
		default:
			b.WriteString(line)
		}
	}
	return b.String()
}

// FuzzParseVersion: ParseVersion never panics; what it returns is non-empty and holds no
// whitespace. It is printed in status lines and written to JSON and the audit trail as one word,
// so it must also be valid UTF-8 without control characters: every rune printable, none a space.
func FuzzParseVersion(f *testing.F) {
	f.Fuzz(func(t *testing.T, out []byte) {
		v, err := ParseVersion(out)
		if err != nil {
			return
		}
		if v == "" {
			t.Fatalf("ParseVersion(%q) returned an empty version", out)
		}
		if !utf8.ValidString(v) {
			t.Fatalf("ParseVersion(%q) = %q is not valid UTF-8", out, v)
		}
		for i, r := range v {
			if unicode.IsSpace(r) || !unicode.IsPrint(r) {
				t.Fatalf("ParseVersion(%q) = %q holds whitespace or a control character at byte %d", out, v, i)
			}
		}
	})
}

// FuzzContainsStream: containsStream(r, needle) equals bytes.Contains(haystack, needle) however r
// splits haystack into reads. The haystack is pre, then pad repeated padLen%140000 times (so it
// spans the 64 KiB buffer more than once), then post; chunks gives the read sizes in turn (a byte
// b < 0xF0 is a read of b bytes, 0 included; b ≥ 0xF0 one of (b-0xEF)*8 KiB), repeated; eofWithData
// makes the last read return io.EOF with its data; buffered puts a bufio.Reader in between, as
// hasNginxMarker does.
func FuzzContainsStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, pre, needle, post []byte, pad byte, padLen uint32, chunks []byte, eofWithData, buffered bool) {
		if len(needle) > 4096 {
			return
		}
		hay := append(append(append([]byte{}, pre...), bytes.Repeat([]byte{pad}, int(padLen%140000))...), post...)
		var r io.Reader = &chunkReader{data: hay, sizes: chunks, eofWithData: eofWithData}
		if buffered {
			r = bufio.NewReaderSize(r, 1<<16)
		}
		got, err := containsStream(r, needle)
		if err != nil {
			t.Fatalf("containsStream: %v", err)
		}
		if want := bytes.Contains(hay, needle); got != want {
			t.Fatalf("containsStream(%d bytes: %q…%q, needle %q, reads %v) = %v, bytes.Contains = %v",
				len(hay), fuzzHead(hay), fuzzTail(hay), needle, chunks, got, want)
		}
	})
}

func fuzzHead(b []byte) []byte { return b[:min(len(b), 40)] }
func fuzzTail(b []byte) []byte { return b[max(0, len(b)-40):] }

// chunkReader returns data in reads of the sizes given, cycling through them; no sizes means one
// read of whatever fits. A 0 size returns (0, nil), which io.Reader allows, at most twice in a row.
type chunkReader struct {
	data        []byte
	sizes       []byte
	i           int
	zeros       int
	eofWithData bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(r.sizes) > 0 {
		s := int(r.sizes[r.i%len(r.sizes)])
		r.i++
		if s >= 0xF0 {
			s = (s - 0xEF) * 8192
		}
		if s == 0 {
			if r.zeros++; r.zeros <= 2 {
				return 0, nil
			}
			s = 1
		}
		r.zeros = 0
		n = min(n, s)
	}
	n = copy(p[:min(n, len(p))], r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 && r.eofWithData {
		return n, io.EOF
	}
	return n, nil
}

// FuzzParseMaps: ParseMaps never panics; what it accepts is what the kernel could have written:
// a non-empty range, four permission characters, and a path that is empty, a pseudo name or
// absolute, " (deleted)" marked apart only on an absolute path. Every mapping re-rendered as
// fs/proc/task_mmu.c prints it parses back to the same mapping, so no field leaks into another
// (a path with spaces or "(deleted)" in its name included).
func FuzzParseMaps(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		maps, err := ParseMaps(b)
		if err != nil {
			return
		}
		var again []byte
		for _, m := range maps {
			if m.Start >= m.End || len(m.Perms) != 4 {
				t.Fatalf("ParseMaps(%q) accepted %+v", b, m)
			}
			if m.Deleted && !strings.HasPrefix(m.Path, "/") {
				t.Fatalf("ParseMaps(%q): %q marked deleted, but only files are", b, m.Path)
			}
			again = append(again, renderMaps(m)...)
		}
		got, err := ParseMaps(again)
		if err != nil {
			t.Fatalf("ParseMaps(%q) = %+v, but its re-rendering %q is rejected: %v", b, maps, again, err)
		}
		if !slices.Equal(got, maps) {
			t.Fatalf("ParseMaps(%q) = %+v, but its re-rendering %q gives %+v", b, maps, again, got)
		}
	})
}

// renderMaps prints m as show_map_vma does: fixed fields, then the path padded to column 74.
func renderMaps(m Mapping) []byte {
	line := fmt.Sprintf("%08x-%08x %s %08x %02x:%02x %d ", m.Start, m.End, m.Perms, m.Offset, unix.Major(m.Dev), unix.Minor(m.Dev), m.Inode)
	if m.Path != "" {
		line += strings.Repeat(" ", max(73-len(line), 0)) + m.Path
		if m.Deleted {
			line += " (deleted)"
		}
	}
	return []byte(line + "\n")
}
