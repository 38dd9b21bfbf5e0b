package installer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// How long a cancelled command gets to exit, and how long its output may stay open after it
// exited (a background child holding stdout), before the pipes are closed regardless.
const (
	packageWaitDelay  = 30 * time.Second
	artifactWaitDelay = 2 * time.Second
)

// run runs cmd with its combined output going to log, after a "$ command" line so that a
// log of several commands shows which one said what; shown is the command as the line shows
// it (nil: cmd.Args), without the long options that are the same every time. It returns the
// exit code, -1 when the command did not start or was killed by a signal, and an error when
// it did not exit 0.
func run(cmd *exec.Cmd, log *tailBuffer, shown []string) (int, error) {
	if shown == nil {
		shown = cmd.Args
	}
	fmt.Fprintf(log, "$ %s\n", strings.Join(shown, " "))
	cmd.Stdin = nil // /dev/null: nothing may wait for an answer
	cmd.Stdout = log
	cmd.Stderr = log
	err := cmd.Run()
	if cmd.ProcessState == nil {
		if errors.Is(err, exec.ErrNotFound) {
			return -1, fmt.Errorf("%s is not available on this system: %w", cmd.Args[0], err)
		}
		return -1, fmt.Errorf("starting %s: %w", cmd.Args[0], err)
	}
	code := cmd.ProcessState.ExitCode()
	if code == 0 && errors.Is(err, exec.ErrWaitDelay) {
		// It succeeded; something it started in the background kept its output open.
		err = nil
	}
	if err != nil {
		return code, fmt.Errorf("%s: %w", cmd.Args[0], err)
	}
	return code, nil
}

// environ is the agent's environment with extra settings appended (later ones win), and with
// the sbin directories on PATH: dpkg refuses to run without ldconfig and start-stop-daemon
// there, and a service manager may start the agent with a short PATH.
func environ(extra ...string) []string {
	env := os.Environ()
	path := os.Getenv("PATH")
	have := map[string]bool{}
	for _, d := range strings.Split(path, string(os.PathListSeparator)) {
		have[d] = true
	}
	if os.PathListSeparator == ':' {
		for _, d := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
			if !have[d] {
				if path != "" {
					path += ":"
				}
				path += d
			}
		}
		env = append(env, "PATH="+path)
	}
	return append(env, extra...)
}

// packageCommand prepares a dpkg or apt run. Cancelling ctx sends SIGTERM (a kill only
// after packageWaitDelay): killing dpkg outright mid-install leaves half-installed packages.
func packageCommand(ctx context.Context, env []string, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	terminateOnCancel(cmd)
	cmd.WaitDelay = packageWaitDelay
	return cmd
}
