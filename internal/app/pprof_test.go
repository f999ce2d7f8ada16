package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/config"
)

// TestServePprof: with pprof set, Go's profiler answers on its own
// listener; unset, nothing is served.
func TestServePprof(t *testing.T) {
	cfg := config.Default()
	addr, stop, err := app.ServePprof(cfg, nil)
	if err != nil || addr != nil {
		t.Fatalf("unset: %v, %v", addr, err)
	}
	stop()

	cfg.Pprof = "127.0.0.1:0"
	addr, stop, err = app.ServePprof(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	res, err := http.Get("http://" + addr.String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile:") {
		t.Fatalf("GET goroutine profile: %d %.200s", res.StatusCode, body)
	}
}
