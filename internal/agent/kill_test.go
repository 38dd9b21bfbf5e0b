package agent_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/agent"
)

var (
	agentBinOnce sync.Once
	agentBin     string
	agentBinErr  error
)

// agentBinary builds patchday-agent once for the tests that kill it.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "patchday-agent-bin")
		if err != nil {
			agentBinErr = err
			return
		}
		agentBin = filepath.Join(dir, "patchday-agent")
		out, err := exec.Command("go", "build", "-o", agentBin, "github.com/patchday/patchday/cmd/patchday-agent").CombinedOutput()
		if err != nil {
			agentBinErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if agentBinErr != nil {
		t.Fatal(agentBinErr)
	}
	return agentBin
}

// startAgent runs `patchday-agent run --once` on the machine's state and sandbox root, in
// its own process group so that a kill takes its dpkg along, as a power cut would.
func startAgent(t *testing.T, m *machine) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(agentBinary(t), "run", "--once", "--state", m.cfg.StateDir, "--dpkg-root", m.root, "--log-level", "debug")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(t.TempDir(), "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	return cmd
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func runAgentOnce(t *testing.T, m *machine) string {
	t.Helper()
	out, err := exec.Command(agentBinary(t), "run", "--once", "--state", m.cfg.StateDir, "--dpkg-root", m.root).CombinedOutput()
	if err != nil {
		t.Fatalf("patchday-agent run --once: %v\n%s", err, out)
	}
	return string(out)
}

// Killed in the middle of a download, the agent resumes it where it stopped.
func TestKilledDuringDownloadResumes(t *testing.T) {
	f := newFleet(t)
	m := newMachine(t, "h")
	m.preinstall(t, "pd-big")
	a := enroll(t, f, m)
	st, _ := a.Status()
	// 2 MiB of incompressible content: the trickle takes over a second.
	big := make([]byte, 2<<20)
	rand.Read(big)
	deb := buildDebWith(t, "pd-big", "1.0-1", map[string][]byte{"usr/share/pd-big/blob": big})
	f.debUpdate("pd-big-1", deb, "pd-big", "1.0-1")
	f.assign(st.ComputerID, "pd-big-1")
	f.slow.Store(true)

	cmd := startAgent(t, m)
	downloads := filepath.Join(m.cfg.StateDir, "downloads")
	var partSize int64
	waitFor(t, "a partial download", func() bool {
		parts, _ := filepath.Glob(filepath.Join(downloads, "*.part"))
		if len(parts) == 1 {
			if fi, err := os.Stat(parts[0]); err == nil && fi.Size() > 256<<10 {
				partSize = fi.Size()
				return true
			}
		}
		return false
	})
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	f.slow.Store(false)

	runAgentOnce(t, m)
	if v := m.installed(t, "pd-big"); v != "1.0-1" {
		t.Fatalf("pd-big %q after the resumed run", v)
	}
	f.mu.Lock()
	ranges := append([]string(nil), f.ranges...)
	f.mu.Unlock()
	if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") {
		t.Fatalf("payload requests with Range %q, want a full one then a resumed one", ranges)
	}
	var from int64
	fmt.Sscanf(ranges[1], "bytes=%d-", &from)
	if from < partSize {
		t.Errorf("resumed from byte %d, but %d bytes were on disk at the kill", from, partSize)
	}
	if d := f.computer(st.ComputerID); len(d.Results) != 1 || d.Results[0].Status != "installed" {
		t.Errorf("results %+v", d.Results)
	}
}

// Killed in the middle of an install (with its dpkg, as a power cut would), the agent
// reports at its next start what the package database says, then installs again.
func TestKilledDuringInstallReportsTrueState(t *testing.T) {
	f := newFleet(t)
	m := newMachine(t, "h")
	m.preinstall(t, "pd-slow")
	a := enroll(t, f, m)
	st, _ := a.Status()
	os.WriteFile(filepath.Join(m.root, "slow"), nil, 0o644)
	deb := buildDeb(t, "pd-slow", "1.0-1", `if [ -e "$DPKG_ROOT/slow" ]; then touch "$DPKG_ROOT/in-postinst"; sleep 60; fi`)
	f.debUpdate("pd-slow-1", deb, "pd-slow", "1.0-1")
	f.assign(st.ComputerID, "pd-slow-1")

	cmd := startAgent(t, m)
	waitFor(t, "the postinst to run", func() bool {
		_, err := os.Stat(filepath.Join(m.root, "in-postinst"))
		return err == nil
	})
	// A power cut: the agent, and dpkg with its maintainer script (dpkg runs in a process
	// group of its own) all stop at once.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	killSandboxDpkg(t, m)
	if v := m.installed(t, "pd-slow"); v != "" {
		t.Fatalf("the package database says %q installed after a kill in postinst", v)
	}
	a2, err := agent.Open(m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := a2.Status(); s.Interrupted != "pd-slow-1" {
		t.Fatalf("status after the kill: %+v", s)
	}

	os.Remove(filepath.Join(m.root, "slow"))
	out := runAgentOnce(t, m)
	if v := m.installed(t, "pd-slow"); v != "1.0-1" {
		t.Fatalf("pd-slow %q after the next run:\n%s", v, out)
	}
	d := f.computer(st.ComputerID)
	if len(d.Results) != 2 {
		t.Fatalf("results %+v, want the interrupted attempt and the install", d.Results)
	}
	// Newest first: the install, then the interrupted attempt as the database showed it.
	if d.Results[0].Status != "installed" || d.Results[1].Status != "failed" || !strings.Contains(d.Results[1].Error, "stopped during the install") {
		t.Errorf("results %+v", d.Results)
	}
	if d.Updates[0].State != "installed" {
		t.Errorf("state %s", d.Updates[0].State)
	}
}

// A revoked agent is refused, and says why.
func TestRevokedAgent(t *testing.T) {
	f := newFleet(t)
	m := newMachine(t, "h")
	a := enroll(t, f, m)
	st, _ := a.Status()
	f.call("POST", fmt.Sprintf("/api/v1/orgs/acme/computers/%d/revoke", st.ComputerID), f.admin, nil, 200, nil)
	_, err := a.RunOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "agent_revoked") {
		t.Fatalf("RunOnce after revocation: %v", err)
	}
	if st, _ = a.Status(); !strings.Contains(st.LastError, "revoked") {
		t.Errorf("status does not say why: %q", st.LastError)
	}
}

// killSandboxDpkg kills the process groups of the dpkg processes working on m's root.
func killSandboxDpkg(t *testing.T, m *machine) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "--root="+m.root) {
			continue
		}
		var pid int
		fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
		if pgid, err := syscall.Getpgid(pid); err == nil {
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	waitFor(t, "dpkg to die", func() bool {
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "--root="+m.root) {
				return false
			}
		}
		return true
	})
}
