package client

import (
	"encoding/json"

	"github.com/whirlfaas/whirl/whisk"
)

// The wire types are Whirl's vocabulary, package whisk: the server encodes
// with them what the client decodes. These aliases let a caller name them
// through client; each is the whisk type, not a copy.
type (
	// KeyValue is one parameter or annotation.
	KeyValue = whisk.KeyValue
	// KeyValues is an ordered list of parameters or annotations.
	KeyValues = whisk.KeyValues

	// Action is an action as GET, PUT and DELETE answer it.
	Action = whisk.Action
	// ActionPut is the body of an action PUT: every field optional on
	// update.
	ActionPut = whisk.ActionPut
	// ActionSummary is an action as list rows show it: no code.
	ActionSummary = whisk.ActionSummary
	// Exec is an action's code and runtime.
	Exec = whisk.Exec
	// Limits are an action's limits as the server answers them.
	Limits = whisk.Limits
	// LimitsPut are the limits in an action PUT: nil fields are left to the
	// server.
	LimitsPut = whisk.LimitsPut

	// Activation is a full activation record.
	Activation = whisk.Activation
	// ActivationSummary is an activation as list rows without docs show
	// it: no response and no logs, but a top-level statusCode.
	ActivationSummary = whisk.ActivationSummary
	// Response is an activation's outcome, and the body of GET
	// /activations/{id}/result.
	Response = whisk.Response

	// Trigger is a trigger as the server answers it.
	Trigger = whisk.Trigger
	// TriggerPut is the body of a trigger PUT.
	TriggerPut = whisk.TriggerPut
	// TriggerRule is one entry of a trigger's rules.
	TriggerRule = whisk.TriggerRule
	// Rule is a rule as the server answers it.
	Rule = whisk.Rule
	// RulePut is the body of a rule PUT.
	RulePut = whisk.RulePut
	// EntityRef names an entity as {"path","name"}.
	EntityRef = whisk.EntityRef

	// Package is a package as GET (with its actions and feeds), PUT and
	// DELETE answer it.
	Package = whisk.PackageWithActions
	// PackageSummary is a package as list rows show it.
	PackageSummary = whisk.PackageSummary
	// PackagePut is the body of a package or binding PUT.
	PackagePut = whisk.PackagePut
	// BindingRef names the package a binding refers to.
	BindingRef = whisk.BindingRef
)

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
