package whisk

// Range is a configured limit: the smallest and largest value an action may
// set and the value it gets when it sets none.
type Range struct {
	Min int `json:"min"`
	Max int `json:"max"`
	Std int `json:"std"`
}

// ActionLimitRanges are the ranges of each per-action limit.
type ActionLimitRanges struct {
	Timeout     Range // milliseconds
	Memory      Range // megabytes
	Logs        Range // megabytes
	Concurrency Range
}

// DefaultActionLimitRanges are OpenWhisk's defaults (docs/reference.md).
var DefaultActionLimitRanges = ActionLimitRanges{
	Timeout:     Range{Min: 100, Max: 300000, Std: 60000},
	Memory:      Range{Min: 128, Max: 512, Std: 256},
	Logs:        Range{Min: 0, Max: 10, Std: 10},
	Concurrency: Range{Min: 1, Max: 1, Std: 1},
}

// Default returns the limits of an action that sets none.
func (r ActionLimitRanges) Default() Limits {
	return Limits{Timeout: r.Timeout.Std, Memory: r.Memory.Std, Logs: r.Logs.Std, Concurrency: r.Concurrency.Std}
}

// Apply returns base with the fields set in put, checked against r with
// OpenWhisk's messages. maxInstances bounds limits.instances (the
// namespace's concurrent invocations).
func (r ActionLimitRanges) Apply(base Limits, put *LimitsPut, maxInstances int) (Limits, error) {
	if put == nil {
		return base, nil
	}
	l := base
	for _, f := range []struct {
		put        *int
		dst        *int
		r          Range
		what, unit string
	}{
		{put.Timeout, &l.Timeout, r.Timeout, "duration", " milliseconds"},
		{put.Memory, &l.Memory, r.Memory, "memory", " MB"},
		{put.Logs, &l.Logs, r.Logs, "log size", " MB"},
		{put.Concurrency, &l.Concurrency, r.Concurrency, "concurrency", ""},
	} {
		if f.put == nil {
			continue
		}
		if v := *f.put; v < f.r.Min {
			return l, Malformed("%s %d%s below allowed threshold of %d%s", f.what, v, f.unit, f.r.Min, f.unit)
		} else if v > f.r.Max {
			return l, Malformed("%s %d%s exceeds allowed threshold of %d%s", f.what, v, f.unit, f.r.Max, f.unit)
		}
		*f.dst = *f.put
	}
	if put.Instances != nil {
		if *put.Instances < 1 {
			return l, Malformed("instances %d below allowed threshold of 1", *put.Instances)
		}
		if maxInstances > 0 && *put.Instances > maxInstances {
			return l, Malformed("Max action instance concurrency must not exceed your namespace concurrency of %d.", maxInstances)
		}
		n := *put.Instances
		l.Instances = &n
	}
	return l, nil
}
