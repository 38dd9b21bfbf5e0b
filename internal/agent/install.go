package agent

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/patchday/patchday/internal/agent/installer"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/version"
)

// Retry backoff after failed installs: 15 minutes, doubling, at most a day.
const (
	retryBase = 15 * time.Minute
	retryMax  = 24 * time.Hour
)

// due says whether an assignment may install now: inside one of its maintenance windows (or
// it has none), or past its deadline; and not while a failed attempt is backing off.
func (a *Agent) due(it protocol.Assignment, now time.Time) (bool, string) {
	if at, ok := a.prog.Attempts[it.UpdateID]; ok && at.Failures > 0 {
		wait := retryBase << min(at.Failures-1, 10)
		if wait > retryMax {
			wait = retryMax
		}
		if now.Before(at.Last.Add(wait)) {
			return false, "retry after " + at.Last.Add(wait).Format(time.RFC3339)
		}
	}
	if it.Deadline != nil && !now.Before(*it.Deadline) {
		return true, ""
	}
	if len(it.Windows) == 0 {
		return true, ""
	}
	for _, w := range it.Windows {
		if !now.Before(w.Start) && now.Before(w.End) {
			return true, ""
		}
	}
	return false, "outside its maintenance windows"
}

// InstallDue installs the accepted assignments that are due and spools their results. It
// returns how many results it spooled.
func (a *Agent) InstallDue(ctx context.Context) (int, error) {
	spooled, err := a.spool.list(1 << 20)
	if err != nil {
		return 0, err
	}
	reported := map[int64]bool{}
	for _, r := range spooled {
		reported[r.UpdateID] = true
	}
	n := 0
	for _, it := range a.prog.Assignments {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if reported[it.UpdateID] {
			continue // its result waits for the server; the next list will not hold it
		}
		now := a.cfg.Now()
		if ok, why := a.due(it, now); !ok {
			a.log.Debug("not due", "update", it.Name, "why", why)
			continue
		}
		r, err := a.install(ctx, it)
		if err != nil {
			return n, err
		}
		n++
		if r.Status == protocol.StatusFailed {
			at := a.prog.Attempts[it.UpdateID]
			at.Failures++
			at.Last, at.Error = r.FinishedAt, r.Error
			a.prog.Attempts[it.UpdateID] = at
		} else {
			delete(a.prog.Attempts, it.UpdateID)
		}
		if err := a.saveProgress(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// install carries out one assignment and spools its result. It marks the install in flight
// once the payload is verified and just before the installer runs, so that an agent killed
// in the middle reports the true state when it starts again.
func (a *Agent) install(ctx context.Context, it protocol.Assignment) (protocol.Result, error) {
	fl := inflight{ResultID: newID(), Sequence: a.prog.Sequence, Assignment: it, StartedAt: a.cfg.Now().UTC()}
	// Already there (installed by hand, or by an install whose result was lost): report it.
	if r, ok := a.alreadyInstalled(ctx, fl); ok {
		a.log.Info("already installed", "update", it.Name, "version", r.Version)
		return r, a.spool.add(r)
	}
	path, err := a.fetch(ctx, it)
	switch {
	case errors.Is(err, installer.ErrDigestMismatch) || errors.Is(err, installer.ErrSizeMismatch):
		// Not what the signed list promised: refused, and reported as a failure.
		a.log.Error("payload refused; nothing installed", "update", it.Name, "err", err)
		r := fl.result(failed(fmt.Errorf("payload refused: %w", err)), a.cfg.Now())
		return r, a.spool.add(r)
	case err != nil:
		// The network or the server: not the update's fault. The partial download stays
		// and resumes at the next cycle.
		return protocol.Result{}, fmt.Errorf("download %s: %w", it.Name, err)
	}
	if path != "" {
		defer os.Remove(path)
	}
	if err := writeJSONFile(a.cfg.inflightPath(), fl, 0o600); err != nil {
		return protocol.Result{}, fmt.Errorf("mark install in flight: %w", err)
	}
	a.log.Info("installing", "update", it.Name, "installer", it.Installer)
	res := a.run(ctx, it, path)
	r := fl.result(res, a.cfg.Now())
	if r.Status == protocol.StatusInstalled {
		a.log.Info("installed", "update", it.Name, "version", r.Version, "reboot_required", r.RebootRequired)
	} else {
		a.log.Warn("install failed", "update", it.Name, "exit_code", r.ExitCode, "error", r.Error)
	}
	if err := a.spool.add(r); err != nil {
		return r, err
	}
	if err := os.Remove(a.cfg.inflightPath()); err != nil {
		return r, fmt.Errorf("clear in-flight mark: %w", err)
	}
	return r, nil
}

// fetch downloads an assignment's payload, if it has one, and verifies its size and
// SHA-256 against the signed list before anything can run it.
func (a *Agent) fetch(ctx context.Context, it protocol.Assignment) (string, error) {
	if it.Payload == nil {
		return "", nil
	}
	u, err := a.payloadURL(it.Payload.URL)
	if err != nil {
		return "", err
	}
	return installer.Fetch(ctx, a.client, u, it.Payload.Digest, it.Payload.Size, a.downloadDir())
}

// run installs a verified payload (path, for deb and artifact) with the assignment's
// installer.
func (a *Agent) run(ctx context.Context, it protocol.Assignment, path string) installer.Result {
	// A stop request (SIGTERM) must not kill dpkg or apt halfway through: the install runs
	// to its end, bounded by the service manager's stop timeout.
	ctx = context.WithoutCancel(ctx)
	switch it.Installer {
	case "deb":
		if runtime.GOOS != "linux" {
			return failed(errors.New("deb updates install on Debian-family Linux only"))
		}
		return a.cfg.Dpkg.InstallDeb(ctx, path, it.Package, it.Version)
	case "apt":
		if runtime.GOOS != "linux" {
			return failed(errors.New("apt updates install on Debian-family Linux only"))
		}
		return installer.Apt{Dpkg: a.cfg.Dpkg, Options: a.cfg.AptOptions}.Upgrade(ctx, it.Package, it.Version)
	case "artifact":
		timeout := time.Duration(it.Timeout) * time.Second
		if timeout <= 0 {
			timeout = 30 * time.Minute
		}
		return installer.Artifact{WorkDir: filepath.Join(a.cfg.StateDir, "work")}.Run(ctx, path, it.Command, timeout)
	default:
		return failed(fmt.Errorf("unknown installer %q; upgrade the agent", it.Installer))
	}
}

func failed(err error) installer.Result {
	return installer.Result{ExitCode: -1, Error: err.Error()}
}

// payloadURL resolves a payload URL against the server's.
func (a *Agent) payloadURL(ref string) (string, error) {
	base, err := url.Parse(a.id.Server + "/")
	if err != nil {
		return "", err
	}
	u, err := base.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("payload URL %q: %w", ref, err)
	}
	return u.String(), nil
}

// alreadyInstalled asks the package database whether a deb or apt assignment is already
// satisfied.
func (a *Agent) alreadyInstalled(ctx context.Context, fl inflight) (protocol.Result, bool) {
	it := fl.Assignment
	if (it.Installer != "deb" && it.Installer != "apt") || it.Package == "" || runtime.GOOS != "linux" {
		return protocol.Result{}, false
	}
	v, ok, err := a.cfg.Dpkg.Installed(ctx, it.Package)
	if err != nil || !ok {
		return protocol.Result{}, false
	}
	if it.Version != "" {
		c, err := version.CompareDebian(v, it.Version)
		if err != nil || c < 0 {
			return protocol.Result{}, false
		}
	}
	return fl.result(installer.Result{Installed: true, Version: v, ExitCode: 0}, a.cfg.Now()), true
}

// Recover finishes the story of an install that a stop interrupted: it reads the package
// database and spools a result that says what is really there.
func (a *Agent) Recover(ctx context.Context) error {
	var fl inflight
	ok, err := readJSONFile(a.cfg.inflightPath(), &fl)
	if err != nil || !ok {
		return err
	}
	if a.spool.has(fl.ResultID) {
		// The result was spooled before the stop: it says what happened.
		return os.Remove(a.cfg.inflightPath())
	}
	r, done := a.alreadyInstalled(ctx, fl)
	if !done {
		r = fl.result(installer.Result{ExitCode: -1,
			Error: "the agent stopped during the install; the package database does not show it installed"}, a.cfg.Now())
	}
	a.log.Warn("an install was interrupted; reporting the state found", "update", fl.Assignment.Name, "status", r.Status)
	if err := a.spool.add(r); err != nil {
		return err
	}
	return os.Remove(a.cfg.inflightPath())
}

// result turns an installer's result into the wire form.
func (fl inflight) result(res installer.Result, now time.Time) protocol.Result {
	r := protocol.Result{ID: fl.ResultID, UpdateID: fl.Assignment.UpdateID, Sequence: fl.Sequence, Status: protocol.StatusFailed,
		Version: res.Version, ExitCode: res.ExitCode, Error: res.Error, Log: res.Log, RebootRequired: res.RebootRequired,
		StartedAt: fl.StartedAt, FinishedAt: now.UTC()}
	if res.Installed {
		r.Status = protocol.StatusInstalled
		if fl.Assignment.Reboot == "always" {
			r.RebootRequired = true
		}
	}
	if len(r.Log) > protocol.MaxResultLog {
		r.Log = r.Log[len(r.Log)-protocol.MaxResultLog:]
	}
	if len(r.Error) > 4096 {
		r.Error = r.Error[:4096]
	}
	return r
}
