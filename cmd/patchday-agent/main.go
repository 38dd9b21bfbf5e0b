// Command patchday-agent is the endpoint agent of patchday: it enrolls the machine, reports
// inventory and health, and installs approved, signed updates.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/patchday/patchday/internal/agentcli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(agentcli.Main(fmt.Sprintf("%s %s/%s", version, runtime.GOOS, runtime.GOARCH), os.Args[1:], os.Stdout, os.Stderr))
}
