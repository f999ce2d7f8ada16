package chart_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/whirlfaas/whirl/internal/metrics"
)

// exported returns the names of the metrics Whirl exports.
func exported(t *testing.T) map[string]bool {
	m := metrics.New()
	m.ActivationCompleted("ns", "a", "success", metrics.StartWarm, time.Millisecond)
	m.AsyncActivationCompleted("ns", "a", "success", metrics.StartWarm, time.Millisecond)
	m.Accepted("ns", true)
	if err := m.RegisterContainers(func() map[string]int { return map[string]int{"warm": 1} }); err != nil {
		t.Fatal(err)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	return names
}

// TestMonitoring: with monitoring.enabled the chart installs the Grafana
// dashboard, whose every query names metrics Whirl exports, and the
// Prometheus scrape jobs of the release's pods; without it, neither.
func TestMonitoring(t *testing.T) {
	set, files := load(t)
	names := exported(t)
	metricRE := regexp.MustCompile(`whirl_[a-z_]+`)
	for _, enabled := range []bool{false, true} {
		data := values(t, map[string]any{"apiHost": "https://whirl.example.com", "monitoring": map[string]any{"enabled": enabled}})
		objs, err := render(t, set, files, data)
		if err != nil {
			t.Fatal(err)
		}
		dash := find(objs, "ConfigMap", "demo-whirl-grafana-dashboard")
		scrape := find(objs, "ConfigMap", "demo-whirl-prometheus-scrape")
		if !enabled {
			if dash != nil || scrape != nil {
				t.Fatal("monitoring disabled, but its ConfigMaps are rendered")
			}
			continue
		}
		if dash == nil || scrape == nil {
			t.Fatal("monitoring enabled, but its ConfigMaps are missing")
		}
		if dig(dash, "metadata", "labels", "grafana_dashboard") != "1" {
			t.Errorf("dashboard labels %v", dig(dash, "metadata", "labels"))
		}
		var board struct {
			Panels []struct {
				Title   string
				Targets []struct{ Expr string }
			}
		}
		if err := json.Unmarshal([]byte(dig(dash, "data", "whirl.json").(string)), &board); err != nil || len(board.Panels) < 6 {
			t.Fatalf("dashboard JSON: %v (%d panels)", err, len(board.Panels))
		}
		for _, p := range board.Panels {
			for _, tg := range p.Targets {
				for _, n := range metricRE.FindAllString(tg.Expr, -1) {
					base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
					if !names[base] {
						t.Errorf("panel %q queries %s, which Whirl does not export", p.Title, n)
					}
				}
			}
		}
		var sc struct {
			ScrapeConfigs []struct {
				JobName        string `json:"job_name"`
				RelabelConfigs []struct {
					Regex string
				} `json:"relabel_configs"`
			} `json:"scrape_configs"`
		}
		if err := yaml.Unmarshal([]byte(dig(scrape, "data", "scrape.yaml").(string)), &sc); err != nil || len(sc.ScrapeConfigs) != 1 {
			t.Fatalf("scrape.yaml: %v %+v", err, sc)
		}
		if j := sc.ScrapeConfigs[0]; j.JobName != "demo-whirl" || len(j.RelabelConfigs) < 2 || j.RelabelConfigs[0].Regex != "demo" {
			t.Errorf("scrape job %+v", j)
		}
	}
}
