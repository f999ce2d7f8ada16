package client

import (
	"bytes"
	"encoding/json"
	"strings"
)

// KeyValue is one parameter or annotation: {"key":K,"value":V}. Init marks a
// parameter passed to the action at initialisation.
type KeyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Init  bool            `json:"init,omitempty"`
}

// KeyValues is an ordered list of parameters or annotations.
type KeyValues []KeyValue

// Get returns the raw JSON value of key.
func (kv KeyValues) Get(key string) (json.RawMessage, bool) {
	for _, p := range kv {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// String returns the value of key when it is a JSON string.
func (kv KeyValues) String(key string) (string, bool) {
	v, ok := kv.Get(key)
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// Truthy reports whether key is present with a value other than false, null,
// 0, "" or "false", which is how OpenWhisk reads boolean annotations.
func (kv KeyValues) Truthy(key string) bool {
	v, ok := kv.Get(key)
	if !ok {
		return false
	}
	switch string(bytes.TrimSpace(v)) {
	case "false", "null", "0", `""`, `"false"`, "":
		return false
	}
	return true
}

// Set returns kv with key set to the JSON encoding of v, replacing an
// existing entry in place or appending a new one.
func (kv KeyValues) Set(key string, v any) KeyValues {
	raw, ok := v.(json.RawMessage)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte("null")
		}
		raw = b
	}
	for i := range kv {
		if kv[i].Key == key {
			kv[i].Value = raw
			return kv
		}
	}
	return append(kv, KeyValue{Key: key, Value: raw})
}

// Delete returns kv without key.
func (kv KeyValues) Delete(key string) KeyValues {
	out := kv[:0:0]
	for _, p := range kv {
		if p.Key != key {
			out = append(out, p)
		}
	}
	return out
}

// Merge returns kv with every entry of over set on it, in order.
func (kv KeyValues) Merge(over KeyValues) KeyValues {
	out := append(KeyValues(nil), kv...)
	for _, p := range over {
		out = out.Set(p.Key, p.Value)
	}
	return out
}

// Exec is an action's code and runtime. Kind is e.g. "python:3",
// "nodejs:default", "blackbox" or "sequence".
type Exec struct {
	Kind       string   `json:"kind"`
	Code       *string  `json:"code,omitempty"`
	Image      string   `json:"image,omitempty"`
	Main       string   `json:"main,omitempty"`
	Components []string `json:"components,omitempty"`
	Binary     *bool    `json:"binary,omitempty"`
}

// Limits are an action's limits: timeout in ms, memory and logs in MB,
// concurrency in activations per container. Nil fields are left to the
// server.
type Limits struct {
	Timeout     *int `json:"timeout,omitempty"`
	Memory      *int `json:"memory,omitempty"`
	Logs        *int `json:"logs,omitempty"`
	Concurrency *int `json:"concurrency,omitempty"`
	Instances   *int `json:"instances,omitempty"`
}

// Action is an action as the server returns it, and the body of a PUT (where
// every field is optional). DelAnnotations lists annotation keys to remove
// on update.
type Action struct {
	Namespace      string    `json:"namespace,omitempty"`
	Name           string    `json:"name,omitempty"`
	Version        string    `json:"version,omitempty"`
	Publish        *bool     `json:"publish,omitempty"`
	Exec           *Exec     `json:"exec,omitempty"`
	Parameters     KeyValues `json:"parameters,omitempty"`
	Limits         *Limits   `json:"limits,omitempty"`
	Annotations    KeyValues `json:"annotations,omitempty"`
	DelAnnotations []string  `json:"delAnnotations,omitempty"`
	Updated        int64     `json:"updated,omitempty"`
}

// Response is an activation's outcome. Status is "success",
// "application error", "action developer error" or "whisk internal error".
type Response struct {
	Status     string          `json:"status,omitempty"`
	StatusCode int             `json:"statusCode,omitempty"`
	Success    bool            `json:"success"`
	Result     json.RawMessage `json:"result,omitempty"`
	Size       *int            `json:"size,omitempty"`
}

// Activation is an activation record. List rows without docs carry no
// Response and no Logs but a top-level StatusCode.
type Activation struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Version      string    `json:"version,omitempty"`
	Subject      string    `json:"subject,omitempty"`
	ActivationID string    `json:"activationId"`
	Start        int64     `json:"start"`
	End          int64     `json:"end,omitempty"`
	Duration     int64     `json:"duration,omitempty"`
	StatusCode   int       `json:"statusCode,omitempty"`
	Cause        string    `json:"cause,omitempty"`
	Response     *Response `json:"response,omitempty"`
	Logs         []string  `json:"logs"`
	Annotations  KeyValues `json:"annotations"`
	Publish      bool      `json:"publish"`
}

// MarshalJSON writes the record as the server does: duration is present
// (even 0) whenever end is, and logs is never null.
func (a Activation) MarshalJSON() ([]byte, error) {
	w := struct {
		Namespace    string    `json:"namespace"`
		Name         string    `json:"name"`
		Version      string    `json:"version,omitempty"`
		Subject      string    `json:"subject,omitempty"`
		ActivationID string    `json:"activationId"`
		Start        int64     `json:"start"`
		End          int64     `json:"end,omitempty"`
		Duration     *int64    `json:"duration,omitempty"`
		StatusCode   int       `json:"statusCode,omitempty"`
		Cause        string    `json:"cause,omitempty"`
		Response     *Response `json:"response,omitempty"`
		Logs         []string  `json:"logs"`
		Annotations  KeyValues `json:"annotations"`
		Publish      bool      `json:"publish"`
	}{a.Namespace, a.Name, a.Version, a.Subject, a.ActivationID, a.Start, a.End, nil, a.StatusCode, a.Cause,
		a.Response, a.Logs, a.Annotations, a.Publish}
	if a.End != 0 || a.Duration != 0 {
		w.Duration = &a.Duration
	}
	if w.Logs == nil {
		w.Logs = []string{}
	}
	return json.Marshal(w)
}

// Kind returns the activation's "kind" annotation, or "unknown".
func (a *Activation) Kind() string {
	if k, ok := a.Annotations.String("kind"); ok {
		return k
	}
	return "unknown"
}

// Cold reports whether the activation started a container: it carries an
// initTime annotation.
func (a *Activation) Cold() bool {
	_, ok := a.Annotations.Get("initTime")
	return ok
}

// ActivationResult is the body of GET /activations/{id}/result.
type ActivationResult struct {
	Status  string          `json:"status,omitempty"`
	Success bool            `json:"success"`
	Result  json.RawMessage `json:"result,omitempty"`
	Size    *int            `json:"size,omitempty"`
}

// EntityRef names an entity as {"path","name"}.
type EntityRef struct {
	Path string `json:"path"`
	Name string `json:"name"`
}

// TriggerRule is one entry of a trigger's rules map.
type TriggerRule struct {
	Action EntityRef `json:"action"`
	Status string    `json:"status"`
}

// Trigger is a trigger as the server returns it, and the body of a PUT.
type Trigger struct {
	Namespace   string                 `json:"namespace,omitempty"`
	Name        string                 `json:"name,omitempty"`
	Version     string                 `json:"version,omitempty"`
	Publish     *bool                  `json:"publish,omitempty"`
	Annotations KeyValues              `json:"annotations,omitempty"`
	Parameters  KeyValues              `json:"parameters,omitempty"`
	Limits      json.RawMessage        `json:"limits,omitempty"`
	Rules       map[string]TriggerRule `json:"rules,omitempty"`
	Updated     int64                  `json:"updated,omitempty"`
}

// Rule is a rule as the server returns it. Status is "active" or
// "inactive".
type Rule struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version,omitempty"`
	Publish     bool      `json:"publish"`
	Annotations KeyValues `json:"annotations,omitempty"`
	Status      string    `json:"status,omitempty"`
	Trigger     EntityRef `json:"trigger"`
	Action      EntityRef `json:"action"`
	Updated     int64     `json:"updated,omitempty"`
}

// RulePut is the body of a rule PUT: fully qualified trigger and action
// names ("/_/t" is resolved by the server).
type RulePut struct {
	Name        string    `json:"name,omitempty"`
	Trigger     string    `json:"trigger"`
	Action      string    `json:"action"`
	Annotations KeyValues `json:"annotations,omitempty"`
}

// Binding names the package a binding refers to. A package that is not a
// binding carries an empty Binding ({} on the wire) or none (false in list
// summaries).
type Binding struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// UnmarshalJSON accepts an object, false or null.
func (b *Binding) UnmarshalJSON(data []byte) error {
	s := strings.TrimSpace(string(data))
	if s == "false" || s == "null" || s == "true" {
		*b = Binding{}
		return nil
	}
	type plain Binding
	return json.Unmarshal(data, (*plain)(b))
}

// Package is a package or binding as the server returns it, and the body of
// a PUT.
type Package struct {
	Namespace   string    `json:"namespace,omitempty"`
	Name        string    `json:"name,omitempty"`
	Version     string    `json:"version,omitempty"`
	Publish     *bool     `json:"publish,omitempty"`
	Annotations KeyValues `json:"annotations,omitempty"`
	Parameters  KeyValues `json:"parameters,omitempty"`
	Binding     *Binding  `json:"binding,omitempty"`
	Actions     []Action  `json:"actions,omitempty"`
	Feeds       []Action  `json:"feeds,omitempty"`
	Updated     int64     `json:"updated,omitempty"`
}

// IsBinding reports whether p binds another package.
func (p *Package) IsBinding() bool { return p.Binding != nil && p.Binding.Name != "" }

// Info is the document served at GET /api/v1.
type Info struct {
	Description    string          `json:"description"`
	APIVersion     string          `json:"api_version"`
	APIVersionPath string          `json:"api_version_path"`
	Build          string          `json:"build"`
	BuildNo        string          `json:"buildno"`
	SwaggerPaths   json.RawMessage `json:"swagger_paths,omitempty"`
}

// ListOptions page through a collection. Limit 0 asks for the server's
// maximum.
type ListOptions struct {
	Limit int
	Skip  int
}
