package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

// ActivationRow is an activation record as every backend stores it: the
// columns it is found by and its JSON. Namespace and Path are
// ActivationKeys; Start is the record's start in epoch milliseconds.
type ActivationRow struct {
	ID        string
	Namespace string
	Path      string
	Start     int64
	Doc       []byte
}

// EncodeActivation returns the row of a. It fails for a nil record, one
// without an activation id, or one that does not encode.
func EncodeActivation(a *whisk.Activation) (ActivationRow, error) {
	if a == nil || a.ActivationID == "" {
		return ActivationRow{}, errors.New("no activation id")
	}
	doc, err := a.AppendJSON(make([]byte, 0, 512))
	if err != nil {
		return ActivationRow{}, fmt.Errorf("encode activation %s: %w", a.ActivationID, err)
	}
	ns, path := ActivationKeys(a)
	return ActivationRow{ID: a.ActivationID, Namespace: ns, Path: path, Start: a.Start, Doc: doc}, nil
}

// DecodeActivation returns the record whose JSON is doc (ActivationRow.Doc).
func DecodeActivation(doc []byte) (*whisk.Activation, error) {
	var act whisk.Activation
	if err := json.Unmarshal(doc, &act); err != nil {
		return nil, fmt.Errorf("decode activation: %w", err)
	}
	return &act, nil
}

// Path returns the path (as ActivationKeys derives it) that q.Name selects
// in namespace, or "" when q selects every name.
func (q ActivationQuery) Path(namespace string) string {
	if q.Name == "" {
		return ""
	}
	return namespace + "/" + strings.TrimPrefix(q.Name, "/")
}

// JournalRow is a journal entry as every backend stores it: Accepted in
// unix nanoseconds, Payload never nil.
type JournalRow struct {
	ID       string
	Payload  []byte
	Accepted int64
}

// EncodeJournal returns the rows of entries, a zero Accepted becoming
// now. It fails when an entry has no id.
func EncodeJournal(entries []JournalEntry) ([]JournalRow, error) {
	rows := make([]JournalRow, len(entries))
	now := time.Now()
	for i, e := range entries {
		if e.ID == "" {
			return nil, errors.New("empty id")
		}
		acc := e.Accepted
		if acc.IsZero() {
			acc = now
		}
		p := e.Payload
		if p == nil {
			p = []byte{}
		}
		rows[i] = JournalRow{ID: e.ID, Payload: p, Accepted: acc.UnixNano()}
	}
	return rows, nil
}
