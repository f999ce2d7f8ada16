// Package archtest holds the tests that keep Whirl's architecture true:
// imports run one way (whisk ← contracts ← logic ← services ← app ← cli ←
// cmd), implementations are imported only by the composition root, the
// public client needs nothing beyond the standard library, and every
// package says what it owns in a package comment.
//
// It has no code; nothing imports it.
package archtest
