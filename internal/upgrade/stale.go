package upgrade

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nginx-upgrade/nginx-upgrade/internal/nginx"
)

// Reason says why a run swaps the master: its REASON in the audit trail.
type Reason string

const (
	ReasonBinary    Reason = "binary"    // the binary on disk is not the one running
	ReasonModules   Reason = "modules"   // a dynamic module it loaded was replaced on disk
	ReasonLibraries Reason = "libraries" // a shared library it maps was replaced on disk
)

// Staleness is what makes a master worth re-executing: a new binary on disk, or code files its
// processes map that were replaced on disk since (nginx's USR2 re-executes the binary by its path,
// so the new master maps what is on disk now).
type Staleness struct {
	NewBinary bool
	Files     []nginx.StaleFile
}

// staleness looks at master m against the binary bin on disk.
func staleness(m nginx.Master, bin nginx.Binary) (Staleness, error) {
	files, err := nginx.StaleCode(m.Pid, m.Exe.Path)
	return Staleness{NewBinary: !m.Exe.SameFile(bin), Files: files}, err
}

// Reasons lists why to swap, in a fixed order; none means nothing to do.
func (s Staleness) Reasons() []Reason {
	var rs []Reason
	if s.NewBinary {
		rs = append(rs, ReasonBinary)
	}
	if len(s.of(nginx.KindModule)) > 0 {
		rs = append(rs, ReasonModules)
	}
	if len(s.of(nginx.KindLibrary)) > 0 {
		rs = append(rs, ReasonLibraries)
	}
	return rs
}

// JoinReasons is the REASON of the audit trail: the reasons, comma-separated.
func JoinReasons(rs []Reason) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// Paths lists the stale files' paths.
func (s Staleness) Paths() []string {
	var p []string
	for _, f := range s.Files {
		p = append(p, f.Path)
	}
	return p
}

func (s Staleness) of(kind nginx.FileKind) []nginx.StaleFile {
	var fs []nginx.StaleFile
	for _, f := range s.Files {
		if f.Kind == kind {
			fs = append(fs, f)
		}
	}
	return fs
}

// String says why, for a step line: "new binary", "re-exec: 3 replaced libraries (libssl.so.3,
// libcrypto.so.3, libz.so.1)", or both.
func (s Staleness) String() string {
	var parts []string
	if s.NewBinary {
		parts = append(parts, "new binary")
	}
	for _, k := range []struct {
		kind         nginx.FileKind
		one, several string
	}{{nginx.KindModule, "module", "modules"}, {nginx.KindLibrary, "library", "libraries"}} {
		fs := s.of(k.kind)
		if len(fs) == 0 {
			continue
		}
		noun := k.several
		if len(fs) == 1 {
			noun = k.one
		}
		var names []string
		for i, f := range fs {
			if i == 3 {
				names = append(names, "…")
				break
			}
			names = append(names, filepath.Base(f.Path))
		}
		parts = append(parts, fmt.Sprintf("%d replaced %s (%s)", len(fs), noun, strings.Join(names, ", ")))
	}
	if len(parts) == 0 {
		return "nothing stale"
	}
	if !s.NewBinary {
		return "re-exec: " + strings.Join(parts, ", ")
	}
	return strings.Join(parts, ", ")
}
