//go:build linux

package installer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDpkgInstallDeb installs, upgrades and fails to install packages in a sandbox root,
// one step after the other, and checks the sandbox's database and files after each.
func TestDpkgInstallDeb(t *testing.T) {
	needTools(t, "dpkg", "dpkg-deb", "dpkg-query")
	debs := t.TempDir()
	v1 := buildDeb(t, debs, "pd-hello", "1.0-1", "")
	v2 := buildDeb(t, debs, "pd-hello", "1.0-2", "")
	reboot := buildDeb(t, debs, "pd-reboot", "1.0-1", `touch "$DPKG_ROOT/var/run/reboot-required"`)
	damaged := filepath.Join(debs, "damaged.deb")
	damageData(t, v2, damaged)
	truncated := filepath.Join(debs, "truncated.deb")
	b, err := os.ReadFile(v2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}

	root := newRoot(t)
	d := Dpkg{Root: root}
	hello := filepath.Join(root, "usr/share/pd-hello/hello.txt")
	hostLog := countIn("/var/log/dpkg.log", "pd-hello")

	steps := []struct {
		name           string
		deb, pkg, ver  string
		installed      bool
		version        string // Result.Version
		exit           int
		errHas, logHas string
		db             string // dbStatus afterwards
		file           string // hello.txt afterwards ("" absent)
		reboot         bool
	}{
		{name: "install 1.0-1", deb: v1, pkg: "pd-hello", ver: "1.0-1", installed: true, version: "1.0-1",
			logHas: "Setting up pd-hello (1.0-1)", db: "install ok installed 1.0-1", file: "pd-hello 1.0-1\n"},
		{name: "damaged data fails in dpkg", deb: damaged, pkg: "pd-hello", ver: "1.0-2", version: "1.0-1", exit: 1,
			errHas: "is at 1.0-1 afterwards", logHas: "error processing archive",
			db: "install ok installed 1.0-1", file: "pd-hello 1.0-1\n"},
		{name: "truncated is refused before dpkg", deb: truncated, pkg: "pd-hello", ver: "1.0-2", version: "1.0-1", exit: -1,
			errHas: "not an installable package", db: "install ok installed 1.0-1", file: "pd-hello 1.0-1\n"},
		{name: "another package is refused", deb: v2, pkg: "pd-other", ver: "1.0-2", exit: -1,
			errHas: "holds pd-hello 1.0-2, not pd-other 1.0-2", db: "install ok installed 1.0-1", file: "pd-hello 1.0-1\n"},
		{name: "another version is refused", deb: v2, pkg: "pd-hello", ver: "1.0-3", version: "1.0-1", exit: -1,
			errHas: "not pd-hello 1.0-3", db: "install ok installed 1.0-1", file: "pd-hello 1.0-1\n"},
		{name: "upgrade to 1.0-2", deb: v2, pkg: "pd-hello", ver: "1.0-2", installed: true, version: "1.0-2",
			logHas: "Unpacking pd-hello (1.0-2) over (1.0-1)", db: "install ok installed 1.0-2", file: "pd-hello 1.0-2\n"},
		{name: "older one: nothing to do", deb: v1, pkg: "pd-hello", ver: "1.0-1", installed: true, version: "1.0-2",
			exit: -1, logHas: "nothing to do", db: "install ok installed 1.0-2", file: "pd-hello 1.0-2\n"},
		{name: "postinst asks for a reboot", deb: reboot, pkg: "pd-reboot", ver: "1.0-1", installed: true,
			version: "1.0-1", logHas: "Setting up pd-reboot (1.0-1)", db: "install ok installed 1.0-2",
			file: "pd-hello 1.0-2\n", reboot: true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := d.InstallDeb(context.Background(), s.deb, s.pkg, s.ver)
			t.Logf("result: %+v", r)
			if r.Installed != s.installed || r.Version != s.version || r.ExitCode != s.exit || r.RebootRequired != s.reboot {
				t.Errorf("Installed %v, Version %q, ExitCode %d, RebootRequired %v; want %v, %q, %d, %v",
					r.Installed, r.Version, r.ExitCode, r.RebootRequired, s.installed, s.version, s.exit, s.reboot)
			}
			if (r.Error == "") != (s.errHas == "") || !strings.Contains(r.Error, s.errHas) {
				t.Errorf("Error %q, want one with %q", r.Error, s.errHas)
			}
			if !strings.Contains(r.Log, s.logHas) {
				t.Errorf("Log lacks %q:\n%s", s.logHas, r.Log)
			}
			if got := dbStatus(t, root, "pd-hello"); got != s.db {
				t.Errorf("database: pd-hello %q, want %q", got, s.db)
			}
			got, _ := os.ReadFile(hello)
			if string(got) != s.file {
				t.Errorf("hello.txt holds %q, want %q", got, s.file)
			}
		})
	}
	if hostHas("pd-hello") || hostHas("pd-reboot") {
		t.Error("the host's package database has the test packages")
	}
	if n := countIn("/var/log/dpkg.log", "pd-hello"); n != hostLog {
		t.Errorf("the host's dpkg.log got %d lines about pd-hello", n-hostLog)
	}
	if countIn(filepath.Join(root, "var/log/dpkg.log"), "status installed pd-hello:all 1.0-2") != 1 {
		t.Error("the sandbox's dpkg.log does not record the upgrade")
	}
}

// TestDpkgInstalled reads package states from a hand-written status file with dpkg-query.
func TestDpkgInstalled(t *testing.T) {
	needTools(t, "dpkg-query")
	admin := t.TempDir()
	status := `Package: pd-ok
Status: install ok installed
Architecture: all
Version: 2.0-1

Package: pd-hold
Status: hold ok installed
Architecture: all
Version: 1:3.1

Package: pd-conf
Status: deinstall ok config-files
Architecture: all
Version: 1.0

Package: pd-half
Status: install reinstreq half-installed
Architecture: all
Version: 1.0

Package: pd-unpacked
Status: install ok unpacked
Architecture: all
Version: 1.0

Package: pd-multi
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 1.2

Package: pd-multi
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 1.1
`
	if err := os.WriteFile(filepath.Join(admin, "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	d := Dpkg{AdminDir: admin}
	tests := []struct {
		pkg     string
		version string
		ok      bool
		err     bool
	}{
		{pkg: "pd-ok", version: "2.0-1", ok: true},
		{pkg: "pd-hold", version: "1:3.1", ok: true},
		{pkg: "pd-conf"},
		{pkg: "pd-half"},
		{pkg: "pd-unpacked"},
		{pkg: "pd-multi", version: "1.1", ok: true}, // the lowest of the architectures
		{pkg: "pd-multi:amd64", version: "1.2", ok: true},
		{pkg: "pd-absent"},
		{pkg: "pd-*", err: true},
		{pkg: "--admindir=/", err: true},
	}
	for _, tt := range tests {
		v, ok, err := d.Installed(context.Background(), tt.pkg)
		if v != tt.version || ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("Installed(%q) = %q, %v, %v; want %q, %v, error %v", tt.pkg, v, ok, err, tt.version, tt.ok, tt.err)
		}
	}
}
