// Package kubernetes is a container.Factory that runs each container as a
// Kubernetes pod: one pod per container, running a runtime image that
// serves OpenWhisk's /init + /run protocol on a port (8080), reached over
// HTTP with proxy.Client. It is the factory of `whirl invoker` in a
// cluster (containerFactory: kubernetes).
//
// It talks to the API server with its own small client (net/http and
// encoding/json: create, get, list and delete pods, follow their logs),
// not k8s.io/client-go: importing client-go's clientset alone adds about
// 16 MB of resident memory at process start (package initialisation),
// paid by every user of the one Whirl binary, whose idle RSS is 19–22 MB
// against a 30 MB target.
//
// Pods wait for Ready by polling. Logs come from the pod log API,
// followed from the pod's start and cut at OpenWhisk's activation
// sentinel; the API merges stdout and stderr unless the cluster has split
// log streams (Options.SplitLogStreams), so by default every line is
// reported as stdout, as OpenWhisk's Kubernetes invoker does.
package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/proxy"
	"github.com/whirlfaas/whirl/internal/runtimes"
	"github.com/whirlfaas/whirl/whisk"
)

// Labels set on every pod.
const (
	LabelInvoker     = "whirl.dev/invoker"
	LabelContainerID = "whirl.dev/container-id"
)

// containerName is the name of the action container in each pod.
const containerName = "action"

// Options configure a Factory.
type Options struct {
	// APIURL and Token reach the API server; "" means in-cluster (the
	// service account and KUBERNETES_SERVICE_HOST/PORT).
	APIURL string
	Token  string
	// APIClient is used for API calls when APIURL is set; nil means
	// http.DefaultClient.
	APIClient *http.Client
	// Namespace holds the action pods; "" means the service account's
	// namespace (in-cluster) or "default".
	Namespace string
	// Invoker is the invoker's name, the value of the whirl.dev/invoker
	// label. New deletes pods left with this label by an earlier run.
	Invoker string
	// Manifest maps kinds to images; nil means runtimes.Default().
	Manifest *runtimes.Manifest
	// Image, when set, is Whirl's runtime image (`whirl proxy`,
	// deploy/Dockerfile), run for every kind of the manifest with
	// "--kind <kind>" instead of the manifest's per-kind images.
	Image string
	// ImagePullPolicy of action containers ("" is the cluster's default).
	ImagePullPolicy string
	// Port is the runtime's /init + /run port in the pod; 0 means 8080.
	Port int
	// ActionClient carries /init and /run to pods; nil means a client
	// with its own transport. Tests replace its dialer.
	ActionClient *http.Client
	// APIHost is exported to actions as __OW_API_HOST unless spec.Env
	// sets it.
	APIHost string
	// SplitLogStreams reads stdout and stderr apart (the pod log API's
	// stream parameter, Kubernetes' PodLogsQuerySplitStreams feature).
	SplitLogStreams bool
	// PollInterval is how often a starting pod's status is read; 0 means
	// 200 ms.
	PollInterval time.Duration
	// LogWait bounds the wait for an activation's log sentinels after it
	// answered; 0 means 2 s.
	LogWait time.Duration
	// Pod holds what configuration adds to every action pod: CPU,
	// activeDeadlineSeconds, nodeSelector, tolerations, imagePullSecrets.
	Pod PodSettings
	// OwnerPod, when set, is the invoker's own pod (in Namespace): action
	// pods get it as owner reference, so that the garbage collector
	// deletes them when the invoker's pod is gone (helm uninstall, a
	// killed invoker) even if the invoker could not.
	OwnerPod string
	// MemoryOverheadMB is added to the memory limit (not the request) of
	// pods running Whirl's runtime image, for `whirl proxy` itself next
	// to the action; 0 means 64, negative none.
	MemoryOverheadMB int
}

// Factory creates pods. It is safe for concurrent use.
type Factory struct {
	opts   Options
	api    *api
	man    *runtimes.Manifest
	prefix string
	hc     *http.Client
	owner  *OwnerReference

	mu   sync.Mutex
	live map[string]*Container
}

var _ container.Factory = (*Factory)(nil)

// New returns a Factory and deletes the pods an earlier run of the same
// invoker left behind (re-attaching to them is not supported).
func New(ctx context.Context, opts Options) (*Factory, error) {
	a := &api{base: strings.TrimRight(opts.APIURL, "/"), token: opts.Token, ns: opts.Namespace, hc: opts.APIClient}
	if opts.APIURL == "" {
		base, tok, ns, hc, err := inCluster()
		if err != nil {
			return nil, err
		}
		a.base, a.token, a.hc, a.creds = base, tok, hc, inClusterCreds
		if a.ns == "" {
			a.ns = ns
		}
	}
	if a.hc == nil {
		a.hc = http.DefaultClient
	}
	if a.ns == "" {
		a.ns = "default"
	}
	if opts.Invoker == "" {
		opts.Invoker = "invoker0"
	}
	if opts.Port == 0 {
		opts.Port = 8080
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.LogWait <= 0 {
		opts.LogWait = 2 * time.Second
	}
	man := opts.Manifest
	if man == nil {
		man = runtimes.Default()
	}
	hc := opts.ActionClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.MaxIdleConnsPerHost = 16
		hc = &http.Client{Transport: tr}
	}
	if opts.MemoryOverheadMB == 0 {
		opts.MemoryOverheadMB = 64
	}
	f := &Factory{opts: opts, api: a, man: man, prefix: "wsk-" + dnsLabel(opts.Invoker), hc: hc, live: map[string]*Container{}}
	if opts.OwnerPod != "" {
		p, err := a.getPod(ctx, opts.OwnerPod)
		if err != nil {
			return nil, fmt.Errorf("kubernetes: the invoker's own pod (owner of action pods): %w", err)
		}
		f.owner = &OwnerReference{APIVersion: "v1", Kind: "Pod", Name: p.Metadata.Name, UID: p.Metadata.UID}
	}
	if _, err := f.cleanup(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// Namespace returns the namespace the factory's pods run in.
func (f *Factory) Namespace() string { return f.api.ns }

// cleanup deletes every pod labelled with this invoker's name.
func (f *Factory) cleanup(ctx context.Context) (int, error) {
	pods, err := f.api.listPods(ctx, LabelInvoker+"="+labelValue(f.opts.Invoker))
	if err != nil {
		return 0, fmt.Errorf("kubernetes: cleaning up earlier pods: %w", err)
	}
	for _, p := range pods {
		if err := f.api.deletePod(ctx, p.Metadata.Name); err != nil {
			return 0, fmt.Errorf("kubernetes: cleaning up earlier pods: %w", err)
		}
	}
	return len(pods), nil
}

// Kinds reports the manifest's kinds and blackbox.
func (f *Factory) Kinds() []string {
	return append(f.man.Kinds(), whisk.KindBlackbox)
}

// image returns the image and arguments for spec.
func (f *Factory) image(spec container.Spec) (string, []string, error) {
	if spec.Kind == whisk.KindBlackbox || spec.Image != "" && spec.Kind == "" {
		if spec.Image == "" {
			return "", nil, fmt.Errorf("%w: blackbox without an image", container.ErrUnsupportedKind)
		}
		return spec.Image, nil, nil
	}
	k, err := f.man.Resolve(spec.Kind)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %v", container.ErrUnsupportedKind, spec.Kind, err)
	}
	if f.opts.Image != "" && runtimes.HasLauncher(k.Family) {
		args := []string{"--kind", k.Kind}
		if spec.MemoryMB > 0 {
			// whirl proxy limits the action to it (python: an address-space
			// limit that ends in "out of memory", not a kernel kill).
			args = append(args, "--memory", strconv.Itoa(spec.MemoryMB))
		}
		return f.opts.Image, args, nil
	}
	// Whirl's image has no runtime for dotnet, swift or rust: their kinds
	// run in the manifest's image, OpenWhisk's.
	return k.Image.String(), nil, nil
}

// Create starts a pod for spec and waits until it is Ready with an IP;
// ctx bounds the wait (container.ErrTimeout when it passes).
func (f *Factory) Create(ctx context.Context, spec container.Spec) (container.Container, error) {
	img, args, err := f.image(spec)
	if err != nil {
		return nil, err
	}
	id := f.prefix + "-" + randomSuffix()
	env := map[string]string{}
	if f.opts.APIHost != "" {
		env["__OW_API_HOST"] = f.opts.APIHost
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	var envs []EnvVar
	for _, k := range names {
		envs = append(envs, EnvVar{Name: k, Value: env[k]})
	}
	no := false
	pod := &Pod{
		APIVersion: "v1", Kind: "Pod",
		Metadata: ObjectMeta{Name: id, Namespace: f.api.ns, Labels: map[string]string{
			LabelInvoker: labelValue(f.opts.Invoker), LabelContainerID: id,
		}},
		Spec: PodSpec{
			RestartPolicy:                "Never",
			AutomountServiceAccountToken: &no,
			EnableServiceLinks:           &no,
			Containers: []PodContainer{{
				Name: containerName, Image: img, Args: args, ImagePullPolicy: f.opts.ImagePullPolicy,
				Ports:          []ContainerPort{{ContainerPort: f.opts.Port, Protocol: "TCP"}},
				Env:            envs,
				ReadinessProbe: &Probe{TCPSocket: &TCPSocketAction{Port: f.opts.Port}, PeriodSeconds: 1},
			}},
		},
	}
	pod.Spec.Containers[0].Resources = f.resources(spec, args != nil)
	f.opts.Pod.apply(&pod.Spec)
	if f.owner != nil {
		pod.Metadata.OwnerReferences = []OwnerReference{*f.owner}
	}
	if _, err := f.api.createPod(ctx, pod); err != nil {
		return nil, err
	}
	ready, err := f.waitReady(ctx, id)
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		f.api.deletePod(dctx, id)
		return nil, err
	}
	c := f.newContainer(id, ready.Status.PodIP)
	c.apiHost = env["__OW_API_HOST"]
	f.mu.Lock()
	f.live[id] = c
	f.mu.Unlock()
	return c, nil
}

// waitReady polls the pod until it is Ready with an IP, fails to start, or
// ctx ends.
func (f *Factory) waitReady(ctx context.Context, name string) (*Pod, error) {
	t := time.NewTicker(f.opts.PollInterval)
	defer t.Stop()
	for {
		p, err := f.api.getPod(ctx, name)
		switch {
		case err != nil && ctx.Err() == nil:
			return nil, err
		case err == nil && p.ready():
			return p, nil
		case err == nil:
			if err := startFailure(p); err != nil {
				return nil, err
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("kubernetes: pod %s not ready: %w", name, container.ErrTimeout)
			}
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// startFailure says why a pod that is not ready never will be, or nil.
func startFailure(p *Pod) error {
	if t := p.terminated(); t != nil {
		return exitError(p.Metadata.Name, t)
	}
	if p.Status.Phase == "Failed" || p.Status.Phase == "Succeeded" {
		return fmt.Errorf("kubernetes: pod %s %s (%s): %w", p.Metadata.Name, p.Status.Phase, p.Status.Reason, container.ErrExited)
	}
	switch reason, msg := p.waitingReason(); reason {
	case "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError":
		return fmt.Errorf("kubernetes: pod %s cannot start: %s: %s", p.Metadata.Name, reason, msg)
	}
	return nil
}

func exitError(name string, t *StateTerminated) error {
	if t.Reason == "OOMKilled" {
		return fmt.Errorf("kubernetes: pod %s: %s: %w", name, t.Reason, container.ErrMemory)
	}
	return fmt.Errorf("kubernetes: pod %s exited (%s, code %d): %w", name, t.Reason, t.ExitCode, container.ErrExited)
}

// Close deletes every pod the factory still holds.
func (f *Factory) Close(ctx context.Context) error {
	f.mu.Lock()
	cs := make([]*Container, 0, len(f.live))
	for _, c := range f.live {
		cs = append(cs, c)
	}
	f.mu.Unlock()
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Destroy(ctx))
	}
	return errors.Join(errs...)
}

// Container is one pod, reached over HTTP.
type Container struct {
	f      *Factory
	name   string
	client proxy.Client
	logs   *logs
	stop   context.CancelFunc

	apiHost string

	once sync.Once
	err  error
	dead atomic.Bool
}

var _ container.Container = (*Container)(nil)

func (f *Factory) newContainer(name, ip string) *Container {
	lctx, stop := context.WithCancel(context.Background())
	c := &Container{f: f, name: name, stop: stop}
	c.client = proxy.Client{Name: name, BaseURL: "http://" + net.JoinHostPort(ip, strconv.Itoa(f.opts.Port)), HTTP: f.hc}
	streams := []string{""}
	names := []string{"stdout"}
	if f.opts.SplitLogStreams {
		streams, names = []string{"Stdout", "Stderr"}, []string{"stdout", "stderr"}
	}
	if f.opts.SplitLogStreams {
		// Split streams are alpha (off by default): the API answers 422
		// without them. Fall back to the merged stream.
		r, err := f.api.followLogs(lctx, name, streams[0])
		if err != nil && isUnprocessable(err) {
			streams, names = []string{""}, []string{"stdout"}
		}
		if r != nil {
			r.Close()
		}
	}
	c.logs = newLogs(len(streams))
	for i, s := range streams {
		go func() {
			r, err := f.api.followLogs(lctx, name, s)
			if err != nil {
				if lctx.Err() == nil {
					c.logs.fail(i, err)
				}
				return
			}
			defer r.Close()
			c.logs.read(i, names[i], r)
		}()
	}
	return c
}

// ID returns the pod's name.
func (c *Container) ID() string { return c.name }

// Init posts the action to /init, with __OW_API_HOST in its environment
// (the pod's environment does not reach the action process of Whirl's
// runtime image). Whirl's runtime image ends init's logs with the
// sentinel; OpenWhisk's images log init with the first run.
func (c *Container) Init(ctx context.Context, req container.InitRequest) ([]string, error) {
	if c.dead.Load() {
		return nil, fmt.Errorf("init: %w: destroyed", container.ErrExited)
	}
	if _, ok := req.Env["__OW_API_HOST"]; !ok && c.apiHost != "" {
		env := make(map[string]string, len(req.Env)+1)
		for k, v := range req.Env {
			env[k] = v
		}
		env["__OW_API_HOST"] = c.apiHost
		req.Env = env
	}
	_, err := c.client.Init(ctx, req)
	var logs []string
	if c.f.opts.Image != "" {
		logs = c.logs.take(c.f.opts.LogWait)
	}
	return logs, c.failure(err)
}

// Run posts one activation to /run and collects its logs.
func (c *Container) Run(ctx context.Context, req container.RunRequest) (container.RunResult, error) {
	if c.dead.Load() {
		return container.RunResult{}, fmt.Errorf("run: %w: destroyed", container.ErrExited)
	}
	c.logs.begin(req.LogLimit)
	res, err := c.client.Run(ctx, req)
	wait := c.f.opts.LogWait
	if err != nil {
		// A container that died or was stopped may never write the
		// sentinel.
		wait = min(wait, 200*time.Millisecond)
	}
	res.Logs = c.logs.take(wait)
	return res, c.failure(err)
}

// failure refines ErrExited with the pod's terminated state (OOMKilled
// becomes ErrMemory).
func (c *Container) failure(err error) error {
	if err == nil || !errors.Is(err, container.ErrExited) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c.serving(ctx) {
		// The runtime still answers (Whirl's runtime image outlives a
		// crashed action): no terminated state will come, do not wait
		// for one.
		return err
	}
	for {
		p, gerr := c.f.api.getPod(ctx, c.name)
		if gerr == nil {
			if t := p.terminated(); t != nil {
				return fmt.Errorf("%w (%w)", err, exitError(c.name, t))
			}
		}
		if isNotFound(gerr) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(c.f.opts.PollInterval):
		}
	}
}

// serving reports whether the pod's runtime still answers HTTP (any
// status) on its port.
func (c *Container) serving(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.client.BaseURL+"/", nil)
	if err != nil {
		return false
	}
	resp, err := c.f.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// Destroy deletes the pod (grace period 0). It is idempotent.
func (c *Container) Destroy(ctx context.Context) error {
	c.once.Do(func() {
		c.dead.Store(true)
		c.stop()
		c.err = c.f.api.deletePod(ctx, c.name)
		c.f.mu.Lock()
		delete(c.f.live, c.name)
		c.f.mu.Unlock()
	})
	return c.err
}

// dnsLabel turns s into a lowercase DNS label fragment of at most 40
// characters.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 40 {
		out = strings.Trim(out[:40], "-")
	}
	if out == "" {
		out = "invoker"
	}
	return out
}

// labelValue makes s a valid label value (63 characters of [A-Za-z0-9._-]).
func labelValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.Trim(out, "._-")
}

func randomSuffix() string {
	var b [5]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
