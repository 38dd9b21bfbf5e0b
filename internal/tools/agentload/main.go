// Command agentload measures the agent protocol for docs/BENCHMARKS.md. It has two modes:
//
//	agentload checkins [flags]   check-ins per second of an in-process patchday server with
//	                             simulated agents whose inventories do not change, against a
//	                             plain net/http handler driven by the same client in the same run
//	agentload agent [flags]      memory and CPU time of the real patchday-agent binary against a
//	                             real `patchday serve`, installing into a sandboxed dpkg root
//
// scripts/bench-agents.sh builds it and both programs and runs the two modes. It is a
// measuring tool, not part of either program.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// adminPassword is the bootstrap password of the throwaway servers.
const adminPassword = "agentload-admin-password"

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: agentload checkins [flags]   server check-ins/s against a net/http baseline
       agentload agent [flags]      patchday-agent's memory and CPU time

Run "agentload MODE -h" for the flags of a mode. scripts/bench-agents.sh runs both.
`)
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "checkins":
		err = runCheckIns(ctx, log, os.Args[2:])
	case "agent":
		err = runAgent(ctx, log, os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage(os.Stdout)
		return
	default:
		fmt.Fprintf(os.Stderr, "agentload: unknown mode %q\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentload:", err)
		stop()
		os.Exit(1)
	}
}
