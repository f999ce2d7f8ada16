package whisk

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// activationRef is the record on the wire as encoding/json writes it by
// reflection: the reference AppendJSON must match byte for byte.
type activationRef struct {
	Namespace    string        `json:"namespace"`
	Name         string        `json:"name"`
	Version      string        `json:"version"`
	Subject      string        `json:"subject"`
	ActivationID string        `json:"activationId"`
	Start        int64         `json:"start"`
	End          int64         `json:"end,omitempty"`
	Duration     *int64        `json:"duration,omitempty"`
	Cause        string        `json:"cause,omitempty"`
	Response     responseRef   `json:"response"`
	Logs         []string      `json:"logs"`
	Annotations  []keyValueRef `json:"annotations"`
	Publish      bool          `json:"publish"`
}

type responseRef struct {
	Status  string          `json:"status"`
	Success bool            `json:"success"`
	Result  json.RawMessage `json:"result,omitempty"`
	Size    *int            `json:"size,omitempty"`
}

type keyValueRef struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Init  bool            `json:"init,omitempty"`
}

// marshalRef is encoding/json's encoding of a.
func marshalRef(a *Activation) ([]byte, error) {
	r := activationRef{Namespace: a.Namespace, Name: a.Name, Version: a.Version, Subject: a.Subject,
		ActivationID: a.ActivationID, Start: a.Start, End: a.End, Cause: a.Cause, Logs: a.Logs, Publish: a.Publish,
		Response: responseRef{Status: StatusName(a.Response.StatusCode), Success: a.Response.Success(),
			Result: a.Response.Result, Size: a.Response.Size}}
	if a.End != 0 {
		d := a.Duration
		r.Duration = &d
	}
	if len(r.Response.Result) == 0 {
		r.Response.Result = json.RawMessage("{}")
	}
	if r.Logs == nil {
		r.Logs = []string{}
	}
	r.Annotations = []keyValueRef{}
	for _, p := range a.Annotations {
		r.Annotations = append(r.Annotations, keyValueRef(p))
	}
	return json.Marshal(r)
}

// awkward are strings that encoding/json escapes: HTML, quotes,
// backslashes, control characters, invalid UTF-8, U+2028 and U+2029.
var awkward = []string{
	"", "plain", `say "hi"`, `back\slash`, "<script>&amp;</script>", "tab\tnew\nline\r\b\f\x00\x1f\x7f",
	"caf\xc3\xa9 \xe2\x82\xac", "bad \xff\xfe utf8 \xc3", "line\u2028sep\u2029para", "\xe2\x80", "emoji \U0001F600",
}

// awkwardRaw are raw JSON values: whitespace to compact, HTML and
// U+2028/9 inside strings, escapes, invalid UTF-8 inside a string.
var awkwardRaw = []string{
	`{}`, `{"a":1}`, ` { "a" : [ 1 , 2 ] , "b" : "x y" } `, "{\"h\":\"<b>&</b>\"}", "\"\u2028\u2029\"",
	`"esc \" \\ \u003c"`, "\"bad \xff\"", `[true,false,null,-1.5e3]`, "\n\t\"x\"\r\n", `"\u00e2"`, "\"\xe2\x82\xac\"",
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	size := 42
	cases := []*Activation{
		{},
		{Namespace: "guest", Name: "hello", Version: "0.0.1", Subject: "guest", ActivationID: NewActivationID(),
			Start: 1700000000000, End: 1700000000001, Duration: 1, Logs: []string{"2026-12-01T00:00:00.000Z stdout: hi"},
			Annotations: KeyValues{{Key: "path", Value: json.RawMessage(`"guest/hello"`)}, {Key: "waitTime", Value: json.RawMessage(`3`)},
				{Key: "limits", Value: json.RawMessage(`{"timeout":60000,"memory":256}`)}, {Key: "nil"}, {Key: "e", Value: json.RawMessage(`1`), Init: true}},
			Response: Response{StatusCode: StatusSuccess, Result: json.RawMessage(`{"ok":true}`), Size: &size}, Publish: true},
		{Start: 5, End: 5, Duration: 0, Cause: "c", Response: Response{StatusCode: 7}, Logs: []string{}},
		{Start: -1, End: 0, Duration: 9, Response: Response{StatusCode: StatusDeveloperError, Result: json.RawMessage(`{"error":"x"}`)}},
	}
	for i, s := range awkward {
		raw := json.RawMessage(awkwardRaw[i%len(awkwardRaw)])
		cases = append(cases, &Activation{Namespace: s, Name: s, Version: s, Subject: s, ActivationID: s, Cause: s,
			Logs: []string{s, s}, Annotations: KeyValues{{Key: s, Value: raw}}, Response: Response{Result: raw}, End: int64(i)})
	}
	for _, r := range awkwardRaw {
		cases = append(cases, &Activation{Response: Response{StatusCode: StatusApplicationError, Result: json.RawMessage(r)},
			Annotations: KeyValues{{Key: "v", Value: json.RawMessage(r)}}})
	}
	for i, a := range cases {
		checkSame(t, i, a)
	}
}

// TestAppendJSONRandom compares random records of random bytes.
func TestAppendJSONRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			switch rng.IntN(4) {
			case 0:
				b[i] = byte(rng.IntN(256))
			case 1:
				const odd = "<>&\"\\\xe2\x80\xa8 \n"
				b[i] = odd[rng.IntN(len(odd))]
			default:
				b[i] = byte('a' + rng.IntN(26))
			}
		}
		return string(b)
	}
	for i := range 3000 {
		raw := awkwardRaw[rng.IntN(len(awkwardRaw))]
		if rng.IntN(3) == 0 {
			s, _ := json.Marshal(str())
			raw = " " + string(s) + "\n"
		}
		a := &Activation{Namespace: str(), Name: str(), Subject: str(), ActivationID: str(), Cause: str(),
			Start: rng.Int64(), End: rng.Int64N(3), Duration: rng.Int64N(100), Logs: []string{str()},
			Annotations: KeyValues{{Key: str(), Value: json.RawMessage(raw), Init: rng.IntN(2) == 0}},
			Response:    Response{StatusCode: rng.IntN(5), Result: json.RawMessage(raw)}, Publish: rng.IntN(2) == 0}
		checkSame(t, i, a)
	}
}

// TestAppendJSONInvalidRaw: a raw value that is not JSON fails, as it
// does with encoding/json.
func TestAppendJSONInvalidRaw(t *testing.T) {
	for _, raw := range []string{`{`, `{"a":}`, `nul`, `"open`, `{} {}`, ` `} {
		a := &Activation{Response: Response{Result: json.RawMessage(raw)}}
		if _, err := marshalRef(a); err == nil {
			t.Fatalf("%q: encoding/json accepted it", raw)
		}
		if _, err := a.AppendJSON(nil); err == nil {
			t.Errorf("%q: AppendJSON accepted a raw value encoding/json refuses", raw)
		}
		if _, err := json.Marshal(a); err == nil {
			t.Errorf("%q: Marshal (MarshalJSON) accepted it", raw)
		}
	}
}

func checkSame(t *testing.T, i int, a *Activation) {
	t.Helper()
	want, err := marshalRef(a)
	if err != nil {
		t.Fatalf("case %d: reference: %v", i, err)
	}
	got, err := a.AppendJSON([]byte("prefix"))
	if err != nil {
		t.Fatalf("case %d: AppendJSON: %v", i, err)
	}
	if !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("case %d:\n got %s\nwant %s", i, got[len("prefix"):], want)
	}
	viaMarshal, err := json.Marshal(a)
	if err != nil || !bytes.Equal(viaMarshal, want) {
		t.Fatalf("case %d: json.Marshal(record) = %s, %v\nwant %s", i, viaMarshal, err, want)
	}
}

func BenchmarkActivationJSON(b *testing.B) {
	size := 2
	a := &Activation{Namespace: "guest", Name: "noop", Version: "0.0.1", Subject: "guest", ActivationID: NewActivationID(),
		Start: 1700000000000, End: 1700000000001, Duration: 1, Logs: []string{},
		Annotations: KeyValues{{Key: "path", Value: json.RawMessage(`"guest/noop"`)}, {Key: "waitTime", Value: json.RawMessage(`3`)},
			{Key: "kind", Value: json.RawMessage(`"python:3"`)}, {Key: "timeout", Value: json.RawMessage(`false`)},
			{Key: "limits", Value: json.RawMessage(`{"concurrency":1,"logs":10,"memory":256,"timeout":60000}`)}},
		Response: Response{Result: json.RawMessage(`{"x":1}`), Size: &size}}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf, _ = a.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = marshalRef(a)
		}
	})
}

// TestActivationIDTimeOrdered: ids are 32 hex digits, start with the
// time in milliseconds, sort by the time they were made, and keep 80
// random bits (no two alike).
func TestActivationIDTimeOrdered(t *testing.T) {
	a, b := newActivationID(0x0123456789ab), newActivationID(0x0123456789ac)
	if !ValidActivationID(a) || !ValidActivationID(b) {
		t.Fatalf("invalid ids %q %q", a, b)
	}
	if a[:12] != "0123456789ab" || !(a < b) {
		t.Fatalf("ids %q, %q: want the time in the first 12 digits, in order", a, b)
	}
	seen := map[string]bool{}
	for range 10000 {
		id := newActivationID(1)
		if seen[id[12:]] {
			t.Fatalf("random part repeated: %s", id)
		}
		seen[id[12:]] = true
	}
	before := time.Now().UnixMilli()
	id := NewActivationID()
	after := time.Now().UnixMilli()
	ms, err := strconv.ParseInt(id[:12], 16, 64)
	if err != nil || ms < before || ms > after {
		t.Fatalf("NewActivationID() = %s: time %d, want within [%d, %d]", id, ms, before, after)
	}
}
