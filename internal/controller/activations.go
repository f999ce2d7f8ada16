package controller

import (
	"fmt"
	"net/http"
	"regexp"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

func (c *Controller) activationRoutes() {
	m := c.mux
	base := "/api/v1/namespaces/{ns}/activations"
	m.HandleFunc("GET "+base, c.authed(c.listActivations))
	m.HandleFunc("GET "+base+"/{$}", c.authed(c.listActivations))
	m.HandleFunc("GET "+base+"/{id}", c.authed(c.getActivation))
	m.HandleFunc("GET "+base+"/{id}/result", c.authed(c.getActivationResult))
	m.HandleFunc("GET "+base+"/{id}/logs", c.authed(c.getActivationLogs))
	if c.cfg.Stats != nil {
		m.HandleFunc("GET /api/v1/namespaces/{ns}/stats", c.authed(func(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
			writeJSON(w, http.StatusOK, c.cfg.Stats(ns))
			return nil
		}))
	}
}

var activationNameRE = regexp.MustCompile(`\A[^/]+(/[^/]+)?\z`)

func (c *Controller) listActivations(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	p, err := parseList(r, "activations")
	if err != nil {
		return err
	}
	docs, err := boolParam(r, "docs", false)
	if err != nil {
		return err
	}
	if docs && p.count {
		return whisk.BadRequest(whisk.MsgDocsNotWithCount)
	}
	q := store.ActivationQuery{Limit: p.limit, Skip: p.skip}
	if name := r.URL.Query().Get("name"); name != "" {
		ok := activationNameRE.MatchString(name)
		if ok {
			for _, seg := range splitName(name) {
				if whisk.ValidateName(seg) != nil {
					ok = false
				}
			}
		}
		if !ok {
			return whisk.BadRequest(fmt.Sprintf("Parameter may be a 'simple' name or 'package-name/simple' name: %s", name))
		}
		q.Name = name
	}
	if q.Since, err = int64Param(r, "since", 0); err != nil {
		return err
	}
	if q.Upto, err = int64Param(r, "upto", 0); err != nil {
		return err
	}
	acts := c.cfg.Store.Activations()
	if p.count {
		n, err := acts.Count(r.Context(), ns, q)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]int{"activations": n})
		return nil
	}
	list, err := acts.List(r.Context(), ns, q)
	if err != nil {
		return err
	}
	if docs {
		if list == nil {
			list = []*whisk.Activation{}
		}
		writeJSON(w, http.StatusOK, list)
		return nil
	}
	rows := make([]whisk.ActivationSummary, 0, len(list))
	for _, a := range list {
		rows = append(rows, a.Summary())
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}

func splitName(name string) []string {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return []string{name[:i], name[i+1:]}
		}
	}
	return []string{name}
}

func (c *Controller) activation(r *http.Request, ns string) (*whisk.Activation, error) {
	aid := r.PathValue("id")
	if !whisk.ValidActivationID(aid) {
		return nil, whisk.BadRequest(whisk.MsgActivationIDInvalid)
	}
	return c.cfg.Store.Activations().Get(r.Context(), ns, aid)
}

func (c *Controller) getActivation(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	a, err := c.activation(r, ns)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (c *Controller) getActivationResult(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	a, err := c.activation(r, ns)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.ResultBody())
	return nil
}

func (c *Controller) getActivationLogs(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	a, err := c.activation(r, ns)
	if err != nil {
		return err
	}
	logs := a.Logs
	if logs == nil {
		logs = []string{}
	}
	writeJSON(w, http.StatusOK, map[string][]string{"logs": logs})
	return nil
}
