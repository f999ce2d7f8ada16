package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// knob is one settable key: its canonical name and how to parse and store
// a value for it.
type knob struct {
	key string
	set func(c *Config, v string) error
	// list knobs take a comma-separated value, or a YAML list.
	list bool
}

func intKnob(key string, field func(*Config) *int) knob {
	return knob{key: key, set: func(c *Config, v string) error {
		n, err := parseInt(v)
		if err != nil {
			return err
		}
		if n > math.MaxInt32 || n < math.MinInt32 {
			return fmt.Errorf("%d is out of range", n)
		}
		*field(c) = int(n)
		return nil
	}}
}

func mbKnob(key string, field func(*Config) *int) knob {
	return knob{key: key, set: func(c *Config, v string) error {
		n, err := parseMB(v)
		if err != nil {
			return err
		}
		if n > math.MaxInt32 {
			return fmt.Errorf("%d MB is out of range", n)
		}
		*field(c) = int(n)
		return nil
	}}
}

func bytesKnob(key string, field func(*Config) *int64) knob {
	return knob{key: key, set: func(c *Config, v string) error {
		n, err := parseBytes(v, 1)
		if err != nil {
			return err
		}
		*field(c) = n
		return nil
	}}
}

func durationKnob(key string, field func(*Config) *time.Duration) knob {
	return knob{key: key, set: func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = d
		return nil
	}}
}

func stringKnob(key string, field func(*Config) *string) knob {
	return knob{key: key, set: func(c *Config, v string) error {
		*field(c) = v
		return nil
	}}
}

func boolKnob(key string, field func(*Config) *bool) knob {
	return knob{key: key, set: func(c *Config, v string) error {
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		*field(c) = b
		return nil
	}}
}

func rangeKnobs(prefix string, mk func(string, func(*Config) *int) knob, r func(*Config) *Range) []knob {
	return []knob{
		mk(prefix+".min", func(c *Config) *int { return &r(c).Min }),
		mk(prefix+".max", func(c *Config) *int { return &r(c).Max }),
		mk(prefix+".std", func(c *Config) *int { return &r(c).Std }),
	}
}

var knobs = func() []knob {
	ks := []knob{
		stringKnob("listen", func(c *Config) *string { return &c.Listen }),
		stringKnob("dataDir", func(c *Config) *string { return &c.DataDir }),
		stringKnob("tlsCert", func(c *Config) *string { return &c.TLSCert }),
		stringKnob("tlsKey", func(c *Config) *string { return &c.TLSKey }),
		stringKnob("apiHost", func(c *Config) *string { return &c.APIHost }),
		stringKnob("sandbox", func(c *Config) *string { return &c.Sandbox }),
		{key: "network", set: func(c *Config, v string) error {
			// Deprecated alias of actionNetwork: true is host, false none.
			b, err := parseBool(v)
			if err != nil {
				return err
			}
			c.ActionNetwork = map[bool]string{true: "host", false: "none"}[b]
			return nil
		}},
		stringKnob("actionNetwork", func(c *Config) *string { return &c.ActionNetwork }),
		{key: "actionNetworkAllow", list: true, set: func(c *Config, v string) error {
			c.ActionNetworkAllow = splitList(v)
			return nil
		}},
		stringKnob("goProxy", func(c *Config) *string { return &c.GoProxy }),
		stringKnob("runtimes", func(c *Config) *string { return &c.RuntimesFile }),
		stringKnob("containerFactory", func(c *Config) *string { return &c.ContainerFactory }),
		stringKnob("kubernetes.namespace", func(c *Config) *string { return &c.Kubernetes.Namespace }),
		stringKnob("kubernetes.image", func(c *Config) *string { return &c.Kubernetes.Image }),
		stringKnob("kubernetes.nodeSelector", func(c *Config) *string { return &c.Kubernetes.NodeSelector }),
		stringKnob("kubernetes.tolerations", func(c *Config) *string { return &c.Kubernetes.Tolerations }),
		stringKnob("kubernetes.imagePullSecrets", func(c *Config) *string { return &c.Kubernetes.ImagePullSecrets }),
		stringKnob("kubernetes.cpuPerGB", func(c *Config) *string { return &c.Kubernetes.CPUPerGB }),
		stringKnob("kubernetes.activeDeadlineSeconds", func(c *Config) *string { return &c.Kubernetes.ActiveDeadlineSeconds }),
		stringKnob("kubernetes.ownerPod", func(c *Config) *string { return &c.Kubernetes.OwnerPod }),
		{key: "useWellKnownKeys", set: func(c *Config, v string) error {
			b, err := parseBool(v)
			if err != nil {
				return err
			}
			c.UseWellKnownKeys, c.wellKnownSet = b, true
			return nil
		}},
		durationKnob("blockingWait", func(c *Config) *time.Duration { return &c.BlockingWait }),
		stringKnob("store", func(c *Config) *string { return &c.Store }),
		stringKnob("bus", func(c *Config) *string { return &c.Bus }),
		stringKnob("busPrefix", func(c *Config) *string { return &c.BusPrefix }),
		stringKnob("busCredentials", func(c *Config) *string { return &c.BusCredentials }),
		stringKnob("invokerName", func(c *Config) *string { return &c.InvokerName }),
		stringKnob("controllerName", func(c *Config) *string { return &c.ControllerName }),
		{key: "invokers", list: true, set: func(c *Config, v string) error {
			c.Invokers = nil
			for _, n := range strings.Split(v, ",") {
				if n = strings.TrimSpace(n); n != "" {
					c.Invokers = append(c.Invokers, n)
				}
			}
			return nil
		}},
		boolKnob("scheduleAlarms", func(c *Config) *bool { return &c.ScheduleAlarms }),
		stringKnob("busTLS.ca", func(c *Config) *string { return &c.BusTLS.CA }),
		stringKnob("busTLS.cert", func(c *Config) *string { return &c.BusTLS.Cert }),
		stringKnob("busTLS.key", func(c *Config) *string { return &c.BusTLS.Key }),
		durationKnob("invokerTimeout", func(c *Config) *time.Duration { return &c.InvokerTimeout }),
		intKnob("limits.actionsInvokesPerminute", func(c *Config) *int { return &c.Limits.ActionsInvokesPerMinute }),
		intKnob("limits.actionsInvokesConcurrent", func(c *Config) *int { return &c.Limits.ActionsInvokesConcurrent }),
		intKnob("limits.triggersFiresPerminute", func(c *Config) *int { return &c.Limits.TriggersFiresPerMinute }),
		intKnob("limits.actionsSequenceMaxlength", func(c *Config) *int { return &c.Limits.ActionsSequenceMaxLength }),
		durationKnob("limits.actions.time.min", func(c *Config) *time.Duration { return &c.Limits.Actions.Time.Min }),
		durationKnob("limits.actions.time.max", func(c *Config) *time.Duration { return &c.Limits.Actions.Time.Max }),
		durationKnob("limits.actions.time.std", func(c *Config) *time.Duration { return &c.Limits.Actions.Time.Std }),
		bytesKnob("limits.activation.payload.max", func(c *Config) *int64 { return &c.Limits.PayloadMax }),
		bytesKnob("limits.parameters.max", func(c *Config) *int64 { return &c.Limits.ParametersMax }),
		mbKnob("containerPool.userMemory", func(c *Config) *int { return &c.ContainerPool.UserMemory }),
		durationKnob("containerPool.idleTimeout", func(c *Config) *time.Duration { return &c.ContainerPool.IdleTimeout }),
		intKnob("containerPool.maxQueue", func(c *Config) *int { return &c.ContainerPool.MaxQueue }),
		{key: "containerPool.userCpus", set: func(c *Config, v string) error {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				return fmt.Errorf("%q is not a number of CPUs", v)
			}
			c.ContainerPool.UserCPUs = n
			return nil
		}},
	}
	ks = append(ks, rangeKnobs("limits.actions.memory", mbKnob, func(c *Config) *Range { return &c.Limits.Actions.Memory })...)
	ks = append(ks, rangeKnobs("limits.actions.concurrency", intKnob, func(c *Config) *Range { return &c.Limits.Actions.Concurrency })...)
	ks = append(ks, rangeKnobs("limits.actions.log", mbKnob, func(c *Config) *Range { return &c.Limits.Actions.Log })...)
	ks = append(ks, serverKnobs...)
	ks = append(ks, retentionKnobs...)
	return ks
}()

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// byKey finds knobs by lowercased key (keys match case-insensitively, so
// the chart schema's actionsSequenceMaxLength is accepted too) and by the
// key with every separator removed (environment variable names).
var byKey, byEnv = func() (map[string]*knob, map[string]*knob) {
	k, e := map[string]*knob{}, map[string]*knob{}
	for i := range knobs {
		kn := &knobs[i]
		k[strings.ToLower(kn.key)] = kn
		e[envNorm(kn.key)] = kn
	}
	return k, e
}()

func envNorm(s string) string {
	return strings.ToLower(strings.NewReplacer(".", "", "_", "", "-", "").Replace(s))
}

// Keys returns every key Set accepts, in their canonical spelling, sorted.
func Keys() []string {
	out := make([]string, len(knobs))
	for i, k := range knobs {
		out[i] = k.key
	}
	sort.Strings(out)
	return out
}

// Set parses value for key (case-insensitive, dotted: "listen",
// "limits.actions.memory.max") and stores it. The error names the key.
func (c *Config) Set(key, value string) error {
	k, ok := byKey[strings.ToLower(key)]
	if !ok {
		return fmt.Errorf("%s: unknown key", key)
	}
	if err := k.set(c, value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// LoadFile reads YAML (or JSON) configuration from path over c. Keys may be
// nested or dotted, at the top level or under "whisk:" as in an OpenWhisk
// Helm values file. An empty string or null leaves a value unchanged (as an
// empty string in the chart means "the default").
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := c.loadYAML(data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.ConfigFile = path
	return nil
}

func (c *Config) loadYAML(data []byte) error {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	if doc == nil {
		return nil
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return errors.New("parse: the document is not a mapping")
	}
	var errs []error
	var walk func(prefix, shown string, v any)
	walk = func(prefix, shown string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p, s := k, k
				if prefix != "" {
					p, s = prefix+"."+k, shown+"."+k
				} else if shown != "" {
					s = shown + "." + k
				}
				walk(p, s, v[k])
			}
		case nil:
			if _, ok := byKey[strings.ToLower(prefix)]; !ok {
				errs = append(errs, fmt.Errorf("%s: unknown key", shown))
			}
		case []any:
			if k, ok := byKey[strings.ToLower(prefix)]; ok && k.list {
				parts := make([]string, len(v))
				for i, x := range v {
					parts[i] = fmt.Sprint(x)
				}
				if err := k.set(c, strings.Join(parts, ",")); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", shown, err))
				}
				return
			}
			errs = append(errs, fmt.Errorf("%s: expected a single value, got a list", shown))
		default:
			s := fmt.Sprint(v) // json.Number keeps the text as written
			k, ok := byKey[strings.ToLower(prefix)]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: unknown key", shown))
				return
			}
			if s == "" {
				return
			}
			if err := k.set(c, s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", shown, err))
			}
		}
	}
	for _, k := range sortedKeys(top) {
		if k == "whisk" {
			if m, ok := top[k].(map[string]any); ok {
				walk("", "whisk", m)
				continue
			}
		}
		walk(k, k, top[k])
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "WHIRL_"

// LoadEnv applies environment variables from environ ("NAME=value", as
// os.Environ returns them). A variable is WHIRL_ and a key with its dots,
// and any underscores, dashes or case, disregarded: WHIRL_LISTEN,
// WHIRL_DATA_DIR, WHIRL_LIMITS_ACTIONSINVOKESPERMINUTE. WHIRL_ variables
// that name no key are left to other parts of Whirl (WHIRL_CONFIG names the
// file).
func (c *Config) LoadEnv(environ []string) error {
	var errs []error
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		k, ok := byEnv[envNorm(strings.TrimPrefix(name, EnvPrefix))]
		if !ok {
			continue
		}
		if err := k.set(c, value); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", name, k.key, err))
		}
	}
	return errors.Join(errs...)
}

// flagValues holds what BindFlags parsed until Load applies it over the file
// and the environment.
type flagValues struct {
	fs     *pflag.FlagSet
	config string
	sets   []string
	named  map[string]*string // flag name -> value
}

// flagKeys maps each named flag to the key it sets.
var flagKeys = []struct{ flag, key, usage string }{
	{"listen", "listen", "address to listen on, host:port (default " + DefaultListen + ")"},
	{"data-dir", "dataDir", "directory of the embedded store (default ~/.whirl)"},
	{"tls-cert", "tlsCert", "TLS certificate file; serve HTTPS"},
	{"tls-key", "tlsKey", "TLS key file"},
	{"api-host", "apiHost", "public URL of the API given to actions (default derived from --listen)"},
	{"sandbox", "sandbox", "action sandbox: auto, none or bwrap (default auto)"},
	{"action-network", "actionNetwork", "actions' network: none, isolated or host (default isolated, or host when listening on loopback)"},
	{"action-network-allow", "actionNetworkAllow", "ranges isolated actions may reach although private or the host's, comma-separated CIDRs"},
	{"runtimes", "runtimes", "runtimes manifest file (default built in)"},
	{"go-proxy", "goProxy", "module proxy Go action builds may download from (GOPROXY; default none)"},
	{"pprof", "pprof", "serve Go's profiler (/debug/pprof/) on this loopback host:port, e.g. 127.0.0.1:6060 (default off)"},
}

// roleFlagKeys are the flags of the scale-out roles, bound by
// BindRoleFlags.
var roleFlagKeys = []struct{ flag, key, usage string }{
	{"store", "store", "PostgreSQL shared by every role, postgres://user@host:5432/db"},
	{"bus", "bus", "NATS server with JetStream, nats://host:4222"},
	{"bus-prefix", "busPrefix", "first token(s) of the NATS subjects and stream name (default whirl)"},
	{"bus-credentials", "busCredentials", "file of NATS credentials: a .creds file, an nkey seed or a token"},
	{"invoker-name", "invokerName", "this invoker's name on the bus (default invoker-<hostname>)"},
	{"invokers", "invokers", "invoker names the controller balances over, comma-separated"},
	{"controller-name", "controllerName", "this controller's name on the bus, unique per controller (default controller-<hostname>)"},
	{"schedule-alarms", "scheduleAlarms", "run the alarms feeds' schedules here (exactly one controller)"},
	{"bus-tls-ca", "busTLS.ca", "PEM file of the CA that signs the NATS server's certificate (connects with TLS)"},
	{"bus-tls-cert", "busTLS.cert", "PEM file of the client certificate for NATS (with --bus-tls-key)"},
	{"bus-tls-key", "busTLS.key", "PEM file of the client certificate's key for NATS"},
}

// BindRoleFlags registers the scale-out flags on fs (after BindFlags):
// --store, --bus, --bus-prefix, --bus-credentials, --invoker-name, --invokers,
// --controller-name and --schedule-alarms. Like the others they take effect
// in Load.
func (c *Config) BindRoleFlags(fs *pflag.FlagSet) {
	if c.flags == nil {
		c.BindFlags(fs)
	}
	for _, f := range roleFlagKeys {
		if f.key == "scheduleAlarms" {
			c.flags.named[f.flag] = new(string)
			fs.Var(boolString{c.flags.named[f.flag]}, f.flag, f.usage)
			fs.Lookup(f.flag).NoOptDefVal = "true"
			continue
		}
		c.flags.named[f.flag] = fs.String(f.flag, "", f.usage)
	}
}

// boolString is a flag value that keeps the text of a boolean flag for
// Load to parse.
type boolString struct{ p *string }

func (b boolString) String() string {
	if b.p == nil {
		return ""
	}
	return *b.p
}
func (b boolString) Set(v string) error { *b.p = v; return nil }
func (b boolString) Type() string       { return "bool" }

// BindFlags registers Whirl's server flags on fs: --listen, --data-dir,
// --config, --tls-cert, --tls-key, --api-host, --sandbox, --runtimes, --go-proxy and
// --set key=value (repeatable, any key of Keys). The values take effect in
// Load, over the file and the environment.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fv := &flagValues{fs: fs, named: map[string]*string{}}
	for _, f := range flagKeys {
		fv.named[f.flag] = fs.String(f.flag, "", f.usage)
	}
	fs.StringVar(&fv.config, "config", "", "YAML configuration file (OpenWhisk Helm values accepted; env "+EnvPrefix+"CONFIG)")
	fs.StringArrayVar(&fv.sets, "set", nil, "set a configuration key, e.g. --set limits.actionsInvokesPerminute=600 (repeatable)")
	c.flags = fv
}

// Load fills c from, in increasing precedence, the configuration file
// (--config, else $WHIRL_CONFIG), the environment (environ as os.Environ
// returns it), the flags bound with BindFlags and their --set values; then
// it calls Resolve.
func (c *Config) Load(environ []string) error {
	path := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, EnvPrefix+"CONFIG="); ok {
			path = v
		}
	}
	if c.flags != nil && c.flags.config != "" {
		path = c.flags.config
	}
	if path != "" {
		if err := c.LoadFile(path); err != nil {
			return err
		}
	}
	if err := c.LoadEnv(environ); err != nil {
		return err
	}
	if fv := c.flags; fv != nil {
		var errs []error
		for _, f := range append(flagKeys[:len(flagKeys):len(flagKeys)], roleFlagKeys...) {
			if _, bound := fv.named[f.flag]; bound && fv.fs.Changed(f.flag) {
				if err := c.Set(f.key, *fv.named[f.flag]); err != nil {
					errs = append(errs, fmt.Errorf("--%s: %w", f.flag, err))
				}
			}
		}
		for _, s := range fv.sets {
			k, v, ok := strings.Cut(s, "=")
			if !ok {
				errs = append(errs, fmt.Errorf("--set %s: want key=value", s))
				continue
			}
			if err := c.Set(strings.TrimSpace(k), v); err != nil {
				errs = append(errs, fmt.Errorf("--set: %w", err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return c.Resolve()
}
