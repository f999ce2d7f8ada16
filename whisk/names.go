package whisk

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxNameLength is the longest entity name or namespace OpenWhisk accepts.
const MaxNameLength = 256

// DefaultNamespace is the alias for the caller's own namespace in paths.
const DefaultNamespace = "_"

var nameRE = regexp.MustCompile(`\A([\w]|[\w][\w@ .-]*[\w@.-]+)\z`)

// ValidateName checks one path segment (a namespace, package or entity name)
// against OpenWhisk's rules.
func ValidateName(s string) error {
	if len(s) > MaxNameLength {
		return BadRequest(fmt.Sprintf(MsgNameTooLong, len(s), MaxNameLength))
	}
	if !nameRE.MatchString(s) {
		return BadRequest(MsgEntityNameIllegal)
	}
	return nil
}

// FQN is a fully qualified entity name: /namespace[/package]/name.
type FQN struct {
	Namespace string
	Package   string // empty when the entity is not in a package
	Name      string
}

// String returns the name with a leading slash: "/guest/pkg/hello".
func (f FQN) String() string { return "/" + f.Path() }

// Path returns the name without the leading slash: "guest/pkg/hello".
func (f FQN) Path() string { return f.PathPrefix() + "/" + f.Name }

// PathPrefix returns the namespace and package: "guest/pkg" or "guest". It is
// what OpenWhisk reports as an entity's "namespace".
func (f FQN) PathPrefix() string {
	if f.Package == "" {
		return f.Namespace
	}
	return f.Namespace + "/" + f.Package
}

// Key returns the name within its namespace: "pkg/hello" or "hello". Stores
// key entities by (namespace, key).
func (f FQN) Key() string {
	if f.Package == "" {
		return f.Name
	}
	return f.Package + "/" + f.Name
}

// ParseFQN parses "/ns/name", "/ns/pkg/name", "name" or "pkg/name"; relative
// names and the "_" namespace resolve to ns.
func ParseFQN(s, ns string) (FQN, error) {
	abs := strings.HasPrefix(s, "/")
	parts := strings.Split(strings.Trim(s, "/"), "/")
	var f FQN
	switch {
	case abs && len(parts) == 2:
		f = FQN{Namespace: parts[0], Name: parts[1]}
	case abs && len(parts) == 3:
		f = FQN{Namespace: parts[0], Package: parts[1], Name: parts[2]}
	case !abs && len(parts) == 1:
		f = FQN{Namespace: ns, Name: parts[0]}
	case !abs && len(parts) == 2:
		f = FQN{Namespace: ns, Package: parts[0], Name: parts[1]}
	default:
		return FQN{}, BadRequest(MsgEntityNameIllegal)
	}
	if f.Namespace == DefaultNamespace {
		f.Namespace = ns
	}
	for _, seg := range []string{f.Namespace, f.Package, f.Name} {
		if seg == "" && f.Package == "" {
			continue // no package; a missing namespace or name fails below
		}
		if err := ValidateName(seg); err != nil {
			return FQN{}, err
		}
	}
	return f, nil
}

// EntityRef is how OpenWhisk serialises a fully qualified name inside rules:
// {"path":"guest","name":"hello"}.
type EntityRef struct {
	Path string `json:"path"`
	Name string `json:"name"`
}

// Ref returns f as an EntityRef.
func (f FQN) Ref() EntityRef { return EntityRef{Path: f.PathPrefix(), Name: f.Name} }

// FQN returns the reference as a fully qualified name.
func (r EntityRef) FQN() FQN {
	ns, pkg, _ := strings.Cut(r.Path, "/")
	return FQN{Namespace: ns, Package: pkg, Name: r.Name}
}
