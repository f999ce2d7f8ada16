// Package client is a Go client for the Apache OpenWhisk REST API as Whirl
// serves it: actions, activations, triggers, rules, packages, namespaces, the
// API gateway routes and the info document.
//
// Its wire types are Whirl's vocabulary, package whisk (the types the server
// encodes its answers with), named here through aliases: Action,
// ActionPut, Activation, Package, … It imports only the standard library
// and whisk, so programs outside Whirl can use it and Whirl's own CLI,
// tests and benchmarks use it too. Every call takes a
// context first. A response with a status outside 2xx comes back as a
// *Error carrying the status and OpenWhisk's {"error","code"} body; a failure
// to reach the server comes back as the transport's error, wrapped.
//
// A Client is safe for concurrent use. Its default transport keeps many idle
// connections per host so that benchmarks reuse connections.
package client
