// Package cli is the whirl command line: the server commands (up,
// controller, invoker, admin, bench, proxy) and the wsk-compatible
// commands (action, activation, trigger, rule, package, api, namespace,
// property, list). When the binary runs under the name "wsk" it behaves as
// wsk.
//
// One file per noun. Only cmd/whirl imports this package.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
)

// env is what a command reads and writes besides its flags; tests replace
// it.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	// ctx, when set, is the context commands run in (tests cancel it).
	ctx context.Context
	// pollInterval, when positive, replaces activation poll's interval
	// (tests shorten it).
	pollInterval time.Duration
}

// exitError carries a process exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Main runs the command line args (args[0] is the program name) and
// returns the exit code.
func Main(args []string) int {
	return run(args, &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv})
}

func run(args []string, e *env) int {
	root := newRoot(e, filepath.Base(args[0]))
	root.SetArgs(preprocessArgs(args[1:]))
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	ctx := e.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(e.stderr, "error: %s\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(e.stderr, "error: %s\n", err)
	return 1
}

func newRoot(e *env, name string) *cobra.Command {
	root := &cobra.Command{
		Use:           name,
		Short:         "Whirl: OpenWhisk's programming model and REST API in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addServerCommands(root, e)
	addClientCommands(root, e)
	return root
}
