package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// completionCmd writes a shell completion script for bash, zsh or fish.
func completionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish",
		Short:     "generate a shell completion script",
		ValidArgs: []string{"bash", "zsh", "fish"},
		Example: `  source <(whirl completion bash)
  whirl completion zsh > "${fpath[1]}/_whirl"
  whirl completion fish > ~/.config/fish/completions/whirl.fish`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &exitError{code: 1, err: fmt.Errorf("Invalid argument(s). A shell (bash, zsh or fish) is required. Run '%s --help' for usage.", cmd.CommandPath())}
			}
			out := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			}
			return &exitError{code: 1, err: fmt.Errorf("Unknown shell '%s'; use bash, zsh or fish.", args[0])}
		},
	}
}
