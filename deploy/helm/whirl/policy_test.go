package chart_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/container/kubernetes"
)

// setValue sets a value at a dotted path of data's Values, making maps on
// the way.
func setValue(data map[string]any, path string, v any) {
	m := data["Values"].(map[string]any)
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// endpoint is one side of a connection, as a NetworkPolicy sees it: an
// address, and for a pod its labels and its namespace's labels.
type endpoint struct {
	name   string
	ip     string
	ns     string            // "" for an address outside the cluster
	labels map[string]string // the pod's
}

func (e endpoint) nsLabels() map[string]string {
	return map[string]string{"kubernetes.io/metadata.name": e.ns}
}

// selects reports whether a label selector (matchLabels, matchExpressions
// with Exists) matches labels; a nil selector matches nothing, an
// empty one everything.
func selects(sel any, labels map[string]string) bool {
	m, ok := sel.(map[string]any)
	if !ok {
		return false
	}
	ml, _ := dig(m, "matchLabels").(map[string]any)
	for k, v := range ml {
		if labels[k] != v {
			return false
		}
	}
	exprs, _ := dig(m, "matchExpressions").([]any)
	for _, e := range exprs {
		key := dig(e, "key").(string)
		_, has := labels[key]
		switch dig(e, "operator") {
		case "Exists":
			if !has {
				return false
			}
		default:
			panic(fmt.Sprintf("operator %v not evaluated by this test", dig(e, "operator")))
		}
	}
	return true
}

// peerMatches evaluates one NetworkPolicy peer: an ipBlock by address
// (pod addresses included, as most network plugins do), a namespace and
// pod selector pair by labels.
func peerMatches(peer any, e endpoint) bool {
	if b := dig(peer, "ipBlock"); b != nil {
		ip := netip.MustParseAddr(e.ip)
		if !netip.MustParsePrefix(dig(b, "cidr").(string)).Contains(ip) {
			return false
		}
		except, _ := dig(b, "except").([]any)
		for _, x := range except {
			if netip.MustParsePrefix(x.(string)).Contains(ip) {
				return false
			}
		}
		return true
	}
	if e.ns == "" {
		return false
	}
	nsSel, podSel := dig(peer, "namespaceSelector"), dig(peer, "podSelector")
	if nsSel != nil && !selects(nsSel, e.nsLabels()) {
		return false
	}
	if nsSel == nil && e.ns != "whirl" { // a bare podSelector: the policy's namespace
		return false
	}
	return podSel == nil || selects(podSel, e.labels)
}

// allowed evaluates a policy's ingress or egress rules for a connection
// to or from e on port/proto.
func allowed(rules any, peersKey string, e endpoint, port int, proto string) bool {
	list, _ := rules.([]any)
	for _, r := range list {
		if ports, ok := dig(r, "ports").([]any); ok {
			match := false
			for _, p := range ports {
				match = match || dig(p, "port") == float64(port) && dig(p, "protocol") == proto
			}
			if !match {
				continue
			}
		}
		peers, ok := dig(r, peersKey).([]any)
		if !ok {
			return true // no peers: everyone
		}
		for _, p := range peers {
			if peerMatches(p, e) {
				return true
			}
		}
	}
	return false
}

// podLabels returns the labels of the pods a workload's template makes.
func podLabels(t *testing.T, o map[string]any) map[string]string {
	t.Helper()
	if o == nil {
		t.Fatal("workload missing")
	}
	out := map[string]string{}
	for k, v := range dig(o, "spec", "template", "metadata", "labels").(map[string]any) {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// TestActionNetworkPolicy evaluates the rendered NetworkPolicy: it
// selects the pods the factory labels (and not Whirl's own); they take
// connections only from the invokers, on the runtime's port; they reach
// DNS, the internet and the operator's allowed ranges, but not Whirl's
// controllers and invokers, NATS, PostgreSQL, the cloud metadata address
// or other private addresses.
func TestActionNetworkPolicy(t *testing.T) {
	set, files := load(t)
	data := values(t, map[string]any{"apiHost": "https://whirl.example.com"})
	setValue(data, "actionNetworkPolicy.allowedCIDRs", []any{"10.20.30.0/24"})
	objs, err := render(t, set, files, data)
	if err != nil {
		t.Fatal(err)
	}
	np := find(objs, "NetworkPolicy", "demo-whirl-actions")
	if np == nil {
		t.Fatal("no NetworkPolicy demo-whirl-actions")
	}
	if dig(np, "metadata", "namespace") != "whirl" || fmt.Sprint(dig(np, "spec", "policyTypes")) != "[Ingress Egress]" {
		t.Errorf("namespace %v, policy types %v", dig(np, "metadata", "namespace"), dig(np, "spec", "policyTypes"))
	}

	// The pods it applies to: the factory's, not Whirl's own.
	action := map[string]string{kubernetes.LabelInvoker: "demo-whirl-invoker-0", kubernetes.LabelContainerID: "wsk-demo-1"}
	controller := podLabels(t, find(objs, "Deployment", "demo-whirl-controller"))
	invoker := podLabels(t, find(objs, "StatefulSet", "demo-whirl-invoker"))
	sel := dig(np, "spec", "podSelector")
	if !selects(sel, action) || selects(sel, controller) || selects(sel, invoker) {
		t.Errorf("podSelector %v: selects action pod %v, controller %v, invoker %v", sel, selects(sel, action), selects(sel, controller), selects(sel, invoker))
	}

	in, out := dig(np, "spec", "ingress"), dig(np, "spec", "egress")
	invokerPod := endpoint{"an invoker", "10.244.0.11", "whirl", invoker}
	controllerPod := endpoint{"a controller", "10.244.0.10", "whirl", controller}
	for _, c := range []struct {
		from  endpoint
		port  int
		allow bool
	}{
		{invokerPod, 8080, true},
		{invokerPod, 9000, false},
		{controllerPod, 8080, false},
		{endpoint{"another action", "10.244.3.4", "whirl", action}, 8080, false},
		{endpoint{"another namespace's invoker", "10.244.5.5", "other", invoker}, 8080, false},
		{endpoint{"the internet", "203.0.113.7", "", nil}, 8080, false},
	} {
		if got := allowed(in, "from", c.from, c.port, "TCP"); got != c.allow {
			t.Errorf("ingress from %s (%s) to port %d: allowed %v, want %v", c.from.name, c.from.ip, c.port, got, c.allow)
		}
	}

	nats := endpoint{"NATS", "10.244.0.12", "whirl", map[string]string{"app.kubernetes.io/name": "nats"}}
	for _, c := range []struct {
		to    endpoint
		port  int
		proto string
		allow bool
	}{
		{endpoint{"a public address", "1.1.1.1", "", nil}, 443, "TCP", true},
		{endpoint{"a public IPv6 address", "2606:4700::1111", "", nil}, 443, "TCP", true},
		{endpoint{"the cluster DNS", "10.244.0.2", "kube-system", map[string]string{"k8s-app": "kube-dns"}}, 53, "UDP", true},
		{endpoint{"the cluster DNS on another port", "10.244.0.2", "kube-system", map[string]string{"k8s-app": "kube-dns"}}, 8080, "TCP", false},
		{endpoint{"an allowed range", "10.20.30.5", "", nil}, 5432, "TCP", true},
		{endpoint{"next to the allowed range", "10.20.31.5", "", nil}, 5432, "TCP", false},
		{endpoint{"the cloud metadata address", "169.254.169.254", "", nil}, 80, "TCP", false},
		{endpoint{"the IPv6 metadata address", "fd00:ec2::254", "", nil}, 80, "TCP", false},
		{controllerPod, 3233, "TCP", false},
		{invokerPod, 3234, "TCP", false},
		{nats, 4222, "TCP", false},
		{endpoint{"NATS's service", "10.96.0.30", "", nil}, 4222, "TCP", false},
		{endpoint{"PostgreSQL", "10.244.0.13", "whirl", map[string]string{"app.kubernetes.io/name": "postgresql"}}, 5432, "TCP", false},
		{endpoint{"a private network", "192.168.1.1", "", nil}, 80, "TCP", false},
		{endpoint{"a private network", "172.16.0.1", "", nil}, 80, "TCP", false},
		{endpoint{"the node's loopback", "127.0.0.1", "", nil}, 80, "TCP", false},
	} {
		if got := allowed(out, "to", c.to, c.port, c.proto); got != c.allow {
			t.Errorf("egress to %s (%s) port %d/%s: allowed %v, want %v", c.to.name, c.to.ip, c.port, c.proto, got, c.allow)
		}
	}

	// Disabled: no policy.
	setValue(data, "actionNetworkPolicy.enabled", false)
	objs, err = render(t, set, files, data)
	if err != nil {
		t.Fatal(err)
	}
	if np := find(objs, "NetworkPolicy", "demo-whirl-actions"); np != nil {
		t.Errorf("actionNetworkPolicy.enabled=false still renders %v", np)
	}
}

// TestNATSCredentials: by default the roles get nats.url and no
// credentials; with nats.auth the URL comes from the Secret and the
// credentials file is mounted where WHIRL_BUS_CREDENTIALS (which Whirl
// reads as busCredentials) says, in the controllers and the invokers.
func TestNATSCredentials(t *testing.T) {
	set, files := load(t)
	data := values(t, map[string]any{"apiHost": "https://whirl.example.com"})
	objs, err := render(t, set, files, data)
	if err != nil {
		t.Fatal(err)
	}
	env := envOf(dig(find(objs, "StatefulSet", "demo-whirl-invoker"), "spec", "template", "spec", "containers", 0))
	if env["WHIRL_BUS"] != "nats://nats:4222" || env["WHIRL_BUS_CREDENTIALS"] != nil {
		t.Errorf("default invoker env: bus %v, credentials %v", env["WHIRL_BUS"], env["WHIRL_BUS_CREDENTIALS"])
	}

	setValue(data, "nats.auth.existingSecret", "whirl-nats")
	setValue(data, "nats.auth.urlKey", "url")
	setValue(data, "nats.auth.credentialsKey", "creds")
	objs, err = render(t, set, files, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []map[string]any{find(objs, "Deployment", "demo-whirl-controller"), find(objs, "Deployment", "demo-whirl-controller-alarms"), find(objs, "StatefulSet", "demo-whirl-invoker")} {
		name := dig(w, "metadata", "name")
		pod := dig(w, "spec", "template", "spec")
		env := envOf(dig(pod, "containers", 0))
		if dig(env["WHIRL_BUS"], "secretKeyRef", "name") != "whirl-nats" || dig(env["WHIRL_BUS"], "secretKeyRef", "key") != "url" {
			t.Errorf("%s: WHIRL_BUS from %v, want the Secret whirl-nats, key url", name, env["WHIRL_BUS"])
		}
		credPath, _ := env["WHIRL_BUS_CREDENTIALS"].(string)
		c := config.Default()
		if err := c.LoadEnv([]string{"WHIRL_BUS_CREDENTIALS=" + credPath}); err != nil || c.BusCredentials == "" || c.BusCredentials != credPath {
			t.Errorf("%s: WHIRL_BUS_CREDENTIALS=%q gives busCredentials %q (%v)", name, credPath, c.BusCredentials, err)
		}
		// The file is there: a mount of the Secret's item at that path.
		var vol string
		for _, m := range dig(pod, "containers", 0, "volumeMounts").([]any) {
			if dir := dig(m, "mountPath").(string); strings.HasPrefix(credPath, dir+"/") && dir != "/etc/whirl" {
				vol = dig(m, "name").(string)
				for _, v := range dig(pod, "volumes").([]any) {
					if dig(v, "name") == vol {
						if dig(v, "secret", "secretName") != "whirl-nats" || dig(v, "secret", "items", 0, "key") != "creds" ||
							filepath.Join(dir, dig(v, "secret", "items", 0, "path").(string)) != credPath {
							t.Errorf("%s: volume %v does not put the Secret's creds at %s", name, v, credPath)
						}
					}
				}
			}
		}
		if vol == "" {
			t.Errorf("%s: nothing mounted at %s: %v", name, credPath, dig(pod, "containers", 0, "volumeMounts"))
		}
	}
}
