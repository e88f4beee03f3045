package nginx

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Lines as the kernel prints them, from a Debian nginx 1.22.1 master with a module and a private
// zlib replaced on disk, and from processes holding memfd, System V and oddly named mappings.
const (
	heapLine    = "5617e061d000-5617e065f000 rw-p 00000000 00:00 0                          [heap]"
	anonLine    = "5617d28ea000-5617d2909000 rw-p 00000000 00:00 0 "
	zoneLine    = "7f3d5390f000-7f3d53a0f000 rw-s 00000000 00:01 286                        /dev/zero (deleted)"
	memfdLine   = "7f553be20000-7f553be21000 rw-s 00000000 00:01 1313                       /memfd:nginx zone (deleted)"
	memfdCode   = "7f553be21000-7f553be22000 r-xs 00000000 00:01 1314                       /memfd:jit (deleted)"
	sysvLine    = "7f16e40e4000-7f16e40e5000 rw-s 00000000 00:01 0                          /SYSV00000000 (deleted)"
	libcLine    = "7f3d53244000-7f3d5339a000 r-xp 00026000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6"
	libcData    = "7f3d533f1000-7f3d533f3000 rw-p 001d3000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6"
	moduleLine  = "7f3d53a18000-7f3d53a31000 r-xp 00009000 fe:00 9986145                    /usr/lib/nginx/modules/ngx_stream_module.so (deleted)"
	zlibLine    = "7f3d53a46000-7f3d53a59000 r-xp 00003000 fe:00 9986158                    /usr/lib/x86_64-linux-gnu/libz.so.1"
	binaryLine  = "5617d27d9000-5617d2898000 r-xp 00023000 fe:00 843795                     /usr/sbin/nginx (deleted)"
	oddNotGone  = "7fd033b5d000-7fd033b70000 r-xp 00003000 fe:00 9986114                    /opt/odd dir/libz.so.1 (deleted)"
	oddGone     = "7fd033b3e000-7fd033b51000 r-xp 00003000 fe:00 9986115                    /opt/odd dir/libz (deleted).so (deleted)"
	dataDeleted = "7fd033b3e000-7fd033b51000 r--s 00000000 fe:00 9986116                    /var/cache/nginx/data (deleted)"
	escapedLine = "7fd033b5d000-7fd033b70000 r-xp 00003000 fe:00 9986117                    /opt/lib\\012x/libz.so.1"
)

func parseOne(t *testing.T, line string) Mapping {
	t.Helper()
	maps, err := ParseMaps([]byte(line + "\n"))
	if err != nil || len(maps) != 1 {
		t.Fatalf("ParseMaps(%q) = %v, %v; want one mapping", line, maps, err)
	}
	return maps[0]
}

func TestParseMapsReadsEachField(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Mapping
	}{
		{heapLine, Mapping{Start: 0x5617e061d000, End: 0x5617e065f000, Perms: "rw-p", Path: "[heap]"}},
		{anonLine, Mapping{Start: 0x5617d28ea000, End: 0x5617d2909000, Perms: "rw-p"}},
		{zoneLine, Mapping{Start: 0x7f3d5390f000, End: 0x7f3d53a0f000, Perms: "rw-s", Dev: unix.Mkdev(0, 1), Inode: 286, Path: "/dev/zero", Deleted: true}},
		{moduleLine, Mapping{Start: 0x7f3d53a18000, End: 0x7f3d53a31000, Perms: "r-xp", Offset: 0x9000, Dev: unix.Mkdev(0xfe, 0), Inode: 9986145,
			Path: "/usr/lib/nginx/modules/ngx_stream_module.so", Deleted: true}},
		{zlibLine, Mapping{Start: 0x7f3d53a46000, End: 0x7f3d53a59000, Perms: "r-xp", Offset: 0x3000, Dev: unix.Mkdev(0xfe, 0), Inode: 9986158,
			Path: "/usr/lib/x86_64-linux-gnu/libz.so.1"}},
		// Only the last " (deleted)" is the kernel's: the rest is the file's name.
		{oddGone, Mapping{Start: 0x7fd033b3e000, End: 0x7fd033b51000, Perms: "r-xp", Offset: 0x3000, Dev: unix.Mkdev(0xfe, 0), Inode: 9986115,
			Path: "/opt/odd dir/libz (deleted).so", Deleted: true}},
	} {
		if got := parseOne(t, tc.line); got != tc.want {
			t.Errorf("ParseMaps(%q)\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

func TestParseMapsRefusesWhatTheKernelDoesNotWrite(t *testing.T) {
	for _, line := range []string{
		"7f3d53a46000-7f3d53a59000 r-xp 00003000 fe:00",                // no inode
		"7f3d53a46000 r-xp 00003000 fe:00 9986158 /x",                  // no range
		"7f3d53a59000-7f3d53a46000 r-xp 00003000 fe:00 9986158 /x",     // end before start
		"7f3d53a46000-7f3d53a59000 rwxq 00003000 fe:00 9986158 /x",     // perms
		"7f3d53a46000-7f3d53a59000 r-xp 0x3000 fe:00 9986158 /x",       // offset
		"7f3d53a46000-7f3d53a59000 r-xp 00003000 fe00 9986158 /x",      // device
		"7f3d53a46000-7f3d53a59000 r-xp 00003000 fe:00 +9986158 /x",    // inode sign
		"7F3D53A46000-7f3d53a59000 r-xp 00003000 fe:00 9986158 /x",     // upper case
		"7f3d53a46000-7f3d53a59000  r-xp 00003000 fe:00 9986158 /x",    // two spaces
		"17f3d53a46000000-7f3d53a59000 r-xp 00003000 fe:00 9986158 /x", // 17 digits
		"7f3d53a46000-7f3d53a59000 r-xp 00003000 1000:00 9986158 /x",   // major past 12 bits
		"7f3d53a46000-7f3d53a59000 r-xp 00003000 fe:100000 9986158 /x", // minor past 20 bits
	} {
		if maps, err := ParseMaps([]byte(line + "\n")); err == nil {
			t.Errorf("ParseMaps(%q) = %+v, want an error", line, maps)
		}
	}
}

// disk is what paths name now, for staleFiles: path → file identity.
type disk map[string]fileID

func (d disk) stat(path string) (fileID, bool) { id, ok := d[path]; return id, ok }

func sameAs(t *testing.T, line string) fileID {
	m := parseOne(t, line)
	return fileID{dev: m.Dev, ino: m.Inode}
}

func TestStaleFiles(t *testing.T) {
	fe := unix.Mkdev(0xfe, 0)
	for _, tc := range []struct {
		name  string
		lines []string
		disk  disk
		want  []StaleFile
	}{
		{"library unchanged on disk", []string{libcLine, libcData}, disk{"/usr/lib/x86_64-linux-gnu/libc.so.6": sameAs(t, libcLine)}, nil},
		{"library replaced by rename: same path, another inode", []string{zlibLine},
			disk{"/usr/lib/x86_64-linux-gnu/libz.so.1": {dev: fe, ino: 1}},
			[]StaleFile{{Path: "/usr/lib/x86_64-linux-gnu/libz.so.1", Kind: KindLibrary}}},
		{"library gone from disk", []string{zlibLine}, disk{},
			[]StaleFile{{Path: "/usr/lib/x86_64-linux-gnu/libz.so.1", Kind: KindLibrary}}},
		{"module deleted, a new one in its place", []string{moduleLine},
			disk{"/usr/lib/nginx/modules/ngx_stream_module.so": {dev: fe, ino: 2}},
			[]StaleFile{{Path: "/usr/lib/nginx/modules/ngx_stream_module.so", Kind: KindModule, Deleted: true}}},
		{"the binary replaced", []string{binaryLine}, disk{"/usr/sbin/nginx": {dev: fe, ino: 3}},
			[]StaleFile{{Path: "/usr/sbin/nginx", Kind: KindBinary, Deleted: true}}},
		{"shared memory is no file: nginx's zones, memfd, System V", []string{zoneLine, memfdLine, memfdCode, sysvLine, heapLine, anonLine}, disk{}, nil},
		{"a data file deleted is no code", []string{dataDeleted}, disk{}, nil},
		{"a file named … (deleted), still there", []string{oddNotGone}, disk{"/opt/odd dir/libz.so.1 (deleted)": sameAs(t, oddNotGone)}, nil},
		{"a file named … (deleted).so, deleted", []string{oddGone}, disk{},
			[]StaleFile{{Path: "/opt/odd dir/libz (deleted).so", Kind: KindLibrary, Deleted: true}}},
		{"a newline in a path, escaped as \\012", []string{escapedLine}, disk{"/opt/lib\nx/libz.so.1": sameAs(t, escapedLine)}, nil},
		{"overlayfs: the layer's device in maps, the overlay's from stat", []string{zlibLine},
			disk{"/usr/lib/x86_64-linux-gnu/libz.so.1": {dev: unix.Mkdev(0, 55), ino: 9986158, overlay: true}}, nil},
		{"another filesystem, the same inode number", []string{zlibLine},
			disk{"/usr/lib/x86_64-linux-gnu/libz.so.1": {dev: unix.Mkdev(0, 55), ino: 9986158}},
			[]StaleFile{{Path: "/usr/lib/x86_64-linux-gnu/libz.so.1", Kind: KindLibrary}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var maps []Mapping
			for _, l := range tc.lines {
				maps = append(maps, parseOne(t, l))
			}
			got := staleFiles(maps, "/usr/sbin/nginx", tc.disk.stat)
			if !slices.EqualFunc(got, tc.want, func(a, b StaleFile) bool {
				return a.Path == b.Path && a.Kind == b.Kind && a.Deleted == b.Deleted
			}) {
				t.Errorf("stale files\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Modules are told from libraries by name and place, as Debian, nginx.org and
// --add-dynamic-module install them.
func TestKind(t *testing.T) {
	modules := []string{"/usr/lib/nginx/modules/ngx_stream_module.so", "/usr/lib/nginx/modules/ngx_http_geoip2_module.so",
		"/etc/nginx/custom/ngx_http_echo_module.so"}
	libraries := []string{"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/x86_64-linux-gnu/libnginx-helper.so"}
	check := func(want FileKind, paths ...string) {
		for _, p := range paths {
			if got := Kind(p, "/usr/sbin/nginx"); got != want {
				t.Errorf("Kind(%s) = %s, want %s", p, got, want)
			}
		}
	}
	check(KindBinary, "/usr/sbin/nginx")
	check(KindModule, modules...)
	check(KindLibrary, libraries...)
}

// The whole way, on this very process: a file of code mapped, then replaced by rename as dpkg
// does, is stale; before, it is not.
func TestStaleCodeSeesAFileReplacedByRename(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libfake.so.1")
	if err := os.WriteFile(lib, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(lib)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE)
	f.Close()
	if err != nil {
		t.Fatalf("mmap %s executable: %v", lib, err)
	}
	defer unix.Munmap(mem)
	exe, _ := os.Executable()

	if stale := staleOf(t, exe, lib); stale != nil {
		t.Fatalf("before the update: %+v, want nothing", *stale)
	}
	if err := os.WriteFile(lib+".dpkg-new", make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(lib+".dpkg-new", lib); err != nil {
		t.Fatal(err)
	}
	stale := staleOf(t, exe, lib)
	if stale == nil || stale.Kind != KindLibrary || !stale.Deleted || !slices.Equal(stale.Pids, []int{os.Getpid()}) {
		t.Fatalf("after the update: %+v, want a deleted library mapped by %d", stale, os.Getpid())
	}
}

func staleOf(t *testing.T, exe, path string) *StaleFile {
	t.Helper()
	files, err := StaleCode(os.Getpid(), exe)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == path {
			return &f
		}
	}
	return nil
}
