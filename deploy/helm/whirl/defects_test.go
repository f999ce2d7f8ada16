package chart_test

// Tests of the chart defects a real cluster showed (docs/kubernetes.md,
// "Defects fixed"), on the templates rendered with the stand-in engine;
// e2e_test.go checks the same with the real helm and API server.

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func renderWith(t *testing.T, release, ns string, set map[string]any) ([]map[string]any, error) {
	t.Helper()
	tpl, files := load(t)
	data := values(t, map[string]any{"apiHost": "https://whirl.test"})
	for path, x := range set {
		setValue(data, path, x)
	}
	data["Release"] = map[string]any{"Name": release, "Namespace": ns}
	return render(t, tpl, files, data)
}

func images(objs []map[string]any) []string {
	var out []string
	for _, o := range objs {
		for _, c := range asList(dig(o, "spec", "template", "spec", "containers")) {
			out = append(out, dig(c, "image").(string))
		}
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// A numeric image.tag (tag: 2) renders as such, not %!s(int64=2).
func TestNumericImageTag(t *testing.T) {
	for _, tag := range []any{float64(2), "1.10", float64(3)} {
		objs, err := renderWith(t, "demo", "whirl", map[string]any{"image.tag": tag})
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range images(objs) {
			if strings.Contains(img, "%!") || !regexp.MustCompile(`^whirlfaas/whirl:[0-9.]+$`).MatchString(img) {
				t.Errorf("tag %v renders image %q", tag, img)
			}
		}
	}
}

// A long release name keeps every name and label within 63 characters,
// the StatefulSet's controller-revision-hash label (<name>-<10>) included.
func TestLongReleaseName(t *testing.T) {
	release := strings.Repeat("r", 53) // helm's longest release name
	objs, err := renderWith(t, release, "whirl", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		name := dig(o, "metadata", "name").(string)
		limit := 63
		if o["kind"] == "StatefulSet" {
			limit = 63 - 11 // the revision hash label, and pod names <name>-N
		}
		if len(name) > limit {
			t.Errorf("%s %s: %d characters, over %d", o["kind"], name, len(name), limit)
		}
	}
}

// Every namespaced object names its namespace (helm template | kubectl
// apply puts nothing in "default"), and the action namespace is created
// with the release when it is another one.
func TestNamespaces(t *testing.T) {
	objs, err := renderWith(t, "demo", "whirl", map[string]any{"invoker.actionNamespace": "actions"})
	if err != nil {
		t.Fatal(err)
	}
	created := false
	for _, o := range objs {
		ns, _ := dig(o, "metadata", "namespace").(string)
		switch {
		case o["kind"] == "Namespace":
			created = dig(o, "metadata", "name") == "actions"
		case ns == "":
			t.Errorf("%s %s has no metadata.namespace", o["kind"], dig(o, "metadata", "name"))
		}
	}
	if !created {
		t.Error("the action namespace is not created with the release")
	}
	objs, err = renderWith(t, "demo", "whirl", map[string]any{"invoker.actionNamespace": "actions", "invoker.createActionNamespace": false})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o["kind"] == "Namespace" {
			t.Error("createActionNamespace: false still creates it")
		}
	}
}

// replicas: 0 invokers is refused, not rendered as controllers with no
// invoker.
func TestNoInvokersRefused(t *testing.T) {
	_, err := renderWith(t, "demo", "whirl", map[string]any{"invoker.replicas": float64(0)})
	if err == nil || !strings.Contains(err.Error(), "invoker.replicas") {
		t.Fatalf("invoker.replicas=0: err = %v, want a refusal naming it", err)
	}
}

// Changing apiHost (outside whisk:) changes the pods' checksum: helm
// upgrade rolls them.
func TestConfigChecksumCoversApiHost(t *testing.T) {
	sum := func(apiHost string) map[string]any {
		objs, err := renderWith(t, "demo", "whirl", map[string]any{"apiHost": apiHost})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]any{}
		for _, o := range objs {
			if a := dig(o, "spec", "template", "metadata", "annotations", "whirl.dev/config"); a != nil {
				out[dig(o, "metadata", "name").(string)] = a
			}
		}
		return out
	}
	a, b := sum("https://one.test"), sum("https://two.test")
	if len(a) == 0 {
		t.Fatal("no pod template carries the config checksum")
	}
	for name, s := range a {
		if b[name] == s {
			t.Errorf("%s: apiHost changed, checksum did not", name)
		}
	}
}

// Action pods in the release's namespace are owned by their invoker's
// pod (helm uninstall leaves none behind).
func TestOwnerPodEnv(t *testing.T) {
	objs, err := renderWith(t, "demo", "whirl", nil)
	if err != nil {
		t.Fatal(err)
	}
	sts := find(objs, "StatefulSet", "demo-whirl-invoker")
	env := envOf(dig(sts, "spec", "template", "spec", "containers", 0))
	if dig(env["WHIRL_KUBERNETES_OWNER_POD"], "fieldRef", "fieldPath") != "metadata.name" {
		t.Errorf("the invoker is not told its pod's name as owner of action pods: %v", env["WHIRL_KUBERNETES_OWNER_POD"])
	}
}

// The chart's default image is what deploy/Dockerfile's build command
// tags.
func TestDefaultImageMatchesDockerfile(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`docker build -f deploy/Dockerfile -t (\S+) \.`).FindSubmatch(df)
	if m == nil {
		t.Fatal("deploy/Dockerfile names no docker build -t command")
	}
	cb, err := os.ReadFile("Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(cb, &chart); err != nil {
		t.Fatal(err)
	}
	objs, err := renderWith(t, "demo", "whirl", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "whirlfaas/whirl:" + chart.AppVersion
	for _, img := range images(objs) {
		if img != want || string(m[1]) != want {
			t.Errorf("chart image %q, Dockerfile tags %q, want both %q", img, m[1], want)
		}
	}
}
