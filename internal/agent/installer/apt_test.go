//go:build linux

package installer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sandboxApt makes an Apt that works on the sandbox root with a local repository holding
// the given .deb files, and touches nothing of the host's apt or dpkg state:
//   - APT_CONFIG names a configuration file that points apt's configuration directories at
//     empty ones, so the host's /etc/apt/apt.conf.d (hooks such as Post-Invoke) is not read;
//   - the -o Options put the sources list, lists, cache, state and logs in the sandbox and
//     run the file: method as root (its usual _apt user cannot read a 0700 test directory);
//   - Dpkg.Root gives apt the sandbox's status file and dpkg's --root options.
func sandboxApt(t *testing.T, root string, debs ...string) Apt {
	t.Helper()
	repo := t.TempDir()
	for _, deb := range debs {
		b, err := os.ReadFile(deb)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, filepath.Base(deb)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scan := exec.Command("dpkg-scanpackages", "--multiversion", ".", "/dev/null")
	scan.Dir = repo
	out, err := scan.Output()
	if err != nil {
		t.Fatalf("dpkg-scanpackages: %v", err)
	}
	if err := os.WriteFile(filepath.Join(repo, "Packages"), out, 0o644); err != nil {
		t.Fatal(err)
	}

	a := t.TempDir()
	for _, d := range []string{"empty", "state/lists/partial", "cache/archives/partial", "log"} {
		if err := os.MkdirAll(filepath.Join(a, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) string {
		p := filepath.Join(a, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sources := write("sources.list", fmt.Sprintf("deb [trusted=yes] file:%s ./\n", repo))
	empty := filepath.Join(a, "empty")
	conf := write("apt.conf", fmt.Sprintf(`Dir::Etc::Parts %q;
Dir::Etc::Main "/dev/null";
Dir::Etc::PreferencesParts %q;
Dir::Etc::Preferences %q;
`, empty, empty, filepath.Join(a, "preferences")))
	return Apt{
		Dpkg: Dpkg{Root: root, Env: []string{"APT_CONFIG=" + conf}},
		Options: []string{
			"Dir::Etc::SourceList=" + sources,
			"Dir::Etc::SourceParts=" + empty,
			"Dir::State=" + filepath.Join(a, "state"),
			"Dir::State::Lists=" + filepath.Join(a, "state/lists"),
			"Dir::Cache=" + filepath.Join(a, "cache"),
			"Dir::Log=" + filepath.Join(a, "log"),
			"APT::Sandbox::User=root",
		},
	}
}

// TestAptUpgrade upgrades pd-hello in a sandbox from a local repository, step by step.
func TestAptUpgrade(t *testing.T) {
	needTools(t, "apt-get", "apt-cache", "dpkg", "dpkg-deb", "dpkg-query", "dpkg-scanpackages")
	debs := t.TempDir()
	v1 := buildDeb(t, debs, "pd-hello", "1.0-1", "")
	v2 := buildDeb(t, debs, "pd-hello", "1.0-2", "")
	root := newRoot(t)
	if r := (Dpkg{Root: root}).InstallDeb(context.Background(), v1, "pd-hello", "1.0-1"); !r.Installed {
		t.Fatalf("installing 1.0-1 into the sandbox: %+v", r)
	}
	apt := sandboxApt(t, root, v1, v2)
	hello := filepath.Join(root, "usr/share/pd-hello/hello.txt")
	hostLogs := map[string]int{}
	for _, f := range []string{"/var/log/dpkg.log", "/var/log/apt/history.log", "/var/log/apt/term.log"} {
		hostLogs[f] = countIn(f, "pd-hello")
	}

	steps := []struct {
		name, pkg, min string
		installed      bool
		version        string
		exit           int
		errHas, logHas string
		db, file       string
		interrupted    bool // dpkg's journal holds an entry, as after a power cut mid-install
	}{
		{name: "repository offers less", pkg: "pd-hello", min: "2.0-1", version: "1.0-1", exit: -1,
			errHas: "repository offers only pd-hello 1.0-2", logHas: "Candidate: 1.0-2",
			db: "install ok installed 1.0-1", file: "pd-hello 1.0-1\n"},
		{name: "not installed is not installed", pkg: "pd-absent", min: "1.0", exit: -1,
			errHas: "pd-absent is not installed", db: "install ok installed 1.0-1", file: "pd-hello 1.0-1\n"},
		{name: "upgrade to 1.0-2 after an interrupted dpkg run", pkg: "pd-hello", min: "1.0-2", installed: true, version: "1.0-2",
			logHas: "Setting up pd-hello (1.0-2)", db: "install ok installed 1.0-2", file: "pd-hello 1.0-2\n", interrupted: true},
		{name: "already there", pkg: "pd-hello", min: "1.0-1", installed: true, version: "1.0-2", exit: -1,
			logHas: "nothing to do", db: "install ok installed 1.0-2", file: "pd-hello 1.0-2\n"},
		{name: "now offers nothing newer", pkg: "pd-hello", min: "1.0-3", version: "1.0-2", exit: -1,
			errHas: "repository offers only pd-hello 1.0-2, 1.0-3 is needed", db: "install ok installed 1.0-2",
			file: "pd-hello 1.0-2\n"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.interrupted {
				journal := "Package: pd-hello\nStatus: install ok half-configured\nArchitecture: all\nVersion: 1.0-1\nMaintainer: t <t@example.org>\nDescription: d\n"
				if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/updates/0001"), []byte(journal), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := apt.Upgrade(context.Background(), s.pkg, s.min)
			t.Logf("result: %+v", r)
			if r.Installed != s.installed || r.Version != s.version || r.ExitCode != s.exit {
				t.Errorf("Installed %v, Version %q, ExitCode %d; want %v, %q, %d",
					r.Installed, r.Version, r.ExitCode, s.installed, s.version, s.exit)
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
			if got, _ := os.ReadFile(hello); string(got) != s.file {
				t.Errorf("hello.txt holds %q, want %q", got, s.file)
			}
		})
	}
	if hostHas("pd-hello") {
		t.Error("the host's package database has pd-hello")
	}
	for f, n := range hostLogs {
		if got := countIn(f, "pd-hello"); got != n {
			t.Errorf("the host's %s got %d lines about pd-hello", f, got-n)
		}
	}
}
