// Package cli is the patchday command line: the server (serve), and the admin commands that
// talk to a server's API.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Version is the program's version, set at build time with
// -ldflags "-X github.com/patchday/patchday/internal/cli.Version=...".
var Version = "dev"

// Exit codes scripts can rely on.
const (
	ExitOK    = 0
	ExitError = 1 // the command failed (the server refused, the network failed, ...)
	ExitUsage = 2 // the command line was wrong
	// ExitNotCompliant: patchday health show found the computer not compliant, or patchday
	// scan --fail-on-violation an open port that breaks the policy.
	ExitNotCompliant = 3
	// ExitInterrupted: the command was stopped (Ctrl-C) after doing part of its work, as a
	// shell reports a process ended by SIGINT.
	ExitInterrupted = 130
)

// errNotCompliant is the answer of a health check that failed; its exit code is 3.
var errNotCompliant = errors.New("the computer is not compliant")

// errViolation is a scan's finding that the network breaks its policy; exit code 3.
var errViolation = errors.New("the network breaks its firewall policy")

// errInterrupted ends a command stopped by Ctrl-C that still printed what it had; exit 130.
var errInterrupted = errors.New("interrupted")

// usageError marks errors in the command line itself.
type usageError struct{ error }

// Main runs the command line and returns the process's exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return ExitOK
	}
	var ae *apiError
	if errors.As(err, &ae) {
		ae.flag = flagFor(cmd, ae.Field)
	}
	fmt.Fprintln(stderr, "patchday:", err)
	return exitCode(err)
}

// exitCode is the exit code of a command that failed with err.
func exitCode(err error) int {
	switch {
	case errors.Is(err, errNotCompliant) || errors.Is(err, errViolation):
		return ExitNotCompliant
	case errors.Is(err, errInterrupted):
		return ExitInterrupted
	}
	// cobra reports an unknown command and a missing required flag with plain errors; they
	// are command-line mistakes too.
	if _, ok := err.(usageError); ok || strings.HasPrefix(err.Error(), "unknown command ") ||
		strings.HasPrefix(err.Error(), "required flag(s) ") {
		return ExitUsage
	}
	return ExitError
}

// NewRoot builds the patchday command tree.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "patchday",
		Short: "Self-hosted security-update management",
		Long: `patchday publishes security advisories, tells subscribers, approves and delivers signed
updates to enrolled machines and reports who is still vulnerable.

Run "patchday serve" to start a server, "patchday login" to point this command line at one.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(newServeCmd(), newDemoCmd())
	addClientCommands(root)
	return root
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%s: %w", cmd.CommandPath(), err)}
		}
		return nil
	}
}

// env reads an environment variable.
var env = os.Getenv
