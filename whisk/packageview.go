package whisk

import (
	"bytes"
	"encoding/json"
)

// PackageAction is an action or feed as GET /packages/{name} lists it.
type PackageAction struct {
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Annotations KeyValues `json:"annotations"`
}

// PackageWithActions is a package as the API answers GET, PUT and DELETE
// /packages/{name} (OpenWhisk's WhiskPackageWithActions): binding is {} for
// a package that is not a binding; GET adds its actions and feeds ([] when
// there are none), PUT and DELETE leave them out (nil).
type PackageWithActions struct {
	Namespace   string          `json:"namespace"`
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Publish     bool            `json:"publish"`
	Annotations KeyValues       `json:"annotations"`
	Parameters  KeyValues       `json:"parameters"`
	Binding     BindingRef      `json:"binding"`
	Actions     []PackageAction `json:"actions,omitzero"`
	Feeds       []PackageAction `json:"feeds,omitzero"`
	Updated     int64           `json:"updated"`
}

// IsBinding reports whether p binds another package.
func (p *PackageWithActions) IsBinding() bool { return p.Binding.Name != "" }

// View returns p as the API shows it, without actions and feeds.
func (p *Package) View() *PackageWithActions {
	v := &PackageWithActions{Namespace: p.Namespace, Name: p.Name, Version: p.Version, Publish: p.Publish,
		Annotations: WithBindingAnnotation(p.Annotations, p.Binding), Parameters: p.Parameters, Updated: p.Updated}
	if p.Binding != nil {
		v.Binding = *p.Binding
	}
	return v
}

// PackageSummary is a row of GET /packages: no parameters, and a binding
// that is the bound package or, on the wire, false.
type PackageSummary struct {
	Namespace   string      `json:"namespace"`
	Name        string      `json:"name"`
	Version     string      `json:"version"`
	Publish     bool        `json:"publish"`
	Annotations KeyValues   `json:"annotations"`
	Binding     *BindingRef `json:"binding"` // nil: false on the wire
	Updated     int64       `json:"updated"`
}

// IsBinding reports whether s is a binding.
func (s *PackageSummary) IsBinding() bool { return s.Binding != nil && s.Binding.Name != "" }

// Summary returns p's list row.
func (p *Package) Summary() PackageSummary {
	return PackageSummary{Namespace: p.Namespace, Name: p.Name, Version: p.Version, Publish: p.Publish,
		Annotations: WithBindingAnnotation(p.Annotations, p.Binding), Binding: p.Binding, Updated: p.Updated}
}

// AnnBinding is the annotation naming the package a binding binds.
const AnnBinding = "binding"

// WithBindingAnnotation returns anns with OpenWhisk's "binding" annotation
// ({"namespace", "name"} of the bound package) when b is set, and without
// any "binding" annotation otherwise: the controller always sets it, a PUT
// cannot (OpenWhisk's Packages.scala). Clients that only list packages
// (wskdeploy export) read the binding from it; bindings stored before
// Whirl set it get it when shown.
func WithBindingAnnotation(anns KeyValues, b *BindingRef) KeyValues {
	if anns == nil {
		anns = KeyValues{}
	}
	if b == nil {
		if anns.Has(AnnBinding) {
			return anns.Delete(AnnBinding)
		}
		return anns
	}
	return anns.Delete(AnnBinding).Set(AnnBinding, b)
}

// packageSummaryJSON is PackageSummary on the wire.
type packageSummaryJSON struct {
	Namespace   string          `json:"namespace"`
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Publish     bool            `json:"publish"`
	Annotations KeyValues       `json:"annotations"`
	Binding     json.RawMessage `json:"binding"`
	Updated     int64           `json:"updated"`
}

// MarshalJSON writes binding as false when s is not a binding.
func (s PackageSummary) MarshalJSON() ([]byte, error) {
	b := json.RawMessage("false")
	if s.Binding != nil {
		var err error
		if b, err = json.Marshal(s.Binding); err != nil {
			return nil, err
		}
	}
	return json.Marshal(packageSummaryJSON{s.Namespace, s.Name, s.Version, s.Publish, s.Annotations, b, s.Updated})
}

// UnmarshalJSON reads binding as an object, false or null.
func (s *PackageSummary) UnmarshalJSON(data []byte) error {
	var j packageSummaryJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*s = PackageSummary{Namespace: j.Namespace, Name: j.Name, Version: j.Version, Publish: j.Publish,
		Annotations: j.Annotations, Updated: j.Updated}
	if t := bytes.TrimSpace(j.Binding); len(t) > 0 && t[0] == '{' {
		s.Binding = new(BindingRef)
		return json.Unmarshal(t, s.Binding)
	}
	return nil
}
