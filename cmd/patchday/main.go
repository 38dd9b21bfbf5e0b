// Command patchday is the patchday server (patchday serve) and its admin command line.
package main

import (
	"os"

	"github.com/patchday/patchday/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
