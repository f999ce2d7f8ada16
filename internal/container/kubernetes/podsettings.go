package kubernetes

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/whirlfaas/whirl/internal/container"
)

// PodSettings is what configuration adds to every action pod.
type PodSettings struct {
	// CPUPerGB, when positive, is the CPU (in cores) an action gets per
	// 1024 MB of its memory, as request and limit (OpenWhisk's
	// user-cpus / user-memory share).
	CPUPerGB float64
	// ActiveDeadlineSeconds bounds a pod's life (warm reuse included);
	// 0: none.
	ActiveDeadlineSeconds int64
	// NodeSelector, Tolerations and ImagePullSecrets go to the pod spec
	// as they are.
	NodeSelector     map[string]string
	Tolerations      []Toleration
	ImagePullSecrets []string
}

// apply writes s into spec.
func (s PodSettings) apply(spec *PodSpec) {
	spec.ActiveDeadlineSeconds = s.ActiveDeadlineSeconds
	if len(s.NodeSelector) > 0 {
		spec.NodeSelector = s.NodeSelector
	}
	spec.Tolerations = s.Tolerations
	for _, n := range s.ImagePullSecrets {
		spec.ImagePullSecrets = append(spec.ImagePullSecrets, LocalObjectRef{Name: n})
	}
}

// ParsePodSettings reads the configuration's strings: nodeSelector as
// "k=v,k2=v2", tolerations as a JSON array of core/v1 tolerations,
// imagePullSecrets as "a,b", cpuPerGB as a number and
// activeDeadlineSeconds as whole seconds. Empty strings leave the
// setting out.
func ParsePodSettings(nodeSelector, tolerations, imagePullSecrets, cpuPerGB, activeDeadline string) (PodSettings, error) {
	var s PodSettings
	for _, kv := range strings.Split(nodeSelector, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return s, fmt.Errorf("kubernetes.nodeSelector: %q is not key=value", kv)
		}
		if s.NodeSelector == nil {
			s.NodeSelector = map[string]string{}
		}
		s.NodeSelector[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if strings.TrimSpace(tolerations) != "" {
		if err := json.Unmarshal([]byte(tolerations), &s.Tolerations); err != nil {
			return s, fmt.Errorf("kubernetes.tolerations: want a JSON array of tolerations: %w", err)
		}
	}
	for _, n := range strings.Split(imagePullSecrets, ",") {
		if n = strings.TrimSpace(n); n != "" {
			s.ImagePullSecrets = append(s.ImagePullSecrets, n)
		}
	}
	if cpuPerGB != "" {
		v, err := strconv.ParseFloat(cpuPerGB, 64)
		if err != nil || v < 0 {
			return s, fmt.Errorf("kubernetes.cpuPerGB: %q is not a non-negative number", cpuPerGB)
		}
		s.CPUPerGB = v
	}
	if activeDeadline != "" {
		v, err := strconv.ParseInt(activeDeadline, 10, 64)
		if err != nil || v < 0 {
			return s, fmt.Errorf("kubernetes.activeDeadlineSeconds: %q is not a whole number of seconds", activeDeadline)
		}
		s.ActiveDeadlineSeconds = v
	}
	return s, nil
}

// resources returns the action container's requests and limits: memory
// (plus whirl proxy's overhead in the limit when it runs Whirl's image)
// and, with CPUPerGB, CPU in proportion to memory.
func (f *Factory) resources(spec container.Spec, whirlImage bool) Resources {
	if spec.MemoryMB <= 0 {
		return Resources{}
	}
	limit := spec.MemoryMB
	if whirlImage && f.opts.MemoryOverheadMB > 0 {
		limit += f.opts.MemoryOverheadMB
	}
	r := Resources{
		Limits:   map[string]string{"memory": strconv.Itoa(limit) + "Mi"},
		Requests: map[string]string{"memory": strconv.Itoa(spec.MemoryMB) + "Mi"},
	}
	if f.opts.Pod.CPUPerGB > 0 {
		milli := max(int(f.opts.Pod.CPUPerGB*float64(spec.MemoryMB)*1000/1024), 10)
		cpu := strconv.Itoa(milli) + "m"
		r.Limits["cpu"], r.Requests["cpu"] = cpu, cpu
	}
	return r
}
