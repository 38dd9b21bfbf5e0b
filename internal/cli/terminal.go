package cli

import (
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// readPasswordNoEcho reads a line from the terminal f with echo turned off.
func readPasswordNoEcho(f *os.File) ([]byte, error) { return term.ReadPassword(int(f.Fd())) }
