// Package config is Whirl's typed configuration: what `whirl up` and the
// server roles read, with OpenWhisk's defaults and validation.
//
// Values come, each layer overriding the one before, from Default, a YAML
// file (--config or WHIRL_CONFIG), environment variables (WHIRL_…) and
// command-line flags (BindFlags, including --set key=value for any key).
// The OpenWhisk limits use the same keys as the OpenWhisk Helm chart's
// values (limits.actionsInvokesPerminute, limits.actions.memory.max,
// containerPool.userMemory, …), so an operator's values.yaml can be given
// as is: keys may sit at the top level or under "whisk:".
//
// Every value may be written as a number or a string and is parsed
// exactly: "50000000", 50000000, 5e7 and "5e+07" are all fifty million.
// Durations are "100ms", "5m", "2 minutes", "1 d" or plain milliseconds;
// memory and log sizes are "256m", "1g", "256 MB" or plain megabytes; the
// payload limit is "1m" or plain bytes. A value that does not parse, an
// unknown key and an inconsistent range are refused with the key named.
//
// The package imports the whisk vocabulary and pflag; internal/app and the
// CLI import it.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

// Config is the whole configuration of a Whirl process. Build it with
// Default, fill it with Load (or LoadFile, LoadEnv, Set) and call Resolve
// before use; Load calls Resolve.
type Config struct {
	// Listen is the address the API listens on, host:port.
	Listen string
	// DataDir holds the embedded store; "~" is expanded by Resolve.
	DataDir string
	// TLSCert and TLSKey, both set, make the API serve HTTPS.
	TLSCert string
	TLSKey  string
	// APIHost is the public URL of the API, given to actions as
	// __OW_API_HOST. Resolve derives it from Listen when empty.
	APIHost string
	// Sandbox is "auto" (bubblewrap when installed), "none" or "bwrap".
	Sandbox string
	// ActionNetwork is what actions' containers reach: "none", "isolated"
	// (the internet and ActionNetworkAllow, never the host, private or
	// link-local ranges, or the store and bus) or "host". Empty means the
	// role's default (see internal/app): isolated, or host for `whirl up`
	// listening on loopback. The old `network` key sets it (true is host).
	ActionNetwork string
	// ActionNetworkAllow are ranges (CIDRs or addresses) isolated actions
	// may reach although private or the host's own.
	ActionNetworkAllow []string
	// GoProxy is the module proxy (GOPROXY) Go action builds may download
	// modules from; "" means builds download nothing.
	GoProxy string
	// RuntimesFile is a runtimes manifest replacing the built-in one.
	RuntimesFile string
	// UseWellKnownKeys installs OpenWhisk's public guest and whisk.system
	// keys. Unless set explicitly, Resolve turns it on only when Listen
	// is a loopback address.
	UseWellKnownKeys bool
	// BlockingWait is how long a blocking invoke waits before answering
	// 202 with the activation id.
	BlockingWait time.Duration
	// ConfigFile is the YAML file Load read, if any.
	ConfigFile string

	// The scale-out roles (`whirl controller`, `whirl invoker`); `whirl
	// up` refuses Store and Bus.

	// Store is the PostgreSQL the roles share, a postgres:// URL (or a
	// key=value DSN). Empty means the embedded SQLite in DataDir.
	Store string
	// Bus is the NATS server (JetStream enabled), a nats:// URL; several
	// may be given comma-separated. Empty means the in-process bus.
	Bus string
	// BusCredentials is a file of credentials for the NATS server: a
	// user credentials file (.creds), an nkey seed, or a token. User and
	// password (or a token) may instead be in the Bus URL.
	BusCredentials string
	// BusPrefix starts every NATS subject and names the stream
	// (<PREFIX>_INVOKE); deployments sharing a NATS server keep apart by
	// prefix.
	BusPrefix string
	// InvokerName is this invoker's name on the bus (`whirl invoker`).
	// Resolve derives it from the host name when empty.
	InvokerName string
	// Invokers are the invoker names a controller balances over, by hash
	// of the action.
	Invokers []string
	// ControllerName is this controller's name on the bus, where its
	// completions come back: unique per controller. Resolve derives it
	// from the host name when empty.
	ControllerName string
	// ScheduleAlarms makes this controller run the alarms feeds'
	// schedules. Exactly one controller of a deployment sets it.
	ScheduleAlarms bool
	// BusTLS connects to NATS with TLS: the CA that signs the server's
	// certificate and, for servers that verify clients, a client
	// certificate and key (PEM files; any may be empty).
	BusTLS struct{ CA, Cert, Key string }
	// InvokerTimeout is how long an invoker's heartbeats may stop before
	// the controllers declare it dead and move its work (0: 3s).
	InvokerTimeout time.Duration

	// ContainerFactory is what runs action containers: "process" (local
	// processes, the default) or "kubernetes" (one pod per container;
	// `whirl invoker` only, `whirl up` refuses it).
	ContainerFactory string
	// Kubernetes configures the kubernetes container factory.
	Kubernetes Kubernetes

	Limits        Limits
	ContainerPool ContainerPool
	// HTTP bounds the clients of every listener (server.go).
	HTTP HTTP
	// Metrics says who GET /metrics answers (server.go).
	Metrics Metrics
	// Activations is the retention of activation records (retention.go).
	Activations Activations
	// Pprof, when set, is a loopback host:port where Go's profiler
	// (net/http/pprof, /debug/pprof/) is served (pprof; server.go).
	Pprof string

	wellKnownSet bool
	flags        *flagValues
}

// Limits are the OpenWhisk system limits, under the Helm chart's names.
type Limits struct {
	ActionsInvokesPerMinute  int // limits.actionsInvokesPerminute
	ActionsInvokesConcurrent int // limits.actionsInvokesConcurrent
	TriggersFiresPerMinute   int // limits.triggersFiresPerminute
	ActionsSequenceMaxLength int // limits.actionsSequenceMaxlength
	Actions                  ActionRanges
	PayloadMax               int64 // limits.activation.payload.max, bytes
	ParametersMax            int64 // limits.parameters.max, bytes
}

// ActionRanges are the per-action limit ranges (limits.actions.*).
type ActionRanges struct {
	Time        DurationRange
	Memory      Range // megabytes
	Concurrency Range
	Log         Range // megabytes
}

// Range is a min/max/std triple of whole numbers.
type Range struct{ Min, Max, Std int }

// DurationRange is a min/max/std triple of durations.
type DurationRange struct{ Min, Max, Std time.Duration }

// Kubernetes configures the kubernetes container factory. The API server
// and credentials are the pod's service account (in-cluster).
type Kubernetes struct {
	// Namespace holds the action pods; empty means the invoker's own
	// namespace.
	Namespace string
	// Image, when set, is Whirl's runtime image (`whirl proxy`), run for
	// every kind instead of the runtimes manifest's images.
	Image string
	// Pod settings of action pods, parsed by kubernetes.ParsePodSettings:
	// NodeSelector "k=v,k2=v2", Tolerations a JSON array,
	// ImagePullSecrets "a,b", CPUPerGB cores per 1024 MB of an action's
	// memory, ActiveDeadlineSeconds a pod's longest life.
	NodeSelector, Tolerations, ImagePullSecrets, CPUPerGB, ActiveDeadlineSeconds string
	// OwnerPod is the invoker's own pod, owner of the action pods (same
	// namespace only): the garbage collector removes them with it.
	OwnerPod string
}

// ContainerPool configures the invoker's pool of action containers.
type ContainerPool struct {
	// UserMemory is the memory budget of all action containers, MB.
	UserMemory int
	// IdleTimeout is how long an idle warm container is kept.
	IdleTimeout time.Duration
	// MaxQueue bounds activations waiting for room in the pool.
	MaxQueue int
	// UserCPUs, when positive, is the CPU time all action containers may
	// use together; each is capped at its memory's fraction of it
	// (OpenWhisk's container-pool.user-cpus). 0: no cap.
	UserCPUs float64
}

// DefaultListen is where `whirl up` listens unless told otherwise.
const DefaultListen = "127.0.0.1:3233"

// Default returns the configuration of a `whirl up` given no options:
// OpenWhisk's deployment defaults for every limit.
func Default() *Config {
	return &Config{
		Listen:           DefaultListen,
		DataDir:          "~/.whirl",
		Sandbox:          "auto",
		ContainerFactory: "process",
		BlockingWait:     60 * time.Second,
		BusPrefix:        "whirl",
		Limits: Limits{
			ActionsInvokesPerMinute:  60,
			ActionsInvokesConcurrent: 30,
			TriggersFiresPerMinute:   60,
			ActionsSequenceMaxLength: 50,
			Actions: ActionRanges{
				Time:        DurationRange{Min: 100 * time.Millisecond, Max: 5 * time.Minute, Std: time.Minute},
				Memory:      Range{Min: 128, Max: 512, Std: 256},
				Concurrency: Range{Min: 1, Max: 1, Std: 1},
				Log:         Range{Min: 0, Max: 10, Std: 10},
			},
			PayloadMax:    1048576,
			ParametersMax: 1048576,
		},
		ContainerPool: ContainerPool{UserMemory: 2048, IdleTimeout: 10 * time.Minute, MaxQueue: 10000},
		HTTP:          defaultHTTP(),
		Activations:   defaultActivations(),
	}
}

// IsLoopback reports whether the listen address host:port binds only a
// loopback interface: "localhost", 127.0.0.0/8 or ::1. An empty host binds
// every interface and is not loopback.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = strings.Trim(listen, "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Resolve expands DataDir, derives APIHost and UseWellKnownKeys where they
// were not given, and validates the whole configuration. It is idempotent.
func (c *Config) Resolve() error {
	if c.DataDir == "~" || strings.HasPrefix(c.DataDir, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("dataDir: expand %q: %w", c.DataDir, err)
		}
		c.DataDir = filepath.Join(home, c.DataDir[1:])
	}
	if !c.wellKnownSet {
		c.UseWellKnownKeys = IsLoopback(c.Listen)
	}
	if c.InvokerName == "" {
		c.InvokerName = "invoker-" + hostToken()
	}
	if c.ControllerName == "" {
		c.ControllerName = "controller-" + hostToken()
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	if c.APIHost == "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if err == nil {
			if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
				host = "127.0.0.1"
			}
			c.APIHost = scheme + "://" + net.JoinHostPort(host, port)
		}
	} else if !strings.Contains(c.APIHost, "://") {
		c.APIHost = scheme + "://" + c.APIHost
	}
	return c.Validate()
}

// Validate checks every value and the relations between them. The error
// names the key at fault.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		bad("listen", "%q is not a host:port address", c.Listen)
	}
	if c.DataDir == "" {
		bad("dataDir", "must not be empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tlsCert", "tlsCert and tlsKey must be given together")
	}
	if c.APIHost != "" {
		if u, err := url.Parse(c.APIHost); err != nil || u.Host == "" {
			bad("apiHost", "%q is not a URL", c.APIHost)
		}
	}
	switch c.Sandbox {
	case "auto", "none", "bwrap":
	default:
		bad("sandbox", "%q is not one of auto, none, bwrap", c.Sandbox)
	}
	switch c.ActionNetwork {
	case "", "none", "isolated", "host":
	default:
		bad("actionNetwork", "%q is not one of none, isolated, host", c.ActionNetwork)
	}
	for _, r := range c.ActionNetworkAllow {
		if _, err := netip.ParsePrefix(r); err != nil {
			if _, err := netip.ParseAddr(r); err != nil {
				bad("actionNetworkAllow", "%q is not a CIDR range or an address", r)
			}
		}
	}
	switch c.ContainerFactory {
	case "process", "kubernetes":
	default:
		bad("containerFactory", "%q is not one of process, kubernetes", c.ContainerFactory)
	}
	if c.BlockingWait <= 0 {
		bad("blockingWait", "must be positive")
	}
	if c.Store != "" && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") && !strings.Contains(c.Store, "=") {
		bad("store", "%q is not a postgres:// URL", redactDSN(c.Store))
	}
	if c.Bus != "" {
		for _, u := range strings.Split(c.Bus, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || pu.Host == "" || (pu.Scheme != "nats" && pu.Scheme != "tls" && pu.Scheme != "ws" && pu.Scheme != "wss") {
				bad("bus", "%q is not a nats:// URL", redactUserinfo(u))
			}
		}
	}
	if c.BusPrefix == "" {
		bad("busPrefix", "must not be empty")
	}
	for _, tok := range strings.Split(c.BusPrefix, ".") {
		if c.BusPrefix != "" && !validBusName(tok) {
			bad("busPrefix", "%q is not a NATS subject prefix (dot-separated tokens of letters, digits, - and _)", c.BusPrefix)
			break
		}
	}
	if c.InvokerName != "" && !validBusName(c.InvokerName) {
		bad("invokerName", "%q is not a valid name (letters, digits, - and _)", c.InvokerName)
	}
	if c.ControllerName != "" && !validBusName(c.ControllerName) {
		bad("controllerName", "%q is not a valid name (letters, digits, - and _)", c.ControllerName)
	}
	seen := map[string]bool{}
	for _, n := range c.Invokers {
		if !validBusName(n) {
			bad("invokers", "%q is not a valid name (letters, digits, - and _)", n)
		} else if seen[n] {
			bad("invokers", "%q is listed twice", n)
		}
		seen[n] = true
	}
	l := c.Limits
	for _, n := range []struct {
		key string
		v   int
	}{
		{"limits.actionsInvokesPerminute", l.ActionsInvokesPerMinute},
		{"limits.actionsInvokesConcurrent", l.ActionsInvokesConcurrent},
		{"limits.triggersFiresPerminute", l.TriggersFiresPerMinute},
	} {
		if n.v < 0 {
			bad(n.key, "must not be negative")
		}
	}
	if l.ActionsSequenceMaxLength < 1 {
		bad("limits.actionsSequenceMaxlength", "must be at least 1")
	}
	t := l.Actions.Time
	checkRange(bad, "limits.actions.time", int64(t.Min), int64(t.Max), int64(t.Std),
		func(v int64) string { return time.Duration(v).String() })
	if t.Min < time.Millisecond {
		bad("limits.actions.time.min", "must be at least 1ms")
	}
	if t.Max > time.Duration(1<<31-1)*time.Millisecond {
		bad("limits.actions.time.max", "%s is too long", t.Max)
	}
	mb := func(v int64) string { return fmt.Sprintf("%d MB", v) }
	plain := func(v int64) string { return fmt.Sprint(v) }
	m := l.Actions.Memory
	checkRange(bad, "limits.actions.memory", int64(m.Min), int64(m.Max), int64(m.Std), mb)
	if m.Min < 1 {
		bad("limits.actions.memory.min", "must be at least 1 MB")
	}
	cc := l.Actions.Concurrency
	checkRange(bad, "limits.actions.concurrency", int64(cc.Min), int64(cc.Max), int64(cc.Std), plain)
	if cc.Min < 1 {
		bad("limits.actions.concurrency.min", "must be at least 1")
	}
	lg := l.Actions.Log
	checkRange(bad, "limits.actions.log", int64(lg.Min), int64(lg.Max), int64(lg.Std), mb)
	if lg.Min < 0 {
		bad("limits.actions.log.min", "must not be negative")
	}
	if l.PayloadMax < 1 {
		bad("limits.activation.payload.max", "must be positive")
	}
	if l.ParametersMax < 1 {
		bad("limits.parameters.max", "must be positive")
	}
	if c.ContainerPool.UserMemory < m.Min {
		bad("containerPool.userMemory", "%d MB cannot hold one action of the minimum memory (%d MB)", c.ContainerPool.UserMemory, m.Min)
	} else if m.Max > c.ContainerPool.UserMemory {
		// An action allowed that much could never run: refuse it here
		// rather than accept actions the pool can only fail.
		bad("limits.actions.memory.max", "%d MB is more than containerPool.userMemory (%d MB): an action of that memory could never run", m.Max, c.ContainerPool.UserMemory)
	}
	if c.ContainerPool.IdleTimeout <= 0 {
		bad("containerPool.idleTimeout", "must be positive")
	}
	if c.ContainerPool.UserCPUs < 0 {
		bad("containerPool.userCpus", "must not be negative")
	}
	if c.ContainerPool.MaxQueue < 0 {
		bad("containerPool.maxQueue", "must not be negative")
	}
	c.validateServer(bad)
	c.validateRetention(bad)
	return errors.Join(errs...)
}

// validBusName reports whether s can name an invoker, a controller or a
// token of the bus prefix: letters, digits, '-' and '_'.
func validBusName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// hostToken is the host name made a valid bus name, for the default
// invoker and controller names.
func hostToken() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "0"
	}
	b := []byte(h)
	for i, r := range b {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b[i] = '-'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return string(b)
}

// redactDSN hides the password of a URL DSN, for error messages.
// redactUserinfo returns a URL with anything before its last @ (user and
// password, or a token) replaced, even when the URL does not parse.
func redactUserinfo(u string) string {
	at := strings.LastIndex(u, "@")
	if at < 0 {
		return u
	}
	start := strings.Index(u, "://")
	if start < 0 || start > at {
		return "REDACTED" + u[at:]
	}
	return u[:start+3] + "REDACTED" + u[at:]
}

func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

func checkRange(bad func(key, format string, args ...any), key string, min, max, std int64, show func(int64) string) {
	if min > max {
		bad(key, "min (%s) is greater than max (%s)", show(min), show(max))
		return
	}
	if std < min || std > max {
		bad(key+".std", "%s is outside min..max (%s..%s)", show(std), show(min), show(max))
	}
}

// ActionLimits returns the per-action limit ranges in the units the whisk
// package uses: timeout in milliseconds, memory and logs in megabytes.
func (c *Config) ActionLimits() whisk.ActionLimitRanges {
	a := c.Limits.Actions
	ms := func(d time.Duration) int { return int(d / time.Millisecond) }
	return whisk.ActionLimitRanges{
		Timeout:     whisk.Range{Min: ms(a.Time.Min), Max: ms(a.Time.Max), Std: ms(a.Time.Std)},
		Memory:      whisk.Range(a.Memory),
		Logs:        whisk.Range(a.Log),
		Concurrency: whisk.Range(a.Concurrency),
	}
}

// LimitsJSON is the body of GET /api/v1/namespaces/{ns}/limits, with
// OpenWhisk's keys and units: memory and logs in megabytes, timeouts in
// milliseconds, sizes as ByteSize strings ("1048576 B").
func (c *Config) LimitsJSON() map[string]any {
	a := c.ActionLimits()
	l := c.Limits
	return map[string]any{
		"invocationsPerMinute":  l.ActionsInvokesPerMinute,
		"concurrentInvocations": l.ActionsInvokesConcurrent,
		"firesPerMinute":        l.TriggersFiresPerMinute,
		"maxActionInstances":    l.ActionsInvokesConcurrent,
		"minActionMemory":       a.Memory.Min,
		"maxActionMemory":       a.Memory.Max,
		"minActionLogs":         a.Logs.Min,
		"maxActionLogs":         a.Logs.Max,
		"minActionTimeout":      a.Timeout.Min,
		"maxActionTimeout":      a.Timeout.Max,
		"minActionConcurrency":  a.Concurrency.Min,
		"maxActionConcurrency":  a.Concurrency.Max,
		"maxParameterSize":      fmt.Sprintf("%d B", l.ParametersMax),
		"maxPayloadSize":        fmt.Sprintf("%d B", l.PayloadMax),
	}
}

// InfoLimitsJSON is the "limits" object of GET / (the controller's info),
// with OpenWhisk's keys and units: durations in milliseconds, memory and
// logs in bytes.
func (c *Config) InfoLimitsJSON() map[string]any {
	a := c.ActionLimits()
	l := c.Limits
	const mb = 1 << 20
	return map[string]any{
		"actions_per_minute":  l.ActionsInvokesPerMinute,
		"triggers_per_minute": l.TriggersFiresPerMinute,
		"concurrent_actions":  l.ActionsInvokesConcurrent,
		"sequence_length":     l.ActionsSequenceMaxLength,
		"min_action_duration": a.Timeout.Min,
		"max_action_duration": a.Timeout.Max,
		"min_action_memory":   int64(a.Memory.Min) * mb,
		"max_action_memory":   int64(a.Memory.Max) * mb,
		"min_action_logs":     int64(a.Logs.Min) * mb,
		"max_action_logs":     int64(a.Logs.Max) * mb,
	}
}
