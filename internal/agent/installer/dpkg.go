package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/patchday/patchday/internal/debpkg"
	"github.com/patchday/patchday/internal/version"
)

// Dpkg installs .deb files and reads the package database.
type Dpkg struct {
	// Root is "" for the running system, or another root directory (a sandbox in tests).
	// Under a Root, maintainer scripts run chrootless with the host's shell and
	// DPKG_ROOT=Root (see options).
	Root     string
	AdminDir string   // the package database; default <Root>/var/lib/dpkg
	Env      []string // extra environment; DEBIAN_FRONTEND=noninteractive is always set
}

// packageName is what dpkg accepts as a package name (Debian policy 5.6.1), with an
// optional architecture qualifier. Checking it keeps names from being read as options or
// dpkg-query patterns.
var packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`)

func checkPackage(pkg string) error {
	if !packageName.MatchString(pkg) {
		return fmt.Errorf("invalid package name %q", pkg)
	}
	return nil
}

func (d Dpkg) adminDir() string {
	if d.AdminDir != "" {
		return d.AdminDir
	}
	if d.Root != "" {
		return filepath.Join(d.Root, "var", "lib", "dpkg")
	}
	return "" // dpkg's own default
}

// options are the dpkg options that aim it at d's system.
//
// --root=R makes dpkg install under R and read the database in R/var/lib/dpkg (a later
// --admindir overrides that). It also chroots into R to run maintainer scripts, which needs
// a shell and the scripts' tools inside R: a sandbox has none, so the scripts run
// chrootless (--force-script-chrootless) with the host's /bin/sh, and dpkg hands them
// DPKG_ROOT=R, which Debian's maintainer scripts prefix to the paths they touch.
// dpkg's log file comes from the host's /etc/dpkg/dpkg.cfg and is not rerooted, so it is
// pointed into R as well.
func (d Dpkg) options() []string {
	var o []string
	if d.Root != "" {
		o = append(o, "--root="+d.Root, "--force-script-chrootless",
			"--log="+filepath.Join(d.Root, "var", "log", "dpkg.log"))
	}
	if d.AdminDir != "" {
		o = append(o, "--admindir="+d.AdminDir)
	}
	return o
}

// prepare creates the directories dpkg writes into under Root and that a fresh sandbox may
// lack.
func (d Dpkg) prepare() error {
	if d.Root == "" {
		return nil
	}
	for _, dir := range []string{filepath.Join(d.Root, "var", "log"), filepath.Join(d.adminDir(), "updates"),
		filepath.Join(d.adminDir(), "info")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("preparing root: %w", err)
		}
	}
	return nil
}

func (d Dpkg) environ() []string {
	extra := []string{"DEBIAN_FRONTEND=noninteractive", "APT_LISTCHANGES_FRONTEND=none"}
	return environ(append(extra, d.Env...)...)
}

// Installed returns the version of pkg when dpkg's database has it installed: the status
// is "<selection> ok installed" (a package on hold or selected for removal is still
// installed; half-installed, unpacked, config-files and failed states are not). With several
// architectures of pkg installed, it returns the lowest version.
func (d Dpkg) Installed(ctx context.Context, pkg string) (string, bool, error) {
	if err := checkPackage(pkg); err != nil {
		return "", false, err
	}
	args := []string{"dpkg-query"}
	if ad := d.adminDir(); ad != "" {
		args = append(args, "--admindir="+ad)
	}
	args = append(args, "--showformat=${Status}\t${Version}\n", "--show", "--", pkg)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = environ(slices.Concat(d.Env, []string{"LC_ALL=C"})...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return "", false, nil // dpkg-query: "no packages found matching pkg"
	}
	if errors.Is(err, exec.ErrNotFound) {
		return "", false, fmt.Errorf("dpkg is not available on this system: %w", err)
	}
	if err != nil {
		return "", false, fmt.Errorf("dpkg-query %s: %w: %s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	var found string
	for line := range strings.Lines(stdout.String()) {
		status, ver, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if f := strings.Fields(status); !ok || len(f) != 3 || f[1] != "ok" || f[2] != "installed" {
			continue
		}
		if found != "" {
			if c, err := version.CompareDebian(ver, found); err != nil || c >= 0 {
				continue
			}
		}
		found = ver
	}
	return found, found != "", nil
}

// InstallDeb installs the .deb at path with dpkg --install, keeping changed configuration
// files (--force-confold --force-confdef, as nobody can answer), and checks afterwards that
// the database has pkg at version. The file must be that package and version; when pkg is
// already installed at version or later, nothing runs (ExitCode -1, Installed true).
func (d Dpkg) InstallDeb(ctx context.Context, path, pkg, ver string) Result {
	log := newTail(maxLog)
	if err := checkPackage(pkg); err != nil {
		return failed(err.Error(), nil)
	}
	have, err := d.current(ctx, pkg, ver)
	if err != nil {
		return failed(err.Error(), nil)
	}
	if r, done := have.result(d.Root, log); done {
		return r
	}
	abs, err := filepath.Abs(path) // a relative name could start with "-"
	if err != nil {
		return have.failed(fmt.Sprintf("package file: %v", err), log)
	}
	// dpkg would install whatever the file is: make sure it is what the job names.
	ctl, err := debpkg.ReadFile(abs)
	if err != nil {
		return have.failed(fmt.Sprintf("not an installable package: %v", err), log)
	}
	name, _, _ := strings.Cut(pkg, ":")
	if c, err := version.CompareDebian(ctl.Version, ver); err != nil || ctl.Package != name || c != 0 {
		return have.failed(fmt.Sprintf("%s holds %s %s, not %s %s", filepath.Base(abs), ctl.Package, ctl.Version, name, ver), log)
	}
	if err := d.prepare(); err != nil {
		return have.failed(err.Error(), log)
	}
	args := append([]string{"dpkg"}, d.options()...)
	args = append(args, "--force-confold", "--force-confdef", "--install", abs)
	code, runErr := run(packageCommand(ctx, d.environ(), args...), log, []string{"dpkg", "--install", abs})
	return d.verify(ctx, pkg, ver, code, runErr, log)
}

// installedState is what the database says about a job's package before the job.
type installedState struct {
	pkg     string
	version string // "" when not installed
	enough  bool   // installed at the wanted version or later
}

// current reads pkg's state and compares it with the wanted version.
func (d Dpkg) current(ctx context.Context, pkg, want string) (installedState, error) {
	s := installedState{pkg: pkg}
	if _, err := version.CompareDebian(want, want); err != nil {
		return s, err
	}
	have, ok, err := d.Installed(ctx, pkg)
	if err != nil || !ok {
		return s, err
	}
	s.version = have
	c, err := version.CompareDebian(have, want)
	if err != nil {
		return s, fmt.Errorf("installed %s: %w", pkg, err)
	}
	s.enough = c >= 0
	return s, nil
}

// result is the Result for a job with nothing to do, when pkg is there already.
func (s installedState) result(root string, log *tailBuffer) (Result, bool) {
	if !s.enough {
		return Result{}, false
	}
	fmt.Fprintf(log, "%s %s is installed; nothing to do\n", s.pkg, s.version)
	return Result{Installed: true, Version: s.version, ExitCode: -1, Log: log.String(), RebootRequired: rebootRequired(root)}, true
}

// failed is a Result for a job stopped before its install command, with the version that
// stays installed.
func (s installedState) failed(msg string, log *tailBuffer) Result {
	r := failed(msg, log)
	r.Version = s.version
	return r
}

// verify builds the Result of an install command from the database afterwards: pkg must be
// installed at least at ver, whatever the command said.
func (d Dpkg) verify(ctx context.Context, pkg, ver string, code int, runErr error, log *tailBuffer) Result {
	r := Result{ExitCode: code, RebootRequired: rebootRequired(d.Root)}
	var problems []string
	if runErr != nil {
		if ctx.Err() != nil {
			problems = append(problems, fmt.Sprintf("cancelled (%v); the package database may need dpkg --configure -a", context.Cause(ctx)))
		}
		problems = append(problems, runErr.Error())
	}
	// The database is read even after a cancellation: what is installed is still a fact.
	have, err := d.current(context.WithoutCancel(ctx), pkg, ver)
	r.Version = have.version
	switch {
	case err != nil:
		problems = append(problems, err.Error())
	case have.version == "":
		problems = append(problems, pkg+" is not installed afterwards")
	case !have.enough:
		problems = append(problems, fmt.Sprintf("%s is at %s afterwards, not %s", pkg, have.version, ver))
	default:
		r.Installed = true
	}
	r.Error = strings.Join(problems, "; ")
	r.Log = log.String()
	return r
}

// finishInterrupted completes what an interrupted dpkg run left behind (a power cut, or the
// agent killed with its dpkg), as "dpkg --configure -a" by hand would. apt-get refuses to
// work while dpkg's journal (<admindir>/updates) holds entries or packages are half done,
// and nobody is at an agent's keyboard to run it. (dpkg --install itself copes.)
func (d Dpkg) finishInterrupted(ctx context.Context, log *tailBuffer) error {
	journal := false
	if entries, err := os.ReadDir(filepath.Join(d.adminDirOrDefault(), "updates")); err == nil {
		for _, e := range entries {
			if e.Name() != "tmp.i" {
				journal = true
			}
		}
	}
	if !journal {
		audit := append(append([]string{"dpkg"}, d.options()...), "--audit")
		out, err := packageCommand(ctx, d.environ(), audit...).Output()
		if err == nil && len(bytes.TrimSpace(out)) == 0 {
			return nil
		}
	}
	fmt.Fprintln(log, "the package database shows an interrupted run; finishing it first")
	args := append(append([]string{"dpkg"}, d.options()...), "--force-confold", "--force-confdef", "--configure", "-a")
	if code, err := run(packageCommand(ctx, d.environ(), args...), log, []string{"dpkg", "--configure", "-a"}); err != nil {
		return fmt.Errorf("dpkg --configure -a (exit code %d): %w", code, err)
	}
	return nil
}

// adminDirOrDefault is the database directory dpkg uses for d.
func (d Dpkg) adminDirOrDefault() string {
	if ad := d.adminDir(); ad != "" {
		return ad
	}
	return "/var/lib/dpkg"
}
