package whisk

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

// BindingRef names the package a binding refers to.
type BindingRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}
