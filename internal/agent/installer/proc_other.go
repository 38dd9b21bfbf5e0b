//go:build !unix && !windows

package installer

import "os/exec"

// Without process groups or a tree kill, cancellation kills only the command itself.
func killGroupOnCancel(cmd *exec.Cmd) {}

func terminateOnCancel(cmd *exec.Cmd) {}
