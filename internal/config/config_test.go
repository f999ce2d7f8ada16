package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/whirlfaas/whirl/whisk"
)

func TestParseForms(t *testing.T) {
	ints := map[string]int64{
		"50000000": 50000000, "5e7": 50000000, "5e+07": 50000000, "5E+07": 50000000,
		"5.0e7": 50000000, " 60 ": 60, "+3": 3, "0": 0, "1e18": 1000000000000000000,
	}
	for in, want := range ints {
		got, err := parseInt(in)
		if err != nil || got != want {
			t.Errorf("parseInt(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.5", "5e-1", "12x", "0x10", "1/2", "ten", "1e30", "5_000"} {
		if got, err := parseInt(in); err == nil {
			t.Errorf("parseInt(%q) = %d, want error", in, got)
		}
	}

	mbs := map[string]int64{
		"256m": 256, "16384m": 16384, "10m": 10, "0m": 0, "1g": 1024, "256 MB": 256,
		"256MiB": 256, "512": 512, "4096m": 4096, "1.5g": 1536, "1048576k": 1024, "5e2": 500,
	}
	for in, want := range mbs {
		got, err := parseMB(in)
		if err != nil || got != want {
			t.Errorf("parseMB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"12x", "", "m", "1.5", "100k", "-1m", "1 parsec"} {
		if got, err := parseMB(in); err == nil {
			t.Errorf("parseMB(%q) = %d, want error", in, got)
		}
	}

	bytes := map[string]int64{"1048576": 1048576, "1m": 1048576, "1 MB": 1048576, "512k": 524288, "5e7": 50000000, "10b": 10}
	for in, want := range bytes {
		got, err := parseBytes(in, 1)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}

	durs := map[string]time.Duration{
		"100ms": 100 * time.Millisecond, "5m": 5 * time.Minute, "1m": time.Minute,
		"2 minutes": 2 * time.Minute, "1 d": 24 * time.Hour, "30 seconds": 30 * time.Second,
		"1 second": time.Second, "60000": time.Minute, "100": 100 * time.Millisecond,
		"1m30s": 90 * time.Second, "1.5s": 1500 * time.Millisecond, "6e4": time.Minute, "250us": 250 * time.Microsecond,
	}
	for in, want := range durs {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5 fortnights", "abc", "-5s", "ms"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want error", in, got)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3233" || c.APIHost != "http://127.0.0.1:3233" || !c.UseWellKnownKeys || c.ActionNetwork != "" || c.Sandbox != "auto" {
		t.Fatalf("defaults: %+v", c)
	}
	if strings.HasPrefix(c.DataDir, "~") || !strings.HasSuffix(c.DataDir, ".whirl") {
		t.Fatalf("DataDir not expanded: %q", c.DataDir)
	}
	if got := c.ActionLimits(); got != whisk.DefaultActionLimitRanges {
		t.Fatalf("ActionLimits = %+v, want OpenWhisk's defaults %+v", got, whisk.DefaultActionLimitRanges)
	}
	if c.BlockingWait != time.Minute || c.ContainerPool.UserMemory != 2048 || c.ContainerPool.IdleTimeout != 10*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestIsLoopback(t *testing.T) {
	for in, want := range map[string]bool{
		"127.0.0.1:3233": true, "localhost:80": true, "[::1]:3233": true, "127.1.2.3:1": true,
		"0.0.0.0:3233": false, ":3233": false, "[::]:3233": false, "10.0.0.1:3233": false, "example.com:443": false,
	} {
		if got := IsLoopback(in); got != want {
			t.Errorf("IsLoopback(%q) = %v", in, got)
		}
	}
}

func TestDerived(t *testing.T) {
	c := Default()
	c.Listen = "0.0.0.0:8080"
	c.TLSCert, c.TLSKey = "c.pem", "k.pem"
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if c.UseWellKnownKeys {
		t.Fatal("well-known keys on a public listener")
	}
	if c.APIHost != "https://127.0.0.1:8080" {
		t.Fatalf("APIHost %q", c.APIHost)
	}
	c = Default()
	c.Listen = "0.0.0.0:8080"
	if err := c.Set("useWellKnownKeys", "true"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("apiHost", "whisk.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if !c.UseWellKnownKeys || c.APIHost != "http://whisk.example.com" {
		t.Fatalf("explicit settings lost: %v %q", c.UseWellKnownKeys, c.APIHost)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "whirl.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHelmValues(t *testing.T) {
	c := Default()
	if err := c.LoadFile("testdata/helm-values.yaml"); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if l.ActionsInvokesPerMinute != 50000000 || l.ActionsInvokesConcurrent != 50000000 ||
		l.TriggersFiresPerMinute != 50000000 || l.ActionsSequenceMaxLength != 50000000 {
		t.Fatalf("limits %+v", l)
	}
	want := whisk.ActionLimitRanges{
		Timeout:     whisk.Range{Min: 100, Max: 300000, Std: 60000},
		Memory:      whisk.Range{Min: 128, Max: 4096, Std: 256},
		Logs:        whisk.Range{Min: 0, Max: 10, Std: 10},
		Concurrency: whisk.Range{Min: 1, Max: 2000, Std: 50},
	}
	if got := c.ActionLimits(); got != want {
		t.Fatalf("ActionLimits = %+v, want %+v", got, want)
	}
	if l.PayloadMax != 1048576 || c.ContainerPool.UserMemory != 16384 || c.RuntimesFile != "runtimes1.json" {
		t.Fatalf("payload %d, userMemory %d, runtimes %q", l.PayloadMax, c.ContainerPool.UserMemory, c.RuntimesFile)
	}
	// The numbers reach the API unmangled.
	b, err := json.Marshal(c.LimitsJSON())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"invocationsPerMinute":50000000`) || strings.Contains(string(b), "e+") {
		t.Fatalf("LimitsJSON = %s", b)
	}
}

func TestNumbersNeverMangled(t *testing.T) {
	for _, v := range []string{`50000000`, `"50000000"`, `5e7`, `"5e+07"`, `5.0e+07`, `"5E7"`} {
		p := writeFile(t, "limits:\n  actionsInvokesPerminute: "+v+"\n")
		c := Default()
		if err := c.LoadFile(p); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if c.Limits.ActionsInvokesPerMinute != 50000000 {
			t.Fatalf("%s gave %d", v, c.Limits.ActionsInvokesPerMinute)
		}
	}
}

func TestFileNestedAndDotted(t *testing.T) {
	p := writeFile(t, `
listen: 127.0.0.1:9999
dataDir: /tmp/whirl-data
network: false
blockingWait: 2 minutes
limits.actions.memory.max: 1g
limits:
  actions:
    time:
      max: 600000
  activation:
    payload:
      max: 2m
containerPool:
  idleTimeout: 30 seconds
  maxQueue: 5
  userMemory: ""
`)
	c := Default()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || c.DataDir != "/tmp/whirl-data" || c.ActionNetwork != "none" || c.BlockingWait != 2*time.Minute {
		t.Fatalf("%+v", c)
	}
	if c.Limits.Actions.Memory.Max != 1024 || c.Limits.Actions.Time.Max != 10*time.Minute || c.Limits.PayloadMax != 2<<20 {
		t.Fatalf("%+v", c.Limits)
	}
	if c.ContainerPool.IdleTimeout != 30*time.Second || c.ContainerPool.MaxQueue != 5 || c.ContainerPool.UserMemory != 2048 {
		t.Fatalf("%+v", c.ContainerPool)
	}
	if c.ConfigFile != p {
		t.Fatalf("ConfigFile %q", c.ConfigFile)
	}
}

func TestFileErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		"limits:\n  actions:\n    memory:\n      max: 12x\n":                        `limits.actions.memory.max: cannot parse "12x" as a size`,
		"whisk:\n  limits:\n    actions:\n      time:\n        max: 5 fortnights\n": `whisk.limits.actions.time.max: cannot parse "5 fortnights" as a duration`,
		"limits:\n  actionsInvokesPerminute: lots\n":                                `limits.actionsInvokesPerminute: cannot parse "lots" as an integer`,
		"limits:\n  actionsInvokesPerMinuet: 5\n":                                   `limits.actionsInvokesPerMinuet: unknown key`,
		"whisk:\n  ingress:\n    apiHostName: x\n":                                  `whisk.ingress.apiHostName: unknown key`,
		"network: maybe\n":                                    `network: cannot parse "maybe" as a boolean`,
		"listen:\n  - a\n  - b\n":                             `listen: expected a single value, got a list`,
		"limits:\n  actions:\n    memory:\n      max: 100k\n": `limits.actions.memory.max: cannot parse "100k" as a size: not a whole number of megabytes`,
	}
	for content, want := range cases {
		p := writeFile(t, content)
		err := Default().LoadFile(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("file %q: error %v, want it to contain %q", content, err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		sets map[string]string
		want string
	}{
		{map[string]string{"limits.actions.memory.min": "1024m"}, "limits.actions.memory: min (1024 MB) is greater than max (512 MB)"},
		{map[string]string{"limits.actions.memory.std": "1g"}, "limits.actions.memory.std: 1024 MB is outside min..max (128 MB..512 MB)"},
		{map[string]string{"limits.actions.time.min": "10m"}, "limits.actions.time: min (10m0s) is greater than max (5m0s)"},
		{map[string]string{"limits.actions.concurrency.min": "0", "limits.actions.concurrency.std": "0"}, "limits.actions.concurrency.min: must be at least 1"},
		{map[string]string{"limits.actionsInvokesPerminute": "-1"}, "limits.actionsInvokesPerminute: must not be negative"},
		{map[string]string{"sandbox": "docker"}, `sandbox: "docker" is not one of auto, none, bwrap`},
		{map[string]string{"listen": "nowhere"}, `listen: "nowhere" is not a host:port address`},
		{map[string]string{"tlsCert": "c.pem"}, "tlsCert: tlsCert and tlsKey must be given together"},
		{map[string]string{"containerPool.userMemory": "64m"}, "containerPool.userMemory: 64 MB cannot hold one action"},
		{map[string]string{"containerPool.userMemory": "256m"}, "limits.actions.memory.max: 512 MB is more than containerPool.userMemory (256 MB)"},
		{map[string]string{"limits.actions.memory.max": "4g"}, "limits.actions.memory.max: 4096 MB is more than containerPool.userMemory (2048 MB)"},
		{map[string]string{"limits.activation.payload.max": "0"}, "limits.activation.payload.max: must be positive"},
	}
	for _, tc := range cases {
		c := Default()
		for k, v := range tc.sets {
			if err := c.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		err := c.Resolve()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.sets, err, tc.want)
		}
	}
	if err := Default().Set("limits.nope", "1"); err == nil || err.Error() != "limits.nope: unknown key" {
		t.Errorf("unknown key: %v", err)
	}
	if err := Default().Set("LIMITS.ACTIONSSEQUENCEMAXLENGTH", "7"); err != nil {
		t.Errorf("keys should match case-insensitively: %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	p := writeFile(t, "listen: 127.0.0.1:1111\ndataDir: /from/file\nlimits:\n  actionsInvokesPerminute: 100\n  actionsInvokesConcurrent: 7\n  triggersFiresPerminute: 9\n")
	env := []string{
		"HOME=/home/x",
		"WHIRL_CONFIG=" + p,
		"WHIRL_DATA_DIR=/from/env",
		"WHIRL_LIMITS_ACTIONSINVOKESPERMINUTE=200",
		"WHIRL_LIMITS_ACTIONSINVOKESCONCURRENT=8",
		"WHIRL_AUTH=not-a-config-key",
	}
	c := Default()
	fs := pflag.NewFlagSet("up", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:3333", "--set", "limits.actionsInvokesPerminute=600", "--sandbox=none"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Load(env); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3333" { // flag over file
		t.Errorf("listen %q", c.Listen)
	}
	if c.DataDir != "/from/env" { // env over file
		t.Errorf("dataDir %q", c.DataDir)
	}
	if c.Limits.ActionsInvokesPerMinute != 600 { // --set over env over file
		t.Errorf("invokes/minute %d", c.Limits.ActionsInvokesPerMinute)
	}
	if c.Limits.ActionsInvokesConcurrent != 8 { // env over file
		t.Errorf("concurrent %d", c.Limits.ActionsInvokesConcurrent)
	}
	if c.Limits.TriggersFiresPerMinute != 9 { // file over default
		t.Errorf("fires/minute %d", c.Limits.TriggersFiresPerMinute)
	}
	if c.Sandbox != "none" || c.ConfigFile != p || c.APIHost != "http://127.0.0.1:3333" {
		t.Errorf("sandbox %q, file %q, apiHost %q", c.Sandbox, c.ConfigFile, c.APIHost)
	}

	// --config beats WHIRL_CONFIG; a bad env value names the variable and key.
	other := writeFile(t, "limits:\n  actionsInvokesPerminute: 5\n")
	c = Default()
	fs = pflag.NewFlagSet("up", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--config", other}); err != nil {
		t.Fatal(err)
	}
	if err := c.Load([]string{"WHIRL_CONFIG=" + p}); err != nil {
		t.Fatal(err)
	}
	if c.Limits.ActionsInvokesPerMinute != 5 {
		t.Errorf("--config ignored: %d", c.Limits.ActionsInvokesPerMinute)
	}
	err := Default().Load([]string{"WHIRL_LIMITS_ACTIONS_MEMORY_MAX=12x"})
	if err == nil || !strings.Contains(err.Error(), `WHIRL_LIMITS_ACTIONS_MEMORY_MAX (limits.actions.memory.max): cannot parse "12x" as a size`) {
		t.Errorf("env error: %v", err)
	}
	c = Default()
	fs = pflag.NewFlagSet("up", pflag.ContinueOnError)
	c.BindFlags(fs)
	_ = fs.Parse([]string{"--set", "limits.bogus=1"})
	if err := c.Load(nil); err == nil || !strings.Contains(err.Error(), "limits.bogus: unknown key") {
		t.Errorf("--set unknown: %v", err)
	}
}

func TestLimitsJSON(t *testing.T) {
	c := Default()
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(c.LimitsJSON())
	want := `{"concurrentInvocations":30,"firesPerMinute":60,"invocationsPerMinute":60,"maxActionConcurrency":1,` +
		`"maxActionInstances":30,"maxActionLogs":10,"maxActionMemory":512,"maxActionTimeout":300000,` +
		`"maxParameterSize":"1048576 B","maxPayloadSize":"1048576 B","minActionConcurrency":1,"minActionLogs":0,` +
		`"minActionMemory":128,"minActionTimeout":100}`
	if string(got) != want {
		t.Errorf("LimitsJSON\n got %s\nwant %s", got, want)
	}
	got, _ = json.Marshal(c.InfoLimitsJSON())
	want = `{"actions_per_minute":60,"concurrent_actions":30,"max_action_duration":300000,"max_action_logs":10485760,` +
		`"max_action_memory":536870912,"min_action_duration":100,"min_action_logs":0,"min_action_memory":134217728,` +
		`"sequence_length":50,"triggers_per_minute":60}`
	if string(got) != want {
		t.Errorf("InfoLimitsJSON\n got %s\nwant %s", got, want)
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	for _, want := range []string{"limits.actionsInvokesPerminute", "limits.actions.log.std", "containerPool.userMemory", "listen"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("Keys() lacks %s", want)
		}
	}
}

func TestRoleKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "whirl.yaml")
	yaml := "store: postgres://whirl@db:5432/whirl\nbus: nats://nats:4222\ninvokers: [invoker0, invoker1]\ncontrollerName: c0\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	c.BindFlags(fs)
	c.BindRoleFlags(fs)
	if err := fs.Parse([]string{"--config", path, "--bus-prefix", "prod", "--schedule-alarms"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Load([]string{"WHIRL_INVOKER_NAME=node-7"}); err != nil {
		t.Fatal(err)
	}
	if c.Store != "postgres://whirl@db:5432/whirl" || c.Bus != "nats://nats:4222" || c.BusPrefix != "prod" ||
		c.InvokerName != "node-7" || c.ControllerName != "c0" || !c.ScheduleAlarms ||
		strings.Join(c.Invokers, ",") != "invoker0,invoker1" {
		t.Fatalf("got %+v", c)
	}

	d := Default()
	if err := d.Resolve(); err != nil {
		t.Fatal(err)
	}
	if d.BusPrefix != "whirl" || !strings.HasPrefix(d.InvokerName, "invoker-") || !strings.HasPrefix(d.ControllerName, "controller-") || d.ScheduleAlarms {
		t.Fatalf("defaults: prefix %q, invoker %q, controller %q, alarms %v", d.BusPrefix, d.InvokerName, d.ControllerName, d.ScheduleAlarms)
	}
	if err := d.Set("invokers", " a, b ,,c"); err != nil || strings.Join(d.Invokers, "|") != "a|b|c" {
		t.Fatalf("invokers = %q, %v", d.Invokers, err)
	}

	for key, value := range map[string]string{
		"store":          "mysql://x",
		"bus":            "http://nats:4222",
		"busPrefix":      "a.*",
		"invokerName":    "node.7",
		"controllerName": "c 0",
		"invokers":       "a,a",
	} {
		c := Default()
		if err := c.Set(key, value); err != nil {
			t.Fatal(err)
		}
		err := c.Resolve()
		if err == nil || !strings.HasPrefix(err.Error(), key+":") {
			t.Errorf("%s=%q: got %v, want an error naming %s", key, value, err, key)
		}
	}
	c = Default()
	_ = c.Set("store", "postgres://whirl:secret@db/whirl?x=")
	_ = c.Set("bus", "nats://a:4222, nats://b:4222")
	if err := c.Resolve(); err != nil {
		t.Fatalf("valid role keys refused: %v", err)
	}
}

func TestContainerFactoryKeys(t *testing.T) {
	d := Default()
	if err := d.Resolve(); err != nil {
		t.Fatal(err)
	}
	if d.ContainerFactory != "process" {
		t.Fatalf("default containerFactory = %q, want process", d.ContainerFactory)
	}
	path := filepath.Join(t.TempDir(), "whirl.yaml")
	yaml := "containerFactory: kubernetes\nkubernetes:\n  namespace: actions\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadEnv([]string{"WHIRL_KUBERNETES_IMAGE=whirlfaas/action-runtime:1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if c.ContainerFactory != "kubernetes" || c.Kubernetes.Namespace != "actions" || c.Kubernetes.Image != "whirlfaas/action-runtime:1" {
		t.Fatalf("got factory %q, kubernetes %+v", c.ContainerFactory, c.Kubernetes)
	}
	if err := c.Set("containerFactory", "docker"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "containerFactory") {
		t.Fatalf("containerFactory docker: err = %v", err)
	}
}

func TestActionNetworkKeys(t *testing.T) {
	c := Default()
	if err := c.LoadEnv([]string{"WHIRL_ACTION_NETWORK=isolated", "WHIRL_ACTION_NETWORK_ALLOW=10.1.0.0/16, 192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if c.ActionNetwork != "isolated" || strings.Join(c.ActionNetworkAllow, " ") != "10.1.0.0/16 192.0.2.7" {
		t.Fatalf("actionNetwork %q, allow %q", c.ActionNetwork, c.ActionNetworkAllow)
	}
	// The deprecated bool still works: true is host, false none.
	for v, want := range map[string]string{"true": "host", "false": "none"} {
		if err := c.Set("network", v); err != nil || c.ActionNetwork != want {
			t.Errorf("network=%s: actionNetwork %q, %v; want %q", v, c.ActionNetwork, err, want)
		}
	}
	if err := c.loadYAML([]byte("actionNetwork: host\nactionNetworkAllow: [10.0.0.0/8, \"fd00::/8\"]\n")); err != nil || c.ActionNetwork != "host" || len(c.ActionNetworkAllow) != 2 {
		t.Fatalf("yaml: %q %q %v", c.ActionNetwork, c.ActionNetworkAllow, err)
	}
	for _, bad := range []struct{ key, value, msg string }{
		{"actionNetwork", "open", `actionNetwork: "open" is not one of none, isolated, host`},
		{"actionNetworkAllow", "10.0.0.0/33", `actionNetworkAllow: "10.0.0.0/33" is not a CIDR range or an address`},
	} {
		c := Default()
		if err := c.Set(bad.key, bad.value); err != nil {
			t.Fatal(err)
		}
		if err := c.Resolve(); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%s=%s: %v, want %q", bad.key, bad.value, err, bad.msg)
		}
	}
}
