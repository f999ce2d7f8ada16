package kubernetes

// The few fields of core/v1 Pod that Whirl writes or reads.

// Pod is a core/v1 Pod.
type Pod struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       PodSpec    `json:"spec"`
	Status     PodStatus  `json:"status,omitzero"`
}

// ObjectMeta is a Pod's metadata.
type ObjectMeta struct {
	Name              string            `json:"name,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	DeletionTimestamp string            `json:"deletionTimestamp,omitempty"`
	OwnerReferences   []OwnerReference  `json:"ownerReferences,omitempty"`
}

// OwnerReference makes an object a dependent of another: the garbage
// collector deletes it when its owner is gone.
type OwnerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
}

// Toleration lets a pod run on a node with a matching taint.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// PodSpec is a Pod's spec.
type PodSpec struct {
	RestartPolicy                string            `json:"restartPolicy,omitempty"`
	AutomountServiceAccountToken *bool             `json:"automountServiceAccountToken,omitempty"`
	EnableServiceLinks           *bool             `json:"enableServiceLinks,omitempty"`
	Containers                   []PodContainer    `json:"containers"`
	ImagePullSecrets             []LocalObjectRef  `json:"imagePullSecrets,omitempty"`
	NodeSelector                 map[string]string `json:"nodeSelector,omitempty"`
	Tolerations                  []Toleration      `json:"tolerations,omitempty"`
	ActiveDeadlineSeconds        int64             `json:"activeDeadlineSeconds,omitempty"`
}

// LocalObjectRef names an object in the pod's namespace.
type LocalObjectRef struct {
	Name string `json:"name"`
}

// PodContainer is one container of a PodSpec.
type PodContainer struct {
	Name            string          `json:"name"`
	Image           string          `json:"image"`
	ImagePullPolicy string          `json:"imagePullPolicy,omitempty"`
	Args            []string        `json:"args,omitempty"`
	Ports           []ContainerPort `json:"ports,omitempty"`
	Env             []EnvVar        `json:"env,omitempty"`
	Resources       Resources       `json:"resources,omitzero"`
	ReadinessProbe  *Probe          `json:"readinessProbe,omitempty"`
}

// ContainerPort is a port a container listens on.
type ContainerPort struct {
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Resources holds a container's limits and requests ("memory": "256Mi").
type Resources struct {
	Limits   map[string]string `json:"limits,omitempty"`
	Requests map[string]string `json:"requests,omitempty"`
}

// Probe is a readiness probe on a TCP port.
type Probe struct {
	TCPSocket     *TCPSocketAction `json:"tcpSocket,omitempty"`
	PeriodSeconds int              `json:"periodSeconds,omitempty"`
}

// TCPSocketAction probes a TCP port.
type TCPSocketAction struct {
	Port int `json:"port"`
}

// PodStatus is a Pod's status.
type PodStatus struct {
	Phase             string            `json:"phase,omitempty"`
	Reason            string            `json:"reason,omitempty"`
	Message           string            `json:"message,omitempty"`
	PodIP             string            `json:"podIP,omitempty"`
	Conditions        []PodCondition    `json:"conditions,omitempty"`
	ContainerStatuses []ContainerStatus `json:"containerStatuses,omitempty"`
}

// PodCondition is one condition ("Ready": "True").
type PodCondition struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

// ContainerStatus is the state of one container of a pod.
type ContainerStatus struct {
	Name  string         `json:"name"`
	Ready bool           `json:"ready"`
	State ContainerState `json:"state"`
}

// ContainerState is one of waiting, running or terminated.
type ContainerState struct {
	Waiting    *StateReason     `json:"waiting,omitempty"`
	Running    *struct{}        `json:"running,omitempty"`
	Terminated *StateTerminated `json:"terminated,omitempty"`
}

// StateReason says why a container waits.
type StateReason struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// StateTerminated says how a container ended ("OOMKilled", "Error").
type StateTerminated struct {
	ExitCode int    `json:"exitCode"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
}

// ready reports whether the pod is Ready with an IP.
func (p *Pod) ready() bool {
	if p.Status.PodIP == "" || p.Status.Phase != "Running" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// terminated returns the action container's terminated state, if any.
func (p *Pod) terminated() *StateTerminated {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == containerName && c.State.Terminated != nil {
			return c.State.Terminated
		}
	}
	return nil
}

// waitingReason returns why the action container waits, if it does.
func (p *Pod) waitingReason() (string, string) {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == containerName && c.State.Waiting != nil {
			return c.State.Waiting.Reason, c.State.Waiting.Message
		}
	}
	return "", ""
}
