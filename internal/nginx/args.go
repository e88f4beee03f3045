package nginx

import (
	"errors"
	"fmt"
	"strings"
)

// MasterTitle is how an nginx master names itself in /proc/PID/cmdline: this prefix, then the
// argv it was started with, joined by spaces.
const MasterTitle = "nginx: master process "

// StartArgs is how a master was started. nginx re-executes Binary (its argv[0]) on USR2 with the
// same arguments, so a new build must be installed at that path, and `-t` must be run with these
// flags to test the configuration the new master will read.
type StartArgs struct {
	Binary   string
	Prefix   string // -p
	Conf     string // -c
	ErrorLog string // -e
	Globals  string // -g
}

// Flags returns the arguments that select the same prefix, configuration and globals.
func (a StartArgs) Flags() []string {
	var f []string
	for _, kv := range [][2]string{{"-p", a.Prefix}, {"-c", a.Conf}, {"-e", a.ErrorLog}, {"-g", a.Globals}} {
		if kv[1] != "" {
			f = append(f, kv[0], kv[1])
		}
	}
	return f
}

// ParseTitle recovers StartArgs from a master's title. The title joins argv with spaces, so an
// argument that itself contains spaces is ambiguous; only -g takes such values in practice
// ("daemon on; master_process on;"), and it runs until the next option.
func ParseTitle(title string) (StartArgs, error) {
	rest, ok := strings.CutPrefix(title, MasterTitle)
	if !ok {
		return StartArgs{}, fmt.Errorf("title %q does not start with %q", title, MasterTitle)
	}
	tok := strings.Fields(rest)
	if len(tok) == 0 {
		return StartArgs{}, errors.New("title names no binary")
	}
	a := StartArgs{Binary: tok[0]}
	for i := 1; i < len(tok); i++ {
		t := tok[i]
		if len(t) < 2 || t[0] != '-' {
			return StartArgs{}, fmt.Errorf("unexpected argument %q in %q", t, title)
		}
		flag, glued := t[:2], t[2:]
		var dst *string
		switch flag {
		case "-p":
			dst = &a.Prefix
		case "-c":
			dst = &a.Conf
		case "-e":
			dst = &a.ErrorLog
		case "-g":
			dst = &a.Globals
		case "-q":
			if glued != "" { // nginx reads "-qc/x" as -q -c /x
				return StartArgs{}, fmt.Errorf("unexpected option %q in %q", t, title)
			}
			continue
		default:
			return StartArgs{}, fmt.Errorf("unexpected option %q in %q", t, title)
		}
		var val []string
		if glued != "" {
			val = append(val, glued)
		}
		for i+1 < len(tok) && (len(val) == 0 || (flag == "-g" && !isOption(tok[i+1]))) {
			i++
			val = append(val, tok[i])
		}
		if len(val) == 0 {
			return StartArgs{}, fmt.Errorf("option %s has no value in %q", flag, title)
		}
		*dst = strings.Join(val, " ")
	}
	return a, nil
}

func isOption(t string) bool {
	return len(t) >= 2 && t[0] == '-' && strings.ContainsRune("pceqg", rune(t[1]))
}
