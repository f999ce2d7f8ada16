package controller

import (
	"runtime/debug"
	"testing"
)

// TestBuildInfoDate: the build date comes from vcs.time, else from the
// main module's pseudo-version; the version carries the commit.
func TestBuildInfoDate(t *testing.T) {
	for _, tc := range []struct {
		bi            debug.BuildInfo
		date, version string
	}{
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}},
			"2026-01-02T03:04:05Z", "(devel) 0123456789ab+dirty"},
		{debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20250607080910-abcdefabcdef"}},
			"2025-06-07T08:09:10Z", "v0.0.0-20250607080910-abcdefabcdef"},
		{debug.BuildInfo{Main: debug.Module{Version: "v1.2.1-0.20250607080910-abcdefabcdef"}},
			"2025-06-07T08:09:10Z", "v1.2.1-0.20250607080910-abcdefabcdef"},
		{debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, "", "v1.2.0"},
	} {
		if got := buildInfoDate(&tc.bi); got != tc.date {
			t.Errorf("%s: date %q, want %q", tc.bi.Main.Version, got, tc.date)
		}
		if got := buildInfoVersion(&tc.bi); got != tc.version {
			t.Errorf("%s: version %q, want %q", tc.bi.Main.Version, got, tc.version)
		}
	}
	buildDate = "2030-01-01T00:00:00Z"
	defer func() { buildDate = "" }()
	if BuildDate() != buildDate {
		t.Errorf("the link-time date is not used: %s", BuildDate())
	}
}
