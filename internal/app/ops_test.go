package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "whirl test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS: with a certificate and key configured, the API is served over
// HTTPS (and plain HTTP is refused).
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := apptest.Start(t, func(c *config.Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
	})
	base := "https://" + strings.TrimPrefix(s.URL, "http://")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
	resp, err := hc.Get(base + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET /api/v1 over TLS: %d", resp.StatusCode)
	}
	// openwhisk-client-go works over HTTPS.
	c, err := whisk.NewClient(hc, &whisk.Config{Host: base, AuthToken: s.GuestAuth})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Actions.Insert(&whisk.Action{Name: "hello", Exec: &whisk.Exec{Kind: "python:3", Code: strp(pyHello)}}, false); err != nil {
		t.Fatal(err)
	}
	res, _, err := c.Actions.Invoke("hello", map[string]any{"name": "tls"}, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.(map[string]any)["greeting"] != "Hello tls" {
		t.Fatalf("result %v", res)
	}
	// Plain HTTP is not served.
	if resp, err := http.Get(s.URL + "/api/v1"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("plain HTTP answered 200: %s", b)
		}
	}
}

// series returns the value of the whirl_activations_total sample whose
// labels include every one of labels, summed over the others.
func series(t testing.TB, s *apptest.Server, name string, labels ...string) float64 {
	t.Helper()
	r := call(t, "GET", s.URL+"/metrics", "", nil)
	mustStatus(t, r, 200)
	var sum float64
	var found bool
lines:
	for _, line := range strings.Split(string(r.body), "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		sum += v
		found = true
	}
	if !found {
		return -1
	}
	return sum
}

// TestMetricsAndStats: completions are counted by start kind and status,
// and the stats route reports them.
func TestMetricsAndStats(t *testing.T) {
	s := apptest.Start(t)
	// 128 MB: no stem cell fits, so the first run is a cold start.
	putPy(t, s, "small", pyHello, map[string]any{"memory": 128})
	putPy(t, s, "fails", pyAppError, map[string]any{"memory": 128})
	for i := 0; i < 3; i++ {
		mustStatus(t, api(t, s, "POST", "actions/small?blocking=true", nil), 200)
	}
	mustStatus(t, api(t, s, "POST", "actions/fails?blocking=true", nil), 502)
	for i := 0; i < 2; i++ {
		mustStatus(t, api(t, s, "POST", "actions/small", nil), 202)
	}
	eventually(t, 30*time.Second, "async completions", func() bool { return count(t, s, "activations") == 6 })

	ns := `namespace="guest"`
	small := `action="small"`
	// The blocking runs are one cold start and two warm ones; the
	// concurrent asynchronous ones may need a second container.
	cold := series(t, s, "whirl_activations_total", ns, small, `start="cold"`, `status="success"`)
	warm := series(t, s, "whirl_activations_total", ns, small, `start="warm"`, `status="success"`)
	if cold < 1 || warm < 2 || cold+warm != 5 {
		t.Errorf("small: cold %v, warm %v", cold, warm)
	}
	if v := series(t, s, "whirl_activations_total", ns, `action="fails"`, `status="application error"`); v != 1 {
		t.Errorf("failed = %v", v)
	}
	if v := series(t, s, "whirl_activations_total", ns); v != 6 {
		t.Errorf("all = %v", v)
	}
	if v := series(t, s, "whirl_async_activations_completed_total", ns); v != 2 {
		t.Errorf("async completed = %v", v)
	}
	if v := metric(t, s, "whirl_activations_in_flight"); v != 0 {
		t.Errorf("in flight = %v", v)
	}

	// The stats window counts whole seconds: the completions show once
	// their second has passed.
	var st map[string]any
	eventually(t, 10*time.Second, "completions in the stats window", func() bool {
		r := call(t, "GET", s.URL+"/api/v1/namespaces/_/stats", s.GuestAuth, nil)
		mustStatus(t, r, 200)
		st = r.obj(t)
		return st["completed"] == 6.0
	})
	if st["totalCompleted"] != 6.0 || st["totalAsyncCompleted"] != 2.0 || st["asyncCompleted"] != 2.0 {
		t.Errorf("stats %v", st)
	}
	if g, _ := st["namespaces"].(map[string]any)["guest"].(map[string]any); g == nil || g["completed"] != 6.0 || g["totalCompleted"] != 6.0 {
		t.Errorf("namespace stats %v", st)
	}
	mustStatus(t, call(t, "GET", s.URL+"/api/v1/namespaces/_/stats", "", nil), 401)
}

// TestConfiguredLimits: GET _/limits and GET / report the limits in force,
// and action limits follow them.
func TestConfiguredLimits(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) {
		c.Limits.ActionsInvokesPerMinute = 77
		c.Limits.ActionsInvokesConcurrent = 33
		c.Limits.TriggersFiresPerMinute = 44
		c.Limits.ActionsSequenceMaxLength = 7
		c.Limits.Actions.Memory = config.Range{Min: 64, Max: 1024, Std: 128}
		c.Limits.Actions.Time = config.DurationRange{Min: 50 * time.Millisecond, Max: 10 * time.Minute, Std: 30 * time.Second}
		c.Limits.Actions.Log = config.Range{Min: 0, Max: 5, Std: 2}
	})
	r := api(t, s, "GET", "limits", nil)
	mustStatus(t, r, 200)
	l := r.obj(t)
	want := map[string]float64{
		"invocationsPerMinute": 77, "concurrentInvocations": 33, "firesPerMinute": 44,
		"minActionMemory": 64, "maxActionMemory": 1024, "minActionTimeout": 50, "maxActionTimeout": 600000,
		"minActionLogs": 0, "maxActionLogs": 5,
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("limits %s = %v, want %v", k, l[k], v)
		}
	}
	r = call(t, "GET", s.URL+"/", "", nil)
	mustStatus(t, r, 200)
	info, _ := r.obj(t)["limits"].(map[string]any)
	wantInfo := map[string]float64{
		"actions_per_minute": 77, "triggers_per_minute": 44, "concurrent_actions": 33, "sequence_length": 7,
		"min_action_duration": 50, "max_action_duration": 600000, "max_action_memory": 1024 << 20, "max_action_logs": 5 << 20,
	}
	for k, v := range wantInfo {
		if info[k] != v {
			t.Errorf("info limits %s = %v, want %v", k, info[k], v)
		}
	}
	if rt, _ := r.obj(t)["runtimes"].(map[string]any); rt["python"] == nil {
		t.Errorf("runtimes %v", r.obj(t)["runtimes"])
	}
	// Defaults and ranges apply to actions.
	mustStatus(t, api(t, s, "PUT", "actions/a", pyAction(pyHello)), 200)
	a := api(t, s, "GET", "actions/a", nil).obj(t)["limits"].(map[string]any)
	if a["memory"] != 128.0 || a["timeout"] != 30000.0 || a["logs"] != 2.0 {
		t.Errorf("default limits %v", a)
	}
	body := pyAction(pyHello)
	body["limits"] = map[string]any{"memory": 1024, "timeout": 600000}
	mustStatus(t, api(t, s, "PUT", "actions/b", body), 200)
	body["limits"] = map[string]any{"memory": 2048}
	r = api(t, s, "PUT", "actions/c", body)
	mustStatus(t, r, 400)
	if msg := r.errMsg(t); msg != malformed+"requirement failed: memory 2048 MB exceeds allowed threshold of 1024 MB" {
		t.Errorf("%q", msg)
	}
	body["limits"] = map[string]any{"instances": 34}
	r = api(t, s, "PUT", "actions/c", body)
	mustStatus(t, r, 400)
	if msg := r.errMsg(t); !strings.Contains(msg, "Max action instance concurrency must not exceed your namespace concurrency of 33.") {
		t.Errorf("%q", msg)
	}
}
