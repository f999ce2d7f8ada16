package process

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// javaLauncher returns the directory holding the compiled java launcher,
// compiling it with the JDK of in the first time (javac --release 8, so
// that one build serves every JVM; the directory is named by the source's
// hash and kept across restarts). Concurrent callers share one
// compilation.
func (f *Factory) javaLauncher(ctx context.Context, in runtimes.Interpreter) (string, error) {
	src := runtimes.JavaLauncher()
	sum := sha256.Sum256(src)
	dir := filepath.Join(f.launcher, "java-"+hex.EncodeToString(sum[:8]))
	class := filepath.Join(dir, runtimes.JavaLauncherClass+".class")
	f.javaMu.Lock()
	defer f.javaMu.Unlock()
	if _, err := os.Stat(class); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(f.launcher, "java-build-")
	if err != nil {
		return "", fmt.Errorf("compile the java launcher: %w", err)
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, runtimes.JavaLauncherClass+".java")
	if err := os.WriteFile(file, src, 0o644); err != nil {
		return "", fmt.Errorf("compile the java launcher: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, javaCompileTimeout)
	defer cancel()
	javac := filepath.Join(filepath.Dir(in.Path), "javac")
	out, err := exec.CommandContext(ctx, javac, "-nowarn", "--release", "8", "-cp", runtimes.GsonJar, "-d", tmp, file).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("compile the java launcher with %s: %w: %s", javac, err, bytes.TrimSpace(out))
	}
	os.Remove(file)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("compile the java launcher: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("compile the java launcher: %w", err)
	}
	return dir, nil
}

// prepareJava writes the action's jar. As in OpenWhisk, java actions are
// jars (binary code) and main names the class, with "#method" when the
// method is not main.
func (c *Container) prepareJava(root *os.Root, zipped bool, req container.InitRequest) (*prepared, error) {
	if !zipped {
		return nil, initErr("Java actions need a jar file: wsk action create NAME action.jar --main CLASS (the code given is not a jar).")
	}
	if req.Main == "" {
		return nil, initErr("Java actions need main to name the class that holds the entry point: wsk action create NAME action.jar --main CLASS[#METHOD].")
	}
	if err := root.WriteFile("action.jar", req.Code, 0o644); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	return &prepared{dir: root.Name(), file: filepath.Join(root.Name(), "action.jar")}, nil
}
