package whisk

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Exec kinds that are not runtimes.
const (
	KindBlackbox = "blackbox"
	KindSequence = "sequence"
)

// Exec is what an action runs: a kind with code, an image, or a sequence of
// components. Its fields are in the order OpenWhisk writes them (binary
// last, also for a sequence).
type Exec struct {
	Kind       string   `json:"kind"`
	Code       *string  `json:"code,omitempty"`
	Image      string   `json:"image,omitempty"`
	Main       string   `json:"main,omitempty"`
	Components []string `json:"components,omitempty"`
	Binary     bool     `json:"binary"`
}

// CodeString returns the code or "".
func (e *Exec) CodeString() string {
	if e == nil || e.Code == nil {
		return ""
	}
	return *e.Code
}

// CodeBytes returns the code, base64-decoded when binary.
func (e *Exec) CodeBytes() ([]byte, error) {
	c := e.CodeString()
	if !e.Binary {
		return []byte(c), nil
	}
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return nil, BadRequest(MsgMalformed + "binary code is not valid base64")
	}
	return b, nil
}

// IsBinaryCode reports whether code is what OpenWhisk treats as binary:
// valid base64 whose length is a multiple of four (Exec.isBinaryCode).
func IsBinaryCode(code string) bool {
	t := strings.TrimSpace(code)
	if t == "" || len(t)%4 != 0 {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(t)
	return err == nil
}

// Limits are an action's resource limits.
type Limits struct {
	Timeout     int  `json:"timeout"`     // milliseconds
	Memory      int  `json:"memory"`      // megabytes
	Logs        int  `json:"logs"`        // megabytes
	Concurrency int  `json:"concurrency"` // activations per container
	Instances   *int `json:"instances,omitempty"`
}

// LimitsPut is a limits object in a PUT body: every field optional.
type LimitsPut struct {
	Timeout     *int `json:"timeout,omitempty"`
	Memory      *int `json:"memory,omitempty"`
	Logs        *int `json:"logs,omitempty"`
	Concurrency *int `json:"concurrency,omitempty"`
	Instances   *int `json:"instances,omitempty"`
}

// Action is a stored action.
type Action struct {
	Namespace   string    `json:"namespace"` // "guest" or "guest/pkg"
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Exec        Exec      `json:"exec"`
	Parameters  KeyValues `json:"parameters"`
	Limits      Limits    `json:"limits"`
	Annotations KeyValues `json:"annotations"`
	Updated     int64     `json:"updated"`
}

// FQN returns the action's fully qualified name.
func (a *Action) FQN() FQN {
	ns, pkg, _ := strings.Cut(a.Namespace, "/")
	return FQN{Namespace: ns, Package: pkg, Name: a.Name}
}

// ActionPut is the body of PUT /actions/{name}. Every field is optional on
// update.
type ActionPut struct {
	Exec           *Exec      `json:"exec,omitempty"`
	Parameters     KeyValues  `json:"parameters,omitempty"`
	Limits         *LimitsPut `json:"limits,omitempty"`
	Version        string     `json:"version,omitempty"`
	Publish        *bool      `json:"publish,omitempty"`
	Annotations    KeyValues  `json:"annotations,omitempty"`
	DelAnnotations []string   `json:"delAnnotations,omitempty"`
}

// ActionSummary is an action as list rows show it: no code.
type ActionSummary struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Annotations KeyValues `json:"annotations"`
	Limits      Limits    `json:"limits"`
	Exec        struct {
		Binary bool `json:"binary"`
	} `json:"exec"`
	Updated int64 `json:"updated"`
}

// Summary returns a's list row.
func (a *Action) Summary() ActionSummary {
	s := ActionSummary{Namespace: a.Namespace, Name: a.Name, Version: a.Version, Publish: a.Publish,
		Annotations: a.Annotations, Limits: a.Limits, Updated: a.Updated}
	s.Exec.Binary = a.Exec.Binary
	return s
}

// WithoutCode returns a copy of a whose exec carries no code (?code=false).
func (a *Action) WithoutCode() *Action {
	c := *a
	c.Exec.Code = nil
	return &c
}

// NextVersion bumps the patch of a semantic version: "0.0.1" → "0.0.2".
// Anything unparsable starts over at "0.0.1".
func NextVersion(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "0.0.1"
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return "0.0.1"
	}
	return fmt.Sprintf("%s.%s.%d", parts[0], parts[1], n+1)
}

// DecodeStrict decodes data into v, refusing trailing data. A decode error
// becomes OpenWhisk's 400 "The request content was malformed".
func DecodeStrict(data []byte, v any) error {
	if len(strings.TrimSpace(string(data))) == 0 {
		data = []byte("{}")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return BadRequest(MsgMalformed + err.Error())
	}
	return nil
}
