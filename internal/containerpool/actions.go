package containerpool

// ActionContainers are the containers the pool holds for one action
// version (one Request.Key).
type ActionContainers struct {
	Key  string `json:"key"`
	Warm int    `json:"warm"` // idle, ready to reuse
	Busy int    `json:"busy"` // leased, or being created or initialised
}

// Actions returns the containers held per action version whose key
// keep accepts (a nil keep accepts all), in no particular order.
func (p *Pool) Actions(keep func(key string) bool) []ActionContainers {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ActionContainers
	for k, ks := range p.keys {
		if ks.n == 0 || keep != nil && !keep(k) {
			continue
		}
		out = append(out, ActionContainers{Key: k, Warm: len(ks.idle), Busy: ks.n - len(ks.idle)})
	}
	return out
}
