// Command whirl is Whirl: the server (whirl up, controller, invoker, proxy,
// admin, bench) and a wsk-compatible CLI in one binary.
package main

import (
	"os"

	"github.com/whirlfaas/whirl/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args)) }
