package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type agentOptions struct {
	agentBin    string
	patchdayBin string
	payloadMiB  int
	onceRuns    int
	idle        time.Duration
	interval    time.Duration
	keep        bool
}

func runAgent(ctx context.Context, log *slog.Logger, args []string) error {
	var o agentOptions
	fs := flag.NewFlagSet("agentload agent", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: agentload agent -agent BIN -patchday BIN [flags]

Starts "patchday serve" (SQLite in a temporary directory), enrolls the real patchday-agent
with a state directory and a sandboxed dpkg root (--dpkg-root) in the same temporary
directory, and measures:
  - CPU time of "patchday-agent run --once" with nothing to install (user+sys of the process
    and the children it waited for), against /bin/true, "dpkg-query -W" and
    "patchday-agent version" run the same way;
  - resident memory (VmRSS, VmHWM) of "patchday-agent run" idle after its first check-in,
    and its CPU time per check-in over -idle;
  - VmHWM during and after the download and install of a .deb of -payload-mib MiB of random
    bytes into the sandbox root.
Nothing is installed into this machine's package database; the tool checks that its dpkg
status file is unchanged at the end.

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.agentBin, "agent", "", "the patchday-agent binary (go build ./cmd/patchday-agent)")
	fs.StringVar(&o.patchdayBin, "patchday", "", "the patchday binary (go build ./cmd/patchday)")
	fs.IntVar(&o.payloadMiB, "payload-mib", 100, "size of the .deb payload's random content, MiB")
	fs.IntVar(&o.onceRuns, "runs", 20, "measured runs of each command for the CPU time per check-in")
	fs.DurationVar(&o.idle, "idle", 60*time.Second, "how long the running agent is watched idle, for its memory and CPU per check-in")
	fs.DurationVar(&o.interval, "checkin-interval", 10*time.Second, "the server's --checkin-interval (at least 10s)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, state, sandbox root)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.agentBin == "" || o.patchdayBin == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("agent: -agent and -patchday are required, and no arguments")
	}
	if o.onceRuns < 1 || o.payloadMiB < 1 {
		return errors.New("agent: -runs and -payload-mib must be at least 1")
	}
	var err error
	for _, p := range []*string{&o.agentBin, &o.patchdayBin} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}

	hostStatus, err := fileDigest("/var/lib/dpkg/status")
	if err != nil {
		return fmt.Errorf("this machine's dpkg status: %w", err)
	}
	tmp, err := os.MkdirTemp("", "agentload-agent-")
	if err != nil {
		return err
	}
	if o.keep {
		log.Info("keeping the temporary directory", "dir", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	r := &agentRun{o: o, log: log, tmp: tmp, state: filepath.Join(tmp, "state"), root: filepath.Join(tmp, "root")}
	err = r.run(ctx)
	if after, derr := fileDigest("/var/lib/dpkg/status"); derr != nil || after != hostStatus {
		err = errors.Join(err, fmt.Errorf("this machine's /var/lib/dpkg/status changed during the run (%v)", derr))
	}
	if err != nil {
		return err
	}
	r.report(os.Stdout)
	return nil
}

// agentRun is one measurement of the real agent.
type agentRun struct {
	o     agentOptions
	log   *slog.Logger
	tmp   string
	state string // the agent's --state
	root  string // the agent's --dpkg-root: the sandbox
	api   *apiClient

	computerID int64
	agentSize  int64

	once      map[string][]procTimes // command -> measured runs
	onceOrder []string

	idleFirst  procMem // after the first check-in
	idleLater  procMem // at the end of the idle window
	idleCPU    cpuTimes
	idleChecks int

	payloadSize  int64
	toDownload   time.Duration // assignment to the start of the download
	download     time.Duration // while the partial file existed
	install      time.Duration // end of the download to the result on the server
	peakDownload int64         // highest VmRSS seen while the .part file existed, kB
	peakInstall  int64         // highest VmRSS seen afterwards, until installed, kB
	afterInstall procMem       // right after the result was reported
	settled      procMem       // -idle/2 later
}

// procMem is a process's resident memory from /proc/PID/status, kB.
type procMem struct{ rss, hwm int64 }

// procTimes is what a finished process used.
type procTimes struct {
	user, sys time.Duration
	wall      time.Duration
}

func (r *agentRun) run(ctx context.Context) error {
	st, err := os.Stat(r.o.agentBin)
	if err != nil {
		return err
	}
	r.agentSize = st.Size()
	// The sandbox: an empty dpkg database under root. The agent's --dpkg-root points every
	// install there, never at this machine's database.
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/run", "var/log"} {
		if err := os.MkdirAll(filepath.Join(r.root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(r.root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		return err
	}

	base, stop, err := r.startServer(ctx)
	if err != nil {
		return err
	}
	defer stop()
	r.api = &apiClient{base: base, client: &http.Client{Timeout: 10 * time.Minute}}
	if err := r.api.login(ctx); err != nil {
		return err
	}
	token, err := r.api.enrollToken(ctx)
	if err != nil {
		return err
	}
	if out, err := r.agentCmd(ctx, "enroll", "--server", base, "--token", token).CombinedOutput(); err != nil {
		return fmt.Errorf("patchday-agent enroll: %w: %s", err, out)
	}
	var id struct {
		ComputerID int64 `json:"computer_id"`
	}
	if err := readJSON(filepath.Join(r.state, "identity.json"), &id); err != nil {
		return err
	}
	r.computerID = id.ComputerID
	r.log.Info("agent enrolled", "computer_id", r.computerID, "server", base)

	// CPU time per check-in: one-shot cycles with nothing to install. They go first, while
	// the computer's check-in budget on the server (a burst of 30) is fresh.
	if err := r.measureOnce(ctx); err != nil {
		return err
	}

	// The running agent: memory after its first check-in and while idle.
	before, err := r.lastCheckIn()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(r.tmp, "agent.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	agent := r.agentCmd(context.WithoutCancel(ctx), "run", "--log-level", "info")
	agent.Stdout, agent.Stderr = logf, logf
	if err := agent.Start(); err != nil {
		return fmt.Errorf("start patchday-agent run: %w", err)
	}
	defer stopProcess(agent, 30*time.Second)
	pid := agent.Process.Pid
	first, err := r.waitCheckIn(ctx, before, time.Minute)
	if err != nil {
		return err
	}
	sleep(ctx, 2*time.Second)
	if r.idleFirst, err = readMem(pid); err != nil {
		return err
	}
	r.log.Info("first check-in", "VmRSS_kB", r.idleFirst.rss, "VmHWM_kB", r.idleFirst.hwm)
	cpu0, err := readCPU(pid)
	if err != nil {
		return err
	}
	last := first
	end := time.Now().Add(r.o.idle)
	for time.Now().Before(end) && ctx.Err() == nil {
		sleep(ctx, 200*time.Millisecond)
		t, err := r.lastCheckIn()
		if err == nil && t != nil && !t.Equal(*last) {
			r.idleChecks++
			last = t
		}
	}
	cpu1, err := readCPU(pid)
	if err != nil {
		return err
	}
	r.idleCPU = cpu1.sub(cpu0)
	if r.idleLater, err = readMem(pid); err != nil {
		return err
	}
	r.log.Info("idle", "checkins", r.idleChecks, "cpu", r.idleCPU.own, "children_cpu", r.idleCPU.children, "VmRSS_kB", r.idleLater.rss, "VmHWM_kB", r.idleLater.hwm)

	// A large payload: download, verification and install into the sandbox.
	if err := r.measurePayload(ctx, pid); err != nil {
		return err
	}
	return ctx.Err()
}

// startServer runs `patchday serve` on a free loopback port with its data in tmp.
func (r *agentRun) startServer(ctx context.Context) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(r.tmp, "serve.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(r.o.patchdayBin, "serve", "--data", filepath.Join(r.tmp, "data"), "--listen", addr,
		"--checkin-interval", r.o.interval.String(), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "PATCHDAY_ADMIN_PASSWORD="+adminPassword)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", nil, fmt.Errorf("start patchday serve: %w", err)
	}
	stop := func() {
		stopProcess(cmd, 30*time.Second)
		logf.Close()
	}
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base, stop, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("patchday serve did not become ready at %s (see %s)", base, logf.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// agentCmd is patchday-agent with the state directory and the sandbox root.
func (r *agentRun) agentCmd(ctx context.Context, args ...string) *exec.Cmd {
	if r.root == "" || r.root == "/" {
		panic("agentload: no sandbox root") // never aim the agent at the machine's own packages
	}
	return exec.CommandContext(ctx, r.o.agentBin, slices.Concat(args, []string{"--state", r.state, "--dpkg-root", r.root})...)
}

// measureOnce runs the one-shot agent cycle and the baseline commands, each -runs times
// after one unmeasured run.
func (r *agentRun) measureOnce(ctx context.Context) error {
	r.once = map[string][]procTimes{}
	cmds := []struct {
		name string
		cmd  func() *exec.Cmd
	}{
		{"patchday-agent run --once", func() *exec.Cmd { return r.agentCmd(ctx, "run", "--once", "--log-level", "warn") }},
		{"patchday-agent version", func() *exec.Cmd { return exec.CommandContext(ctx, r.o.agentBin, "version") }},
		{"dpkg-query -W", func() *exec.Cmd { return exec.CommandContext(ctx, "dpkg-query", "-W") }},
		{"/bin/true", func() *exec.Cmd { return exec.CommandContext(ctx, "/bin/true") }},
	}
	for _, c := range cmds {
		r.onceOrder = append(r.onceOrder, c.name)
		for i := range r.o.onceRuns + 1 {
			cmd := c.cmd()
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			t0 := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w: %s", c.name, err, stderr.Bytes())
			}
			wall := time.Since(t0)
			if i == 0 {
				continue // the first run warms the page cache
			}
			pt := procTimes{user: cmd.ProcessState.UserTime(), sys: cmd.ProcessState.SystemTime(), wall: wall}
			r.once[c.name] = append(r.once[c.name], pt)
		}
		m := meanTimes(r.once[c.name])
		r.log.Info("one-shot runs", "command", c.name, "runs", r.o.onceRuns, "cpu_mean", m.user+m.sys, "wall_mean", m.wall)
	}
	return nil
}

// measurePayload builds and uploads a .deb, assigns it and watches the running agent (pid)
// download and install it.
func (r *agentRun) measurePayload(ctx context.Context, pid int) error {
	const pkg, version = "agentload-payload", "1.0-1"
	deb, err := buildDeb(ctx, r.tmp, pkg, version, int64(r.o.payloadMiB)<<20)
	if err != nil {
		return err
	}
	f, err := os.Open(deb)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	r.payloadSize = st.Size()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, r.api.base+"/api/v1/orgs/default/payloads?filename="+pkg+".deb", f)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	var payload struct {
		SHA256 string `json:"sha256"`
	}
	if err := r.api.do(req, http.StatusCreated, &payload); err != nil {
		return fmt.Errorf("upload payload: %w", err)
	}
	update := map[string]any{"name": pkg, "title": "agentload payload of " + strconv.Itoa(r.o.payloadMiB) + " MiB",
		"classification": "security",
		"applicability":  map[string]any{"purl": "pkg:deb/debian/" + pkg, "vers": "vers:deb/<" + version},
		"installer":      map[string]any{"type": "deb", "payload": payload.SHA256}}
	if err := r.api.call(ctx, http.MethodPost, "/api/v1/orgs/default/updates", update, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("create update: %w", err)
	}
	part := filepath.Join(r.state, "downloads", payload.SHA256+".part")
	t0 := time.Now()
	if err := r.api.call(ctx, http.MethodPut, fmt.Sprintf("/api/v1/orgs/default/computers/%d/assignments/%s", r.computerID, pkg),
		map[string]any{}, http.StatusOK, nil); err != nil {
		return fmt.Errorf("assign: %w", err)
	}
	r.log.Info("assigned", "payload_bytes", r.payloadSize, "sha256", payload.SHA256)

	// Watch memory until the server has the result; the agent checks in within an interval.
	timeout := time.Now().Add(2*r.o.interval + 5*time.Minute)
	var partStart, partEnd, lastPoll time.Time
	for {
		if ctx.Err() != nil || time.Now().After(timeout) {
			return fmt.Errorf("the agent did not report the install in time (see %s)", filepath.Join(r.tmp, "agent.log"))
		}
		m, err := readMem(pid)
		if err != nil {
			return fmt.Errorf("the running agent: %w", err)
		}
		if _, err := os.Stat(part); err == nil {
			if partStart.IsZero() {
				partStart = time.Now()
			}
			r.peakDownload = max(r.peakDownload, m.rss)
		} else if !partStart.IsZero() {
			if partEnd.IsZero() {
				partEnd = time.Now()
			}
			r.peakInstall = max(r.peakInstall, m.rss)
		}
		if time.Since(lastPoll) >= 250*time.Millisecond {
			lastPoll = time.Now()
			state, err := r.updateState(ctx, pkg)
			if err != nil {
				return err
			}
			if state == "installed" {
				if partEnd.IsZero() {
					return errors.New("the download was not seen: no partial file appeared in the state directory")
				}
				r.toDownload, r.download, r.install = partStart.Sub(t0), partEnd.Sub(partStart), time.Since(partEnd)
				break
			}
			if state == "failed" {
				return fmt.Errorf("the install failed on the agent (see %s)", filepath.Join(r.tmp, "agent.log"))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.afterInstall, err = readMem(pid); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "dpkg-query", "--admindir="+filepath.Join(r.root, "var/lib/dpkg"),
		"-W", "-f=${Status} ${Version}", pkg).Output(); err != nil || string(out) != "install ok installed "+version {
		return fmt.Errorf("the sandbox database does not show %s %s installed: %q, %v", pkg, version, out, err)
	}
	r.log.Info("installed", "download", r.download.Round(time.Millisecond), "install", r.install.Round(time.Millisecond), "VmRSS_kB", r.afterInstall.rss, "VmHWM_kB", r.afterInstall.hwm)
	sleep(ctx, r.o.idle/2)
	r.settled, err = readMem(pid)
	return err
}

// updateState is where the update stands on the agent's computer, as the server sees it.
func (r *agentRun) updateState(ctx context.Context, name string) (string, error) {
	var comp struct {
		Updates []struct {
			Update string `json:"update"`
			State  string `json:"state"`
		} `json:"updates"`
	}
	if err := r.api.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/orgs/default/computers/%d", r.computerID), nil, http.StatusOK, &comp); err != nil {
		return "", err
	}
	for _, u := range comp.Updates {
		if u.Update == name {
			return u.State, nil
		}
	}
	return "", nil
}

// lastCheckIn reads the time of the agent's last answered check-in from its state.
func (r *agentRun) lastCheckIn() (*time.Time, error) {
	var p struct {
		LastCheckIn *time.Time `json:"last_checkin"`
	}
	err := readJSON(filepath.Join(r.state, "progress.json"), &p)
	return p.LastCheckIn, err
}

// waitCheckIn waits until the agent's last check-in is set and differs from before.
func (r *agentRun) waitCheckIn(ctx context.Context, before *time.Time, timeout time.Duration) (*time.Time, error) {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) && ctx.Err() == nil {
		if t, err := r.lastCheckIn(); err == nil && t != nil && (before == nil || !t.Equal(*before)) {
			return t, nil
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return nil, fmt.Errorf("the agent did not check in within %s (see %s)", timeout, filepath.Join(r.tmp, "agent.log"))
}

// buildDeb builds dir/<pkg>_<version>_all.deb holding size random bytes, uncompressed so
// that dpkg-deb is quick and the payload is as large as its content.
func buildDeb(ctx context.Context, dir, pkg, version string, size int64) (string, error) {
	tree := filepath.Join(dir, "deb", pkg)
	if err := os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(tree, "usr/share", pkg), 0o755); err != nil {
		return "", err
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: agentload <agentload@example.invalid>\n"+
		"Description: random bytes for the agent benchmark\n", pkg, version)
	if err := os.WriteFile(filepath.Join(tree, "DEBIAN/control"), []byte(control), 0o644); err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(tree, "usr/share", pkg, "random.bin"))
	if err != nil {
		return "", err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return "", fmt.Errorf("payload content: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "deb", fmt.Sprintf("%s_%s_all.deb", pkg, version))
	if b, err := exec.CommandContext(ctx, "dpkg-deb", "--root-owner-group", "-Znone", "--build", tree, out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb --build: %w: %s", err, b)
	}
	return out, os.RemoveAll(tree)
}

// readMem reads VmRSS and VmHWM of a process.
func readMem(pid int) (procMem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	defer f.Close()
	var m procMem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.rss
		case "VmHWM":
			dst = &m.hwm
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		*dst = n
	}
	return m, sc.Err()
}

// cpuTimes is the CPU time a running process has used so far.
type cpuTimes struct {
	own      time.Duration // its threads, from /proc/PID/task/*/schedstat (nanoseconds)
	children time.Duration // the children it waited for, cutime+cstime of /proc/PID/stat (clock ticks)
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes {
	return cpuTimes{own: a.own - b.own, children: a.children - b.children}
}

// readCPU reads the CPU time of a process's threads and of the children it has waited for.
func readCPU(pid int) (cpuTimes, error) {
	var t cpuTimes
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return t, fmt.Errorf("/proc/%d/task: no threads (%v)", pid, err)
	}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // a thread that just ended
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			return t, fmt.Errorf("%s: empty", p)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return t, fmt.Errorf("%s: %w", p, err)
		}
		t.own += time.Duration(ns)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return t, err
	}
	// The command name may hold spaces; the fields after it are space-separated.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return t, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return t, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[13:15] { // fields 16 and 17 of proc(5): cutime, cstime
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return t, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	t.children = time.Duration(ticks) * time.Second / clockTicks()
	return t, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat times.
func clockTicks() time.Duration {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return time.Duration(n)
		}
	}
	return 100
}

func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

func meanTimes(ts []procTimes) procTimes {
	var m procTimes
	for _, t := range ts {
		m.user += t.user
		m.sys += t.sys
		m.wall += t.wall
	}
	if n := len(ts); n > 0 {
		m.user /= time.Duration(n)
		m.sys /= time.Duration(n)
		m.wall /= time.Duration(n)
	}
	return m
}

func (r *agentRun) report(w io.Writer) {
	mib := func(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
	fmt.Fprintf(w, "patchday-agent resources (%s, %s/%s, binary %.1f MiB, server --checkin-interval %s)\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, float64(r.agentSize)/(1<<20), r.o.interval)
	fmt.Fprintf(w, "\nCPU time per run, mean of %d runs (user+sys of the process and the children it waited for):\n", r.o.onceRuns)
	for _, name := range r.onceOrder {
		m := meanTimes(r.once[name])
		var lo, hi time.Duration = 1 << 62, 0
		for _, t := range r.once[name] {
			lo, hi = min(lo, t.user+t.sys), max(hi, t.user+t.sys)
		}
		fmt.Fprintf(w, "  %-28s %7.1f ms (user %.1f, sys %.1f; min %.1f, max %.1f), wall %.1f ms\n", name,
			msf(m.user+m.sys), msf(m.user), msf(m.sys), msf(lo), msf(hi), msf(m.wall))
	}
	fmt.Fprintf(w, "\npatchday-agent run (the service):\n")
	line := func(label, format string, a ...any) {
		fmt.Fprintf(w, "  %-44s "+format+"\n", append([]any{label + ":"}, a...)...)
	}
	mem := func(m procMem) string { return "VmRSS " + mib(m.rss) + ", VmHWM " + mib(m.hwm) }
	line("2 s after its first check-in", "%s", mem(r.idleFirst))
	line(fmt.Sprintf("after %s idle (%d check-ins)", r.o.idle, r.idleChecks), "%s", mem(r.idleLater))
	if n := float64(r.idleChecks); n > 0 {
		line("CPU time per check-in while idle", "%.1f ms (its threads %.1f ms, the commands it ran %.1f ms, counted in 10 ms ticks)",
			msf(r.idleCPU.own+r.idleCPU.children)/n, msf(r.idleCPU.own)/n, msf(r.idleCPU.children)/n)
	}
	line(fmt.Sprintf("payload of %.1f MiB", float64(r.payloadSize)/(1<<20)), "download began %.1f s after the assignment (at the next check-in), took %.2f s; install and report took %.2f s more",
		r.toDownload.Seconds(), r.download.Seconds(), r.install.Seconds())
	line("highest VmRSS seen during the download", "%s", mib(r.peakDownload))
	line("highest VmRSS seen during install and report", "%s", mib(r.peakInstall))
	line("right after the install", "%s", mem(r.afterInstall))
	line(fmt.Sprintf("%s later", r.o.idle/2), "%s", mem(r.settled))
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
