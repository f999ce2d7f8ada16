// Package whisk is Whirl's vocabulary: entity names and paths, actions and
// their exec and limits, activations and their results, triggers, rules,
// packages, parameters and annotations, with their validation and their
// OpenWhisk wire JSON.
//
// It does no I/O and imports only the standard library. Every other package
// of Whirl may import it.
package whisk
