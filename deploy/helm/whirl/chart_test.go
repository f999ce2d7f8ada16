// Package chart_test checks the Helm chart's templates without helm: each
// file parses as a Go text/template, and the manifests rendered from
// values.yaml with stand-ins for the Helm (sprig) functions the chart uses
// are YAML objects of the expected kinds whose whirl.yaml Whirl loads.
// It is not helm's rendering: helm's engine was not run on this chart.
package chart_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"

	"github.com/whirlfaas/whirl/internal/config"
)

// funcs are stand-ins for the Helm functions the templates call, close
// enough to Helm's for these templates. include needs the template set.
func funcs(set **template.Template) template.FuncMap {
	empty := func(v any) bool {
		if v == nil {
			return true
		}
		rv := reflect.ValueOf(v)
		return rv.IsZero() || (rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.Len() == 0
	}
	indent := func(n int, s string) string {
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
	}
	return template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b bytes.Buffer
			err := (*set).ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"toYaml": func(v any) (string, error) {
			b, err := yaml.Marshal(v)
			return strings.TrimSuffix(string(b), "\n"), err
		},
		"quote": func(v any) string { return strconv.Quote(fmt.Sprint(v)) },
		"default": func(d, v any) any {
			if empty(v) {
				return d
			}
			return v
		},
		"required": func(msg string, v any) (any, error) {
			if empty(v) {
				return nil, errors.New(msg)
			}
			return v, nil
		},
		"indent":     indent,
		"nindent":    func(n int, s string) string { return "\n" + indent(n, s) },
		"trunc":      func(n int, s string) string { return s[:min(n, len(s))] },
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"until": func(n int) []int {
			out := make([]int, n)
			for i := range out {
				out[i] = i
			}
			return out
		},
		"int": func(v any) int {
			switch v := v.(type) {
			case float64:
				return int(v)
			case int:
				return v
			}
			i, _ := strconv.Atoi(fmt.Sprint(v))
			return i
		},
		"list": func(v ...any) []any { return v },
		"concat": func(ls ...[]any) []any {
			var out []any
			for _, l := range ls {
				out = append(out, l...)
			}
			return out
		},
		"kindIs": func(kind string, v any) bool {
			switch v.(type) {
			case float64:
				return kind == "float64"
			case int, int64:
				return kind == "int" || kind == "int64"
			case string:
				return kind == "string"
			}
			return false
		},
		"int64": func(v any) int64 {
			if f, ok := v.(float64); ok {
				return int64(f)
			}
			i, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
			return i
		},
		"toString": func(v any) string { return fmt.Sprint(v) },
		"fail":     func(msg string) (string, error) { return "", errors.New(msg) },
		"sha256sum": func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:])
		},
	}
}

// load parses every template file into one set, as helm does.
func load(t *testing.T) (*template.Template, []string) {
	t.Helper()
	files, err := filepath.Glob("templates/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v %v", files, err)
	}
	var set *template.Template
	set = template.New("chart").Funcs(funcs(&set)).Option("missingkey=zero")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := set.New(filepath.Base(f)).Parse(string(b)); err != nil {
			t.Errorf("%s does not parse: %v", f, err)
		}
	}
	return set, files
}

func values(t *testing.T, set map[string]any) map[string]any {
	t.Helper()
	b, err := os.ReadFile("values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	for k, x := range set {
		v[k] = x
	}
	return map[string]any{
		"Values":  v,
		"Release": map[string]any{"Name": "demo", "Namespace": "whirl"},
		"Chart":   map[string]any{"Name": "whirl", "AppVersion": "0.1.0"},
		"Files":   chartFiles{},
	}
}

// render renders every manifest template and returns the objects.
func render(t *testing.T, set *template.Template, files []string, data any) ([]map[string]any, error) {
	t.Helper()
	var objs []map[string]any
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "_") || name == "NOTES.txt" {
			continue
		}
		var b bytes.Buffer
		if err := set.ExecuteTemplate(&b, name, data); err != nil {
			return nil, err
		}
		for _, doc := range strings.Split(b.String(), "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var o map[string]any
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatalf("%s renders invalid YAML: %v\n%s", name, err, doc)
			}
			if o["apiVersion"] == nil || o["kind"] == nil {
				t.Fatalf("%s renders an object without apiVersion or kind:\n%s", name, doc)
			}
			objs = append(objs, o)
		}
	}
	return objs, nil
}

func find(objs []map[string]any, kind, name string) map[string]any {
	for _, o := range objs {
		if o["kind"] == kind && o["metadata"].(map[string]any)["name"] == name {
			return o
		}
	}
	return nil
}

// dig follows a path of map keys and list indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[p]
		case int:
			l, _ := v.([]any)
			if p >= len(l) {
				return nil
			}
			v = l[p]
		}
	}
	return v
}

func envOf(c any) map[string]any {
	out := map[string]any{}
	for _, e := range dig(c, "env").([]any) {
		m := e.(map[string]any)
		if v, ok := m["value"]; ok {
			out[m["name"].(string)] = v
		} else {
			out[m["name"].(string)] = m["valueFrom"]
		}
	}
	return out
}

func TestTemplatesParse(t *testing.T) {
	_, files := load(t)
	for _, want := range []string{"_helpers.tpl", "configmap.yaml", "controller.yaml", "invoker.yaml", "networkpolicy.yaml", "NOTES.txt"} {
		found := false
		for _, f := range files {
			found = found || filepath.Base(f) == want
		}
		if !found {
			t.Errorf("templates/%s is missing", want)
		}
	}
}

func TestRender(t *testing.T) {
	set, files := load(t)
	data := values(t, map[string]any{"apiHost": "https://whirl.example.com"})
	data["Values"].(map[string]any)["whisk"].(map[string]any)["limits"].(map[string]any)["actionsInvokesPerminute"] = 600
	objs, err := render(t, set, files, data)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("CHART_DUMP") != "" {
		for _, o := range objs {
			b, _ := yaml.Marshal(o)
			t.Logf("---\n%s", b)
		}
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o["kind"].(string)]++
	}
	want := map[string]int{"ConfigMap": 1, "Deployment": 2, "Service": 2, "ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "StatefulSet": 1, "NetworkPolicy": 1}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("objects %v, want %v", kinds, want)
	}

	// whirl.yaml is a configuration Whirl loads, limits included.
	cm := find(objs, "ConfigMap", "demo-whirl-config")
	doc, _ := dig(cm, "data", "whirl.yaml").(string)
	p := filepath.Join(t.TempDir(), "whirl.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	if err := c.LoadFile(p); err != nil {
		t.Fatalf("whirl.yaml does not load: %v\n%s", err, doc)
	}
	if c.Limits.ActionsInvokesPerMinute != 600 || c.APIHost != "https://whirl.example.com" || c.ContainerPool.UserMemory != 2048 {
		t.Errorf("whirl.yaml gives limits %+v, apiHost %q, userMemory %d", c.Limits, c.APIHost, c.ContainerPool.UserMemory)
	}

	// The controllers balance over the invokers' stable names; one runs
	// the alarms.
	api := find(objs, "Deployment", "demo-whirl-controller")
	alarms := find(objs, "Deployment", "demo-whirl-controller-alarms")
	if api == nil || alarms == nil {
		t.Fatal("controller deployments missing")
	}
	env := envOf(dig(api, "spec", "template", "spec", "containers", 0))
	if env["WHIRL_INVOKERS"] != "demo-whirl-invoker-0,demo-whirl-invoker-1" || env["WHIRL_SCHEDULE_ALARMS"] != "false" {
		t.Errorf("controller env %v", env)
	}
	if dig(env["WHIRL_STORE"], "secretKeyRef", "name") != "whirl-postgres" {
		t.Errorf("store DSN from %v, want the secret whirl-postgres", env["WHIRL_STORE"])
	}
	if e := envOf(dig(alarms, "spec", "template", "spec", "containers", 0)); e["WHIRL_SCHEDULE_ALARMS"] != "true" || dig(alarms, "spec", "replicas") != float64(1) {
		t.Errorf("alarms controller env %v replicas %v", e, dig(alarms, "spec", "replicas"))
	}

	// The invoker runs pods through its service account, allowed just that.
	inv := find(objs, "StatefulSet", "demo-whirl-invoker")
	ienv := envOf(dig(inv, "spec", "template", "spec", "containers", 0))
	if ienv["WHIRL_CONTAINER_FACTORY"] != "kubernetes" || ienv["WHIRL_KUBERNETES_NAMESPACE"] != "whirl" || ienv["WHIRL_KUBERNETES_IMAGE"] != "whirlfaas/whirl:0.1.0" {
		t.Errorf("invoker env %v", ienv)
	}
	if dig(inv, "spec", "template", "spec", "serviceAccountName") != "demo-whirl-invoker" {
		t.Errorf("invoker service account %v", dig(inv, "spec", "template", "spec", "serviceAccountName"))
	}
	role := find(objs, "Role", "demo-whirl-invoker")
	verbs := fmt.Sprint(dig(role, "rules", 0, "verbs"))
	if dig(role, "rules", 0, "resources", 0) != "pods" || verbs != "[create get list watch delete]" {
		t.Errorf("role rules %v", dig(role, "rules"))
	}
	svc := find(objs, "Service", "demo-whirl-controller")
	if dig(svc, "spec", "ports", 0, "port") != float64(3233) {
		t.Errorf("controller service ports %v", dig(svc, "spec", "ports"))
	}

	var notes bytes.Buffer
	if err := set.ExecuteTemplate(&notes, "NOTES.txt", data); err != nil || !strings.Contains(notes.String(), "demo-whirl-invoker-1") {
		t.Errorf("NOTES.txt: %v\n%s", err, notes.String())
	}
}

// TestMetricsToken: with metrics.existingSecret, both roles read the
// metrics token from it; without, neither has one (and /metrics answers
// no one outside the pod).
func TestMetricsToken(t *testing.T) {
	set, files := load(t)
	for _, secret := range []string{"", "whirl-metrics"} {
		data := values(t, map[string]any{
			"apiHost": "https://whirl.example.com",
			"metrics": map[string]any{"existingSecret": secret, "secretKey": "token"},
		})
		objs, err := render(t, set, files, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []map[string]any{find(objs, "Deployment", "demo-whirl-controller"), find(objs, "StatefulSet", "demo-whirl-invoker")} {
			tok, ok := envOf(dig(o, "spec", "template", "spec", "containers", 0))["WHIRL_METRICS_TOKEN"]
			if secret == "" && ok {
				t.Errorf("no secret, but WHIRL_METRICS_TOKEN is %v", tok)
			}
			if secret != "" && dig(tok, "secretKeyRef", "name") != secret {
				t.Errorf("WHIRL_METRICS_TOKEN from %v, want the secret %s", tok, secret)
			}
		}
	}
}

func TestApiHostRequired(t *testing.T) {
	set, files := load(t)
	_, err := render(t, set, files, values(t, nil))
	if err == nil || !strings.Contains(err.Error(), "apiHost is required") {
		t.Fatalf("render without apiHost: err = %v", err)
	}
}

// chartFiles is Helm's .Files: the chart's own files.
type chartFiles struct{}

// Get returns the chart file name, or "" as Helm does when it is missing.
func (chartFiles) Get(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}
