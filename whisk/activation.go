package whisk

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Activation status codes (ActivationResponse.statusCode).
const (
	StatusSuccess          = 0
	StatusApplicationError = 1
	StatusDeveloperError   = 2
	StatusWhiskError       = 3
)

var statusNames = [...]string{"success", "application error", "action developer error", "whisk internal error"}

// StatusName returns the status string of a status code.
func StatusName(code int) string {
	if code < 0 || code >= len(statusNames) {
		return statusNames[StatusWhiskError]
	}
	return statusNames[code]
}

// NewActivationID returns a fresh activation id: 32 lowercase hex digits,
// time-ordered. The first 12 digits are the current time in epoch
// milliseconds (48 bits, as in a UUIDv7), the other 20 are random (80 bits
// from crypto/rand): ids made later sort later, so the store's indexes
// grow at their right edge instead of splitting pages all over, and an id
// is still not guessable (2^80 candidates per millisecond).
func NewActivationID() string { return newActivationID(time.Now().UnixMilli()) }

func newActivationID(ms int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ms)<<16)
	_, _ = rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// ValidActivationID reports whether id is 32 lowercase hex digits.
func ValidActivationID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Response is an activation's outcome.
type Response struct {
	StatusCode int             `json:"-"`
	Result     json.RawMessage `json:"-"`
	Size       *int            `json:"-"`
}

// Success reports whether the activation succeeded.
func (r Response) Success() bool { return r.StatusCode == StatusSuccess }

type responseJSON struct {
	Status     string          `json:"status"`
	StatusCode *int            `json:"statusCode,omitempty"`
	Success    bool            `json:"success"`
	Result     json.RawMessage `json:"result,omitempty"`
	Size       *int            `json:"size,omitempty"`
}

// MarshalJSON writes the extended form clients see: status and success.
func (r Response) MarshalJSON() ([]byte, error) {
	res := r.Result
	if len(res) == 0 {
		res = json.RawMessage("{}")
	}
	return json.Marshal(responseJSON{Status: StatusName(r.StatusCode), Success: r.Success(), Result: res, Size: r.Size})
}

// UnmarshalJSON reads either form: statusCode or status.
func (r *Response) UnmarshalJSON(b []byte) error {
	var j responseJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	r.Result, r.Size = j.Result, j.Size
	switch {
	case j.StatusCode != nil:
		r.StatusCode = *j.StatusCode
	default:
		r.StatusCode = StatusWhiskError
		for i, n := range statusNames {
			if n == j.Status {
				r.StatusCode = i
			}
		}
	}
	return nil
}

// Activation is the record of one run of an action, a sequence or a
// trigger fire.
type Activation struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Version      string    `json:"version"`
	Subject      string    `json:"subject"`
	ActivationID string    `json:"activationId"`
	Start        int64     `json:"start"`
	End          int64     `json:"end,omitempty"`
	Duration     int64     `json:"duration,omitempty"`
	Cause        string    `json:"cause,omitempty"`
	Response     Response  `json:"response"`
	Logs         []string  `json:"logs"`
	Annotations  KeyValues `json:"annotations"`
	Publish      bool      `json:"publish"`
}

// MarshalJSON writes the extended record in OpenWhisk's field order; end
// and duration are left out when end is 0 (trigger activations), duration
// is present (even 0, a warm run under a millisecond) whenever end is, and
// logs is never null. Its receiver is a value so that a record marshals the
// same whether or not it is addressable.
func (a Activation) MarshalJSON() ([]byte, error) {
	return a.AppendJSON(make([]byte, 0, 512))
}

// durationField is the duration to write: absent when end is 0.
func durationField(end, d int64) *int64 {
	if end == 0 {
		return nil
	}
	return &d
}

// ActivationSummary is a row of GET /activations without docs=true: no
// response and no logs, but the top-level statusCode the CLI reads.
type ActivationSummary struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Version      string    `json:"version"`
	Subject      string    `json:"subject"`
	ActivationID string    `json:"activationId"`
	Start        int64     `json:"start"`
	End          int64     `json:"end,omitempty"`
	Duration     int64     `json:"duration,omitempty"`
	Cause        string    `json:"cause,omitempty"`
	StatusCode   int       `json:"statusCode"`
	Annotations  KeyValues `json:"annotations"`
	Publish      bool      `json:"publish"`
}

// MarshalJSON writes the row; duration is present, beside end, whenever
// end is.
func (s ActivationSummary) MarshalJSON() ([]byte, error) {
	return json.Marshal(activationSummaryJSON{s.Namespace, s.Name, s.Version, s.Subject, s.ActivationID, s.Start, s.End,
		durationField(s.End, s.Duration), s.Cause, s.StatusCode, s.Annotations, s.Publish})
}

// activationSummaryJSON is ActivationSummary on the wire.
type activationSummaryJSON struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Version      string    `json:"version"`
	Subject      string    `json:"subject"`
	ActivationID string    `json:"activationId"`
	Start        int64     `json:"start"`
	End          int64     `json:"end,omitempty"`
	Duration     *int64    `json:"duration,omitempty"`
	Cause        string    `json:"cause,omitempty"`
	StatusCode   int       `json:"statusCode"`
	Annotations  KeyValues `json:"annotations"`
	Publish      bool      `json:"publish"`
}

// Summary returns a's list row.
func (a *Activation) Summary() ActivationSummary {
	s := ActivationSummary{Namespace: a.Namespace, Name: a.Name, Version: a.Version, Subject: a.Subject,
		ActivationID: a.ActivationID, Start: a.Start, End: a.End, Duration: a.Duration, Cause: a.Cause,
		StatusCode: a.Response.StatusCode, Annotations: a.Annotations, Publish: a.Publish}
	if s.End == 0 {
		s.Duration = 0
	}
	return s
}

// ResultBody is GET /activations/{id}/result.
func (a *Activation) ResultBody() map[string]any {
	res := a.Response.Result
	if len(res) == 0 {
		res = json.RawMessage("{}")
	}
	m := map[string]any{"result": res, "status": StatusName(a.Response.StatusCode), "success": a.Response.Success()}
	if a.Response.Size != nil {
		m["size"] = *a.Response.Size
	}
	return m
}
