// Package agentcli is the command line of patchday-agent.
package agentcli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchday/patchday/internal/agent"
	"github.com/patchday/patchday/internal/agent/installer"
	"github.com/patchday/patchday/internal/inventory"
)

// Exit codes: 0 success, 1 failure, 2 a wrong command line.
const (
	exitError = 1
	exitUsage = 2
)

type usageError struct{ error }

// Main runs the agent's command line and returns the exit code.
func Main(version string, args []string, stdout, stderr io.Writer) int {
	root := newRoot(version, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "patchday-agent:", err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command ") {
		return exitUsage
	}
	return exitError
}

type globals struct {
	state     string
	logFormat string
	logLevel  string
	dpkgRoot  string
	dpkgAdmin string
	aptOpts   []string
}

func newRoot(version string, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "patchday-agent",
		Short: "The patchday endpoint agent",
		Long: `patchday-agent runs on every managed machine. It reports the machine's inventory and
health to a patchday server, installs the updates the server assigns in signed lists, and
reports the results. Start with "patchday-agent enroll", then run "patchday-agent run" as a
service (see the systemd unit in packaging/).`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.state, "state", agent.DefaultStateDir, "state directory: identity, spool, downloads")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.dpkgRoot, "dpkg-root", "", "install into this root directory instead of / (dpkg --root); the packages reported are then its")
	pf.StringVar(&g.dpkgAdmin, "dpkg-admindir", "", "dpkg database directory (default <dpkg-root>/var/lib/dpkg)")
	pf.StringArrayVar(&g.aptOpts, "apt-option", nil, "extra apt-get -o setting, such as Dir::Etc::SourceList=/etc/apt/patchday.list (repeatable)")
	root.AddCommand(newEnrollCmd(g, version), newRunCmd(g, version), newStatusCmd(g, version), newVersionCmd(version))
	return root
}

func (g *globals) config(version string, stderr io.Writer) (agent.Config, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return agent.Config{}, usageError{fmt.Errorf("--log-level %q: must be debug, info, warn or error", g.logLevel)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch g.logFormat {
	case "text":
		h = slog.NewTextHandler(stderr, opts)
	case "json":
		h = slog.NewJSONHandler(stderr, opts)
	default:
		return agent.Config{}, usageError{fmt.Errorf("--log-format %q: must be text or json", g.logFormat)}
	}
	cfg := agent.Config{StateDir: g.state, Version: version, Logger: slog.New(h),
		Dpkg: installer.Dpkg{Root: g.dpkgRoot, AdminDir: g.dpkgAdmin}, AptOptions: g.aptOpts}
	// The packages reported are those of the dpkg database the agent installs into.
	if admin := g.dpkgAdmin; admin != "" || g.dpkgRoot != "" {
		if admin == "" {
			admin = filepath.Join(g.dpkgRoot, "var/lib/dpkg")
		}
		cfg.Collector = &inventory.Collector{DpkgStatus: filepath.Join(admin, "status")}
	}
	return cfg, nil
}

func newEnrollCmd(g *globals, version string) *cobra.Command {
	var server, token, caFile string
	cmd := &cobra.Command{
		Use:   "enroll --server URL --token TOKEN",
		Short: "Register this machine with a patchday server",
		Long: `enroll registers this machine with the organisation of an enrollment token (made with
"patchday enroll-token create"), stores the agent's own credential in the state directory
(mode 0600) and pins the server's signing key: from then on the agent installs only what that
key signs. The token may also come from PATCHDAY_ENROLL_TOKEN, which keeps it out of the
process list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv("PATCHDAY_ENROLL_TOKEN")
			}
			if server == "" || token == "" {
				return usageError{errors.New("enroll needs --server and --token (or PATCHDAY_ENROLL_TOKEN)")}
			}
			cfg, err := g.config(version, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			a, err := agent.Enroll(cmd.Context(), cfg, server, token, caFile)
			if err != nil {
				return err
			}
			st, err := a.Status()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Enrolled as computer %d in organisation %s at %s.\nServer signing key: %s\nNext: patchday-agent run (or start the patchday-agent service).\n",
				st.ComputerID, st.Org, st.Server, st.SigningKeyID)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "the server's URL, such as https://patchday.example.org")
	cmd.Flags().StringVar(&token, "token", "", "an enrollment token (pde_...) [env PATCHDAY_ENROLL_TOKEN]")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "PEM file of the CA that signed the server's TLS certificate, when not a public one")
	return cmd
}

func newRunCmd(g *globals, version string) *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "run [--once]",
		Short: "Check in, install what is due and report, until stopped",
		Long: `run checks in with the server at the times it asks, installs the assigned updates that are
due (inside a maintenance window, or past their deadline) and reports the results. Results wait
in the spool while the server is unreachable. With --once it does one cycle and exits: 0 when
the cycle succeeded, 1 when it did not (the results stay spooled for the next run).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config(version, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			a, err := agent.Open(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if once {
				_, err := a.RunOnce(ctx)
				return err
			}
			return a.Run(ctx)
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "do one cycle and exit")
	return cmd
}

func newStatusCmd(g *globals, version string) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the enrollment, the last check-in and pending and failed updates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usageError{fmt.Errorf("-o %q: must be table or json", output)}
			}
			cfg, err := g.config(version, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			a, err := agent.Open(cfg)
			if err != nil {
				return err
			}
			st, err := a.Status()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			when := func(t *time.Time) string {
				if t == nil {
					return "never"
				}
				return t.Local().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "SERVER        %s\nORGANISATION  %s\nCOMPUTER      %d\nSIGNING KEY   %s\nENROLLED      %s\nLAST CHECK-IN %s\nNEXT CHECK-IN %s\nSEQUENCE      %d\nSPOOLED       %d results\n",
				st.Server, st.Org, st.ComputerID, st.SigningKeyID, st.EnrolledAt.Local().Format(time.RFC3339),
				when(st.LastCheckIn), when(st.NextCheckIn), st.Sequence, st.Spooled)
			if st.LastError != "" {
				fmt.Fprintf(w, "LAST ERROR    %s\n", st.LastError)
			}
			if st.Interrupted != "" {
				fmt.Fprintf(w, "INTERRUPTED   %s (reported at the next run)\n", st.Interrupted)
			}
			fmt.Fprintf(w, "PENDING       %s\n", listOrNone(st.Pending))
			for _, f := range st.Failed {
				fmt.Fprintf(w, "FAILED        %s: %d attempts, last %s: %s\n", f.Update, f.Failures, f.Last.Local().Format(time.RFC3339), f.Error)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func newVersionCmd(version string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the agent's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "patchday-agent %s\n", version)
		},
	}
}
