package controller

import (
	"os"
	"regexp"
	"runtime/debug"
	"time"
)

// buildDate is Whirl's build date (RFC 3339, UTC), set when linking:
//
//	go build -ldflags "-X github.com/whirlfaas/whirl/internal/controller.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/whirl
//
// `make build` sets it. Left empty, BuildDate falls back to the build
// information Go records (see BuildDate).
var buildDate string

// BuildDate is what GET /api/v1 answers as "build": OpenWhisk answers its
// deployment's build date there (whisk.info.date, an ISO 8601 time), and
// clients and the CLI's tests expect a date. The first of:
//   - the link-time buildDate;
//   - the commit time Go stamps into a binary built in a git checkout
//     (vcs.time);
//   - the time in the main module's pseudo-version (go install
//     module@commit: v0.0.0-20240102150405-abcdef123456);
//   - the modification time of the running executable.
func BuildDate() string {
	if buildDate != "" {
		return buildDate
	}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if d := buildInfoDate(bi); d != "" {
			return d
		}
	}
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			return st.ModTime().UTC().Format(time.RFC3339)
		}
	}
	return time.Unix(0, 0).UTC().Format(time.RFC3339)
}

// pseudoTime is the timestamp of a pseudo-version.
var pseudoTime = regexp.MustCompile(`(?:^|[.-])(\d{14})-[0-9a-f]{12}(?:\+incompatible)?$`)

// buildInfoDate returns the build date bi records: vcs.time, else the time
// of a pseudo-version, else "".
func buildInfoDate(bi *debug.BuildInfo) string {
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" && s.Value != "" {
			return s.Value
		}
	}
	if m := pseudoTime.FindStringSubmatch(bi.Main.Version); m != nil {
		if t, err := time.Parse("20060102150405", m[1]); err == nil {
			return t.UTC().Format(time.RFC3339)
		}
	}
	return ""
}

// Version is Whirl's own version, which GET /api/v1 answers as
// "buildno" and under "whirl": the main module's version and, when Go
// recorded it, the commit ("v1.2.0", "(devel) 1a2b3c4d5e6f",
// "(devel) 1a2b3c4d5e6f+dirty").
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return buildInfoVersion(bi)
}

func buildInfoVersion(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" || pseudoTime.MatchString(v) {
		return v
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return v + " " + rev + dirty
}
