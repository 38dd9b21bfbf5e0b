package installer

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/patchday/patchday/internal/version"
)

// Apt upgrades a package to at least a version from the machine's configured repositories.
type Apt struct {
	Dpkg
	// Options are extra apt settings, each "Name=Value", passed as "-o Name=Value" after the
	// package's own (so they win): a sandbox's Dir::Etc::SourceList, Dir::State,
	// Dir::Cache, Dir::Log, ... The dpkg database and dpkg's options follow from Dpkg.
	Options []string
}

// options are apt's command-line options: quiet, plain output for the log, waiting for a
// dpkg lock held by someone else (unattended-upgrades) instead of failing, keeping changed
// configuration files, and aiming apt and the dpkg it runs at Dpkg's system.
func (a Apt) options() []string {
	o := []string{"-q",
		"-o", "APT::Color=0",
		"-o", "Dpkg::Use-Pty=0",
		"-o", "DPkg::Lock::Timeout=120",
		"-o", "DPkg::Options::=--force-confold",
		"-o", "DPkg::Options::=--force-confdef",
	}
	if ad := a.adminDir(); ad != "" {
		// apt reads the installed packages, and takes dpkg's lock, where the status file is.
		o = append(o, "-o", "Dir::State::status="+filepath.Join(ad, "status"))
	}
	for _, d := range a.Dpkg.options() {
		o = append(o, "-o", "DPkg::Options::="+d)
	}
	for _, s := range a.Options {
		o = append(o, "-o", s)
	}
	return o
}

func (a Apt) command(tool string, args ...string) []string {
	return append(append([]string{tool}, a.options()...), args...)
}

// Upgrade refreshes the package lists (apt-get update), then upgrades pkg to the
// repositories' candidate (apt-get install --only-upgrade) when that is at least
// minVersion, and checks the database afterwards. A package that is not installed is not
// installed by an upgrade; when pkg is already at minVersion or later nothing runs.
// A failing source in apt-get update is only a warning to apt: the candidate check after it
// tells whether the sources that worked are enough.
func (a Apt) Upgrade(ctx context.Context, pkg, minVersion string) Result {
	log := newTail(maxLog)
	if err := checkPackage(pkg); err != nil {
		return failed(err.Error(), nil)
	}
	if err := a.prepare(); err != nil {
		return failed(err.Error(), log)
	}
	// First, so that a package left half configured counts as what it is once finished.
	if err := a.finishInterrupted(ctx, log); err != nil {
		return failed(err.Error(), log)
	}
	have, err := a.current(ctx, pkg, minVersion)
	if err != nil {
		return failed(err.Error(), nil)
	}
	if r, done := have.result(a.Root, log); done {
		return r
	}
	if have.version == "" {
		return failed(pkg+" is not installed; an apt update only upgrades installed packages", log)
	}
	env := a.environ()
	update := packageCommand(ctx, env, a.command("apt-get", "update")...)
	if code, err := run(update, log, []string{"apt-get", "update"}); err != nil {
		r := have.failed(err.Error(), log)
		r.ExitCode = code
		return r
	}
	candidate, err := a.candidate(ctx, pkg, log)
	if err != nil {
		return have.failed(err.Error(), log)
	}
	if candidate == "" {
		return have.failed("the repositories do not offer "+pkg, log)
	}
	if c, err := version.CompareDebian(candidate, minVersion); err != nil || c < 0 {
		// Installing it would not fix what the job is about.
		return have.failed(fmt.Sprintf("repository offers only %s %s, %s is needed", pkg, candidate, minVersion), log)
	}
	argv := []string{"install", "-y", "--only-upgrade", pkg}
	install := packageCommand(ctx, env, a.command("apt-get", argv...)...)
	code, runErr := run(install, log, append([]string{"apt-get"}, argv...))
	return a.verify(ctx, pkg, minVersion, code, runErr, log)
}

// candidate is the version apt would install for pkg ("" for none), from apt-cache policy
// in the C locale so that its labels can be read.
func (a Apt) candidate(ctx context.Context, pkg string, log *tailBuffer) (string, error) {
	cmd := packageCommand(ctx, environ(slices.Concat(a.Env, []string{"LC_ALL=C"})...), a.command("apt-cache", "policy", pkg)...)
	var out bytes.Buffer
	fmt.Fprintf(log, "$ apt-cache policy %s\n", pkg)
	cmd.Stdout, cmd.Stderr = &out, log
	err := cmd.Run()
	log.Write(out.Bytes())
	if err != nil {
		return "", fmt.Errorf("apt-cache policy %s: %w", pkg, err)
	}
	for line := range strings.Lines(out.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok {
			if v = strings.TrimSpace(v); v != "(none)" {
				return v, nil
			}
			return "", nil
		}
	}
	return "", nil
}
