package whisk

import "encoding/json"

// Trigger is a stored trigger. Rules maps "ns/rule" to the rule's action and
// status.
type Trigger struct {
	Namespace   string                 `json:"namespace"`
	Name        string                 `json:"name"`
	Version     string                 `json:"version"`
	Publish     bool                   `json:"publish"`
	Parameters  KeyValues              `json:"parameters"`
	Limits      struct{}               `json:"limits"`
	Annotations KeyValues              `json:"annotations"`
	Rules       map[string]TriggerRule `json:"rules,omitempty"`
	Updated     int64                  `json:"updated"`
}

// TriggerRule is a rule as its trigger records it.
type TriggerRule struct {
	Action EntityRef `json:"action"`
	Status string    `json:"status"`
}

// Rule statuses.
const (
	RuleActive   = "active"
	RuleInactive = "inactive"
)

// Rule connects a trigger to an action.
type Rule struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Annotations KeyValues `json:"annotations"`
	Status      string    `json:"status"`
	Trigger     EntityRef `json:"trigger"`
	Action      EntityRef `json:"action"`
	Updated     int64     `json:"updated"`
}

// Package groups actions and feeds and carries shared parameters. A
// binding is a package whose Binding names another package.
type Package struct {
	Namespace   string      `json:"namespace"`
	Name        string      `json:"name"`
	Version     string      `json:"version"`
	Publish     bool        `json:"publish"`
	Annotations KeyValues   `json:"annotations"`
	Parameters  KeyValues   `json:"parameters"`
	Binding     *BindingRef `json:"binding,omitempty"`
	Updated     int64       `json:"updated"`
}

// BindingRef names the package a binding refers to. The zero BindingRef
// (no binding) is {} on the wire.
type BindingRef struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// KindBuiltin is the exec kind of the actions of Whirl's built-in packages
// (the alarms feeds): they run in the controller's process, not in a
// container. Users cannot create actions of this kind.
const KindBuiltin = "builtin"

// PackagePut is the body of PUT /packages/{name}. Every field is optional
// on update.
type PackagePut struct {
	Parameters  KeyValues   `json:"parameters,omitempty"`
	Version     string      `json:"version,omitempty"`
	Publish     *bool       `json:"publish,omitempty"`
	Annotations KeyValues   `json:"annotations,omitempty"`
	Binding     *BindingRef `json:"binding,omitempty"`
}

// TriggerPut is the body of PUT /triggers/{name}.
type TriggerPut struct {
	Parameters  KeyValues       `json:"parameters,omitempty"`
	Limits      json.RawMessage `json:"limits,omitempty"`
	Version     string          `json:"version,omitempty"`
	Publish     *bool           `json:"publish,omitempty"`
	Annotations KeyValues       `json:"annotations,omitempty"`
}

// RulePut is the body of PUT /rules/{name}: the trigger and action as
// fully qualified names ("/_/events"), or "" on an update that keeps them.
type RulePut struct {
	Name        string    `json:"name,omitempty"`
	Version     string    `json:"version,omitempty"`
	Publish     *bool     `json:"publish,omitempty"`
	Annotations KeyValues `json:"annotations,omitempty"`
	Status      string    `json:"status,omitempty"`
	Trigger     string    `json:"trigger,omitempty"`
	Action      string    `json:"action,omitempty"`
}

// NamespaceLimits overrides the system throttles for one namespace
// (`whirl admin limits set`, OpenWhisk's `wskadmin limits set`). A nil
// field keeps the system value; 0 blocks the namespace.
type NamespaceLimits struct {
	InvocationsPerMinute  *int `json:"invocationsPerMinute,omitempty"`
	ConcurrentInvocations *int `json:"concurrentInvocations,omitempty"`
	FiresPerMinute        *int `json:"firesPerMinute,omitempty"`
}
