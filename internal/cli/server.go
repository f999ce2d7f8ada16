package cli

import "github.com/spf13/cobra"

// addServerCommands adds up, admin, bench and proxy.
func addServerCommands(root *cobra.Command, e *env) {}
