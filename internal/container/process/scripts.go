package process

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/whirlfaas/whirl/internal/container"
)

// preparePHP writes a php action's code as OpenWhisk's php runtime lays it
// out: a single file is index.php; a zip must hold index.php (and may hold
// vendor/autoload.php, which the launcher requires first).
func (c *Container) preparePHP(root *os.Root, zipped bool, req container.InitRequest) (*prepared, error) {
	return prepareScript(root, zipped, req, "index.php")
}

// prepareRuby writes a ruby action's code as OpenWhisk's ruby runtime lays
// it out: a single file is main.rb; a zip must hold main.rb at its root.
func (c *Container) prepareRuby(root *os.Root, zipped bool, req container.InitRequest) (*prepared, error) {
	return prepareScript(root, zipped, req, "main.rb")
}

func prepareScript(root *os.Root, zipped bool, req container.InitRequest, entry string) (*prepared, error) {
	code := root.Name()
	p := &prepared{dir: code, file: filepath.Join(code, entry)}
	if !zipped {
		if err := root.WriteFile(entry, req.Code, 0o644); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		return p, nil
	}
	if st, err := root.Stat(entry); err != nil || st.IsDir() {
		return nil, initErr("Zip file does not include %s at its root.", entry)
	}
	return p, nil
}
