//go:build linux

package installer

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	okScript = `#!/bin/sh
echo "installing into $1"
echo installed > "$1/marker"
`
	failScript = `#!/bin/sh
echo "first line"
echo "last words" >&2
exit 3
`
	loudScript = `#!/bin/sh
i=0
while [ $i -lt 3000 ]; do echo "noise line $i ..........................................."; i=$((i+1)); done
echo "the end"
`
	// sleepScript starts a child in the background and waits for it: a timeout must end both.
	sleepScript = `#!/bin/sh
sleep 60 &
echo $! > "$1/child"
wait
`
)

func TestArtifactRun(t *testing.T) {
	script := func(body string) entry { return entry{name: "install.sh", body: body, mode: 0o755} }
	tests := []struct {
		name      string
		archive   func(t *testing.T) []byte
		timeout   time.Duration
		installed bool
		exit      int
		errHas    string
		logSuffix string // the end of Log
		marker    bool
		child     bool // sleepScript's child must be gone
	}{
		{name: "tar.gz", archive: func(t *testing.T) []byte { return tarArchive(t, true, script(okScript)) },
			installed: true, logSuffix: "installing into " + "MARKERDIR\n", marker: true},
		{name: "zip", archive: func(t *testing.T) []byte {
			return zipArchive(t, entry{name: "install.sh", body: okScript, mode: 0o755})
		}, installed: true, logSuffix: "installing into MARKERDIR\n", marker: true},
		{name: "plain tar in a subdirectory", archive: func(t *testing.T) []byte {
			return tarArchive(t, false, entry{name: "pkg/", kind: tar.TypeDir, mode: 0o755},
				entry{name: "pkg/run.sh", body: okScript, mode: 0o755},
				entry{name: "install.sh", body: "#!/bin/sh\nexec ./pkg/run.sh \"$@\"\n", mode: 0o755})
		}, installed: true, logSuffix: "installing into MARKERDIR\n", marker: true},
		{name: "failing script", archive: func(t *testing.T) []byte { return tarArchive(t, true, script(failScript)) },
			exit: 3, errHas: "exit status 3", logSuffix: "first line\nlast words\n"},
		{name: "loud script: the end is kept", archive: func(t *testing.T) []byte { return tarArchive(t, true, script(loudScript)) },
			installed: true, logSuffix: "noise line 2999 ...........................................\nthe end\n"},
		// The timeout leaves a loaded machine time to start sh and its child, and to write
		// the child's pid, before the kill.
		{name: "timeout kills the script and its child", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, script(sleepScript))
		}, timeout: 2 * time.Second, exit: -1, errHas: "timed out after 2s", child: true},
		{name: "dot-dot refused", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, script(okScript), entry{name: "../evil", body: "x"})
		}, exit: -1, errHas: `unsafe archive entry: ".." in path`},
		{name: "symlink leading outside refused", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "lib", body: "../../..", kind: tar.TypeSymlink}, script(okScript))
		}, exit: -1, errHas: "leads outside"},
		{name: "symlink to an absolute path refused", archive: func(t *testing.T) []byte {
			return zipArchive(t, entry{name: "etc", body: "/etc", mode: os.ModeSymlink | 0o777})
		}, exit: -1, errHas: "absolute"},
		{name: "device refused", archive: func(t *testing.T) []byte {
			return tarArchive(t, true, entry{name: "null", kind: tar.TypeChar}, script(okScript))
		}, exit: -1, errHas: "device file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			marker := filepath.Join(base, "markers")
			work := filepath.Join(base, "work")
			if err := os.Mkdir(marker, 0o755); err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(base, "payload.tar.gz") // whatever it really is
			if err := os.WriteFile(archive, tt.archive(t), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := Artifact{WorkDir: work}.Run(context.Background(), archive, []string{"./install.sh", marker}, tt.timeout)
			elapsed := time.Since(start)
			t.Logf("result after %v: %+v", elapsed, r)
			if elapsed > tt.timeout+5*time.Second {
				t.Errorf("Run took %v", elapsed)
			}
			if r.Installed != tt.installed || r.ExitCode != tt.exit {
				t.Errorf("Installed %v, ExitCode %d; want %v, %d", r.Installed, r.ExitCode, tt.installed, tt.exit)
			}
			if (r.Error == "") != (tt.errHas == "") || !strings.Contains(r.Error, tt.errHas) {
				t.Errorf("Error %q, want one with %q", r.Error, tt.errHas)
			}
			if want := strings.ReplaceAll(tt.logSuffix, "MARKERDIR", marker); !strings.HasSuffix(r.Log, want) {
				t.Errorf("Log does not end with %q:\n%s", want, r.Log)
			}
			if len(r.Log) > maxLog {
				t.Errorf("Log has %d bytes, more than %d", len(r.Log), maxLog)
			}
			_, err := os.Stat(filepath.Join(marker, "marker"))
			if got := err == nil; got != tt.marker {
				t.Errorf("marker written: %v, want %v", got, tt.marker)
			}
			if left := listDir(t, work); len(left) != 0 {
				t.Errorf("work directory keeps %q", left)
			}
			if left := listDir(t, base); len(left) != 3 {
				t.Errorf("beside the work directory: %q", left)
			}
			if tt.child {
				b, err := os.ReadFile(filepath.Join(marker, "child"))
				if err != nil {
					t.Fatalf("the script did not start its child: %v", err)
				}
				pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				if !gone(pid, 2*time.Second) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Errorf("the script's child %d survived the timeout", pid)
				}
			}
		})
	}
}

// gone waits until process pid no longer runs: it does not exist or is a zombie waiting for
// a parent that does not reap it (in a container, PID 1 may not).
func gone(pid int, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			// "pid (comm) S ...": the state follows the last ')'.
			if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i:]), ") Z") {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestArtifactRunWithoutCommand(t *testing.T) {
	r := Artifact{WorkDir: t.TempDir()}.Run(context.Background(), "/nonexistent", nil, time.Second)
	if r.Installed || r.ExitCode != -1 || r.Error == "" {
		t.Errorf("%+v", r)
	}
}
