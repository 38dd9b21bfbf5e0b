package installer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Artifact installs from an archive: it unpacks it (.tar.gz, .tar or .zip, recognised by
// content, not name) into a fresh temporary directory under WorkDir and runs the install
// command there, removing the directory afterwards.
type Artifact struct {
	WorkDir string // default os.TempDir()
}

// Windows installers' exit codes for success that needs a reboot
// (ERROR_SUCCESS_REBOOT_REQUIRED, ERROR_SUCCESS_REBOOT_INITIATED).
const (
	exitRebootRequired  = 3010
	exitRebootInitiated = 1641
)

// Run unpacks archive and runs argv in the unpacked directory. argv[0] is looked up in PATH
// unless it holds a path separator: "./install.sh" names a file from the archive.
// With a timeout above 0 the command is killed after it, together with the processes it
// started (its process group; the process tree on Windows), and the Result says
// "timed out after ...". Exit 0 (or 3010 and 1641, success with a reboot) is Installed.
func (a Artifact) Run(ctx context.Context, archive string, argv []string, timeout time.Duration) Result {
	if len(argv) == 0 || argv[0] == "" {
		return failed("no install command", nil)
	}
	workDir := a.WorkDir
	if workDir == "" {
		workDir = os.TempDir()
	}
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return failed(fmt.Sprintf("work directory: %v", err), nil)
	}
	dir, err := os.MkdirTemp(workDir, "artifact-")
	if err != nil {
		return failed(fmt.Sprintf("work directory: %v", err), nil)
	}
	defer os.RemoveAll(dir)
	if err := unpack(archive, dir, defaultUnpackLimits); err != nil {
		return failed(fmt.Sprintf("unpacking %s: %v", archive, err), nil)
	}

	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %s", timeout))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = environ()
	killGroupOnCancel(cmd)
	cmd.WaitDelay = artifactWaitDelay
	log := newTail(maxLog)
	code, err := run(cmd, log, nil)

	r := Result{ExitCode: code, Log: log.String(), RebootRequired: rebootRequired("")}
	switch {
	case ctx.Err() != nil:
		r.ExitCode = -1 // whatever it had reached, it was stopped
		r.Error = context.Cause(ctx).Error()
	case code == 0 && err == nil:
		r.Installed = true
	case code == exitRebootRequired || code == exitRebootInitiated:
		r.Installed, r.RebootRequired = true, true
	case err != nil:
		r.Error = err.Error()
	}
	return r
}
