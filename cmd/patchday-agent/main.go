// Command patchday-agent is the endpoint agent of patchday. It will enroll the machine,
// report inventory and health, and install approved, signed updates; for now it only reports
// its version.
package main

import (
	"fmt"
	"os"
	"runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Printf("patchday-agent %s %s/%s\n", version, runtime.GOOS, runtime.GOARCH)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: patchday-agent version")
	os.Exit(2)
}
