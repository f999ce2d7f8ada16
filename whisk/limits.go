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
	if put.Timeout != nil {
		if *put.Timeout < r.Timeout.Min {
			return l, Malformed("duration %d milliseconds below allowed threshold of %d milliseconds", *put.Timeout, r.Timeout.Min)
		}
		if *put.Timeout > r.Timeout.Max {
			return l, Malformed("duration %d milliseconds exceeds allowed threshold of %d milliseconds", *put.Timeout, r.Timeout.Max)
		}
		l.Timeout = *put.Timeout
	}
	if put.Memory != nil {
		if *put.Memory < r.Memory.Min {
			return l, Malformed("memory %d MB below allowed threshold of %d MB", *put.Memory, r.Memory.Min)
		}
		if *put.Memory > r.Memory.Max {
			return l, Malformed("memory %d MB exceeds allowed threshold of %d MB", *put.Memory, r.Memory.Max)
		}
		l.Memory = *put.Memory
	}
	if put.Logs != nil {
		if *put.Logs < r.Logs.Min {
			return l, Malformed("log size %d MB below allowed threshold of %d MB", *put.Logs, r.Logs.Min)
		}
		if *put.Logs > r.Logs.Max {
			return l, Malformed("log size %d MB exceeds allowed threshold of %d MB", *put.Logs, r.Logs.Max)
		}
		l.Logs = *put.Logs
	}
	if put.Concurrency != nil {
		if *put.Concurrency < r.Concurrency.Min {
			return l, Malformed("concurrency %d below allowed threshold of %d", *put.Concurrency, r.Concurrency.Min)
		}
		if *put.Concurrency > r.Concurrency.Max {
			return l, Malformed("concurrency %d exceeds allowed threshold of %d", *put.Concurrency, r.Concurrency.Max)
		}
		l.Concurrency = *put.Concurrency
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
