package cli

import (
	"errors"
	"fmt"
	"testing"
)

// Each kind of failure has the exit code README.md promises scripts.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{errors.New("the server refused"), ExitError},
		{usageError{errors.New("--rate -5: must be 0 (no limit) or more")}, ExitUsage},
		{errors.New(`required flag(s) "group" not set`), ExitUsage},
		{errors.New(`unknown command "frob" for "patchday"`), ExitUsage},
		{errNotCompliant, ExitNotCompliant},
		{fmt.Errorf("open ports that break the policy: 2: %w", errViolation), ExitNotCompliant},
		{errInterrupted, ExitInterrupted},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
