package cli

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
)

// consoleCmd is `whirl console`: the URL of the web console, logged in
// with the CLI's key, opened in the browser (or only printed). The key
// travels in the URL's fragment, which the browser never sends to the
// server; the page moves it to the tab's session storage at once.
func (w *wsk) consoleCmd() *cobra.Command {
	var printOnly bool
	cmd := &cobra.Command{
		Use:   "console",
		Short: "open the web console in a browser, logged in with this CLI's key",
		Long: `Open Whirl's web console (/console/ on the API host) in the default
browser, logged in with the key of 'whirl property get --auth'. With --print,
or when no browser can be started, print the URL instead. The URL carries the
key: do not share it.`,
		Example: "  whirl console\n  whirl console --print",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			url := strings.TrimSuffix(c.BaseURL(), "/") + "/console/#auth=" + cfg.auth
			if printOnly || openBrowser(url) != nil {
				fmt.Fprintln(w.e.stdout, url)
				return nil
			}
			fmt.Fprintln(w.e.stdout, "ok: opened the console in the browser")
			return nil
		},
	}
	cmd.Flags().BoolVar(&printOnly, "print", false, "print the URL instead of opening a browser")
	return cmd
}

// openBrowser starts the desktop's browser at url and does not wait for it.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("open a browser: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
