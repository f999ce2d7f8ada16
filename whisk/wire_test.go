package whisk

import (
	"encoding/json"
	"testing"
)

// TestActivationFieldOrder pins the record's wire form: duration beside
// end (the order OpenWhisk's clients print), logs never null, and the same
// bytes whether the record is marshalled by value or through a pointer.
func TestActivationFieldOrder(t *testing.T) {
	a := Activation{Namespace: "guest", Name: "a", Version: "0.0.1", Subject: "guest", ActivationID: "x", Start: 5, End: 5,
		Response: Response{Result: json.RawMessage(`{"ok":true}`)}}
	want := `{"namespace":"guest","name":"a","version":"0.0.1","subject":"guest","activationId":"x","start":5,"end":5,"duration":0,` +
		`"response":{"status":"success","success":true,"result":{"ok":true}},"logs":[],"annotations":[],"publish":false}`
	for what, v := range map[string]any{"value": a, "pointer": &a} {
		b, err := json.Marshal(v)
		if err != nil || string(b) != want {
			t.Errorf("by %s: %s, %v\nwant %s", what, b, err, want)
		}
	}
	s := a.Summary()
	s.StatusCode = StatusDeveloperError
	b, _ := json.Marshal(s)
	if want := `{"namespace":"guest","name":"a","version":"0.0.1","subject":"guest","activationId":"x","start":5,"end":5,"duration":0,"statusCode":2,"annotations":[],"publish":false}`; string(b) != want {
		t.Errorf("summary: %s\nwant %s", b, want)
	}
}

// TestExecFieldOrder pins binary after components, as OpenWhisk writes a
// sequence's exec.
func TestExecFieldOrder(t *testing.T) {
	b, _ := json.Marshal(Exec{Kind: KindSequence, Components: []string{"/guest/a"}})
	if want := `{"kind":"sequence","components":["/guest/a"],"binary":false}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

// TestPackageViews pins the package shapes of the API: {} for no binding
// and actions and feeds present only when listed (GET), and list rows with
// binding false, both read back as they were written.
func TestPackageViews(t *testing.T) {
	p := &Package{Namespace: "guest", Name: "p", Version: "0.0.1", Updated: 1}
	v := p.View()
	b, _ := json.Marshal(v)
	if want := `{"namespace":"guest","name":"p","version":"0.0.1","publish":false,"annotations":[],"parameters":[],"binding":{},"updated":1}`; string(b) != want {
		t.Errorf("PUT view: %s\nwant %s", b, want)
	}
	v.Actions, v.Feeds = []PackageAction{{Name: "a", Version: "0.0.1"}}, []PackageAction{}
	b, _ = json.Marshal(v)
	if want := `{"namespace":"guest","name":"p","version":"0.0.1","publish":false,"annotations":[],"parameters":[],"binding":{},` +
		`"actions":[{"name":"a","version":"0.0.1","annotations":[]}],"feeds":[],"updated":1}`; string(b) != want {
		t.Errorf("GET view: %s\nwant %s", b, want)
	}

	bound := &Package{Namespace: "guest", Name: "b", Version: "0.0.1", Binding: &BindingRef{Namespace: "guest", Name: "p"}}
	for _, c := range []struct {
		p       *Package
		binding string
		ann     string
	}{{p, `false`, `[]`}, {bound, `{"namespace":"guest","name":"p"}`, `[{"key":"binding","value":{"namespace":"guest","name":"p"}}]`}} {
		b, _ := json.Marshal(c.p.Summary())
		want := `{"namespace":"guest","name":"` + c.p.Name + `","version":"0.0.1","publish":false,"annotations":` + c.ann + `,"binding":` + c.binding + `,"updated":` + map[bool]string{true: "1", false: "0"}[c.p.Updated == 1] + `}`
		if string(b) != want {
			t.Errorf("row: %s\nwant %s", b, want)
		}
		var back PackageSummary
		if err := json.Unmarshal(b, &back); err != nil || back.IsBinding() != (c.p.Binding != nil) {
			t.Errorf("row read back: %+v, %v", back, err)
		}
	}
	var gv PackageWithActions
	if err := json.Unmarshal([]byte(`{"name":"p","binding":{}}`), &gv); err != nil || gv.IsBinding() {
		t.Errorf("binding {} read back: %+v, %v", gv, err)
	}
}
