package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// call sends a REST request as guest and decodes the answer into out.
func call(t *testing.T, srv *apptest.Server, method, path string, body, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	u, k, _ := strings.Cut(srv.GuestAuth, ":")
	req.SetBasicAuth(u, k)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// browser starts headless Chromium for t, or skips when there is none.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (scripts/deps.sh installs it): " + err.Error())
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1100, 760),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// TestConsoleInBrowser drives the console in headless Chromium against a
// real Whirl: log in through the fragment, see actions and activations,
// invoke from the page and see the record, watch the throughput chart
// move under load, open an activation by its deep link and reload it,
// move by keyboard, switch to dark mode — and the page asks no host but
// Whirl's for anything.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	srv := apptest.Start(t)
	code := "function main(p) { console.log('hi ' + (p.name || 'you')); return {greeting: 'Hello, ' + (p.name || 'world')}; }"
	if s := call(t, srv, "PUT", "/api/v1/namespaces/_/actions/hello?overwrite=true", map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": code}}, nil); s != 200 {
		t.Fatalf("create action: %d", s)
	}
	var first struct{ ActivationID string }
	if s := call(t, srv, "POST", "/api/v1/namespaces/_/actions/hello?blocking=true", map[string]any{"name": "cli"}, &first); s != 200 {
		t.Fatalf("invoke: %d", s)
	}

	// Every resource the page fetched (documents, scripts, styles,
	// fetches), read from the page before each navigation.
	var requested []string
	collect := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		names, err := chromedp.Evaluate[[]string](`[location.href, ...performance.getEntriesByType("resource").map(e => e.name)]`)(ctx, tg)
		requested = append(requested, names...)
		return err
	})
	shots := os.Getenv("WHIRL_CONSOLE_SCREENSHOTS")
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			b, err := chromedp.CaptureScreenshot()(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), b, 0o644)
		})
	}

	// Log in through the fragment: the key leaves the URL at once.
	var who, hash string
	run(t, ctx, "log in",
		chromedp.Navigate(srv.URL+"/console/#auth="+srv.GuestAuth),
		chromedp.WaitVisible(`#chart-completions`),
		poll(`document.getElementById("who").textContent.includes("guest")`),
		val(chromedp.Text(`#who`), &who),
		val(chromedp.Evaluate[string](`location.hash`), &hash))
	if hash != "" {
		t.Errorf("the key stayed in the URL: %q", hash)
	}

	// Under load from outside the page, the throughput chart moves.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			call(t, srv, "POST", "/api/v1/namespaces/_/actions/hello?blocking=false", map[string]any{}, nil)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	run(t, ctx, "chart under load",
		poll(`Number(document.getElementById("chart-completions").dataset.sum) > 0`),
		chromedp.Click(`button[data-range="300"]`), shot("overview"))
	close(stop)
	wg.Wait()

	// Actions appear; invoke from the page and see the record.
	var resultText, actID string
	run(t, ctx, "actions",
		chromedp.Click(`#nav a[href="/console/actions"]`),
		chromedp.WaitVisible(`#actions a[href="/console/actions/hello"]`), shot("actions"),
		chromedp.Click(`#actions a[href="/console/actions/hello"]`),
		chromedp.WaitVisible(`#invoke`),
		chromedp.SetValue(`#params`, `{"name": "browser"}`),
		chromedp.Click(`#invoke`),
		chromedp.WaitVisible(`#invoke-result a`),
		val(chromedp.Text(`#invoke-result pre`), &resultText), shot("action"),
		val(chromedp.Text(`#invoke-result a`), &actID))
	if !strings.Contains(resultText, "Hello, browser") || actID == "" {
		t.Fatalf("invoke from the page: result %q, activation %q", resultText, actID)
	}

	// The activations list shows both records, newest first.
	var rows []string
	run(t, ctx, "activations",
		chromedp.Click(`#nav a[href="/console/activations"]`),
		chromedp.WaitVisible(`#activations a[href="/console/activations/`+actID+`"]`),
		chromedp.WaitVisible(`#activations a[href="/console/activations/`+first.ActivationID+`"]`), shot("activations"),
		val(chromedp.Evaluate[[]string](`[...document.querySelectorAll("#activations tbody tr td:first-child")].map(td => td.textContent)`), &rows))
	if len(rows) < 2 || rows[0] == first.ActivationID {
		t.Errorf("activations not newest first: %v", rows)
	}

	// A deep link opens the activation page, and survives a reload.
	var logs, result string
	run(t, ctx, "deep link",
		collect, chromedp.Navigate(srv.URL+"/console/activations/"+first.ActivationID),
		chromedp.WaitVisible(`#logs`),
		collect, chromedp.Reload(),
		chromedp.WaitVisible(`#logs`),
		val(chromedp.Text(`#logs`), &logs), val(chromedp.Text(`#result`), &result), shot("activation"))
	if !strings.Contains(logs, "hi cli") || !strings.Contains(result, "Hello, cli") {
		t.Errorf("activation page: logs %q result %q", logs, result)
	}

	// The pool shows the caller's warm container.
	run(t, ctx, "pool",
		chromedp.Click(`#nav a[href="/console/pool"]`),
		chromedp.WaitVisible(`#pool-actions a[href="/console/actions/hello"]`), shot("pool"))

	// Keyboard: the first Tab reaches the skip link, Enter moves to the
	// content; the theme button switches to dark mode.
	var focused, next, theme string
	run(t, ctx, "keyboard and dark mode",
		collect, chromedp.Navigate(srv.URL+"/console/actions"),
		chromedp.WaitVisible(`#actions`),
		chromedp.KeyEvent("\t"),
		val(chromedp.Evaluate[string](`document.activeElement.className`), &focused),
		chromedp.KeyEvent("\r"), chromedp.KeyEvent("\t"),
		val(chromedp.Evaluate[string](`document.activeElement.textContent`), &next),
		chromedp.Click(`#theme`),
		val(chromedp.Evaluate[string](`document.documentElement.dataset.theme`), &theme), shot("actions-dark"), collect)
	if focused != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", focused)
	}
	if next != "Create an action" {
		t.Errorf("Tab after the skip link focuses %q, want the first link of the content", next)
	}
	if theme != "dark" {
		t.Errorf("theme after the toggle = %q", theme)
	}
	var foreign []string
	for _, u := range requested {
		if !strings.HasPrefix(u, srv.URL+"/") && !strings.HasPrefix(u, "data:") {
			foreign = append(foreign, u)
		}
	}
	if len(requested) < 10 || len(foreign) > 0 {
		t.Errorf("the console asked other hosts: %v (of %d requests)", foreign, len(requested))
	}
}

// poll waits until expr is true in the page.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
		return err
	})
}

// val runs a and keeps its value in p.
func val[T any](a chromedp.Action[T], p *T) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
		*p, err = a(ctx, tg)
		return err
	})
}

func run(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML("main"))
		t.Fatalf("%s: %v\npage: %s", step, err, html)
	}
}
