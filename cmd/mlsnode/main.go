// Command mlsnode runs MLS groups between peers with no central delivery
// service. This dispatcher is minimal; the node helper's full one replaces
// it and keeps the "sim" case.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "sim" {
		return runSim(args[1:], stdout, stderr)
	}
	fmt.Fprintln(stderr, "usage: mlsnode sim [flags] SCENARIO | mlsnode sim sweep [flags] | mlsnode sim list")
	return 2
}
