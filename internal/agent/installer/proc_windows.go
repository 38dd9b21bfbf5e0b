//go:build windows

package installer

import (
	"os/exec"
	"strconv"
)

// killGroupOnCancel makes cancellation end cmd and the processes it started: Windows has no
// process groups to signal, so taskkill /T walks the tree; a plain kill is the fallback.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.Cancel = func() error {
		tk := exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(cmd.Process.Pid))
		if tk.Run() != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
}

// terminateOnCancel keeps exec's default (kill): Windows has no SIGTERM. dpkg and apt do not
// run here anyway.
func terminateOnCancel(cmd *exec.Cmd) {}
