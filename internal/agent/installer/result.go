// Package installer carries out the agent's install jobs: it fetches payloads resumably and
// verifies them, installs .deb files with dpkg, upgrades packages with apt from the machine's
// own repositories, and runs unpacked artifacts' install commands. Each install returns a
// Result for the server's compliance records.
package installer

import (
	"os"
	"path/filepath"
)

// Result is what an install did.
type Result struct {
	Installed      bool   // the machine now has what the job asked for
	Version        string // the installed version afterwards (deb, apt)
	ExitCode       int    // of the installing command; -1 when it did not run or was killed
	Log            string // the tail of its combined output, at most 8 KiB (the end is kept)
	RebootRequired bool
	Error          string // why it failed, for people
}

// failed is a Result for an install that stopped before or without its command's verdict.
func failed(msg string, log *tailBuffer) Result {
	r := Result{ExitCode: -1, Error: msg}
	if log != nil {
		r.Log = log.String()
	}
	return r
}

// rebootRequired reports whether the system under root (the running one for "") asks for a
// reboot: Debian's packages (kernels, libc, ...) create reboot-required from their postinst.
// /var/run is normally a symlink to /run; a sandbox root may have either as a directory.
func rebootRequired(root string) bool {
	if root == "" {
		root = string(filepath.Separator)
	}
	for _, p := range []string{"var/run/reboot-required", "run/reboot-required"} {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err == nil {
			return true
		}
	}
	return false
}
