package cli

import "github.com/spf13/cobra"

// addClientCommands adds the wsk-compatible commands.
func addClientCommands(root *cobra.Command, e *env) {}
