package config

import "time"

// Activations is the retention of activation records (activations.*):
// a background pruner in the store deletes records older than Retention
// and, with MaxPerNamespace, a namespace's records beyond its newest that
// many. Their logs and results are part of the record and go with it.
type Activations struct {
	// Retention is how long a record is kept after it started
	// (activations.retention); 0 keeps records forever. The default, a
	// week, keeps the history a developer looks back on (the last
	// deploys and their failures) while bounding a busy `whirl up`'s
	// disk: 1000 activations an hour of 2 KB records are about 350 MB.
	Retention time.Duration
	// MaxPerNamespace, when positive, keeps only the newest that many
	// records of each namespace (activations.maxPerNamespace).
	MaxPerNamespace int
	// PruneInterval is the time between two runs of the pruner
	// (activations.pruneInterval).
	PruneInterval time.Duration
}

// DefaultRetention is activations.retention's default: a week.
const DefaultRetention = 7 * 24 * time.Hour

func defaultActivations() Activations {
	return Activations{Retention: DefaultRetention, PruneInterval: time.Minute}
}

// retentionKnobs are the keys of Activations.
var retentionKnobs = []knob{
	durationKnob("activations.retention", func(c *Config) *time.Duration { return &c.Activations.Retention }),
	intKnob("activations.maxPerNamespace", func(c *Config) *int { return &c.Activations.MaxPerNamespace }),
	durationKnob("activations.pruneInterval", func(c *Config) *time.Duration { return &c.Activations.PruneInterval }),
}

// validateRetention checks Activations.
func (c *Config) validateRetention(bad func(key, format string, args ...any)) {
	a := c.Activations
	if a.Retention != 0 && a.Retention < time.Minute {
		bad("activations.retention", "must be at least a minute, or 0 to keep records forever")
	}
	if a.MaxPerNamespace < 0 {
		bad("activations.maxPerNamespace", "must be positive, or 0 for no bound")
	}
	if a.PruneInterval < time.Second {
		bad("activations.pruneInterval", "must be at least a second")
	}
}
