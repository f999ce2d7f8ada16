package config

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
	"time"
)

// parseExact parses a decimal number written as an integer, a decimal
// fraction or in scientific notation ("50000000", "5e7", "5e+07", "5.0E7",
// "0.5") into an exact rational, so that no value passes through a float.
func parseExact(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "/xXoObB_") {
		return nil, false
	}
	c := s[0]
	if c == '+' {
		s = s[1:]
		if s == "" {
			return nil, false
		}
		c = s[0]
	}
	if !(c >= '0' && c <= '9') && c != '.' && c != '-' {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// toInt64 returns r when it is a whole number that fits in an int64.
func toInt64(r *big.Rat) (int64, bool) {
	if !r.IsInt() {
		return 0, false
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}

// parseInt parses a whole number in any of parseExact's notations.
func parseInt(s string) (int64, error) {
	r, ok := parseExact(s)
	if !ok {
		return 0, fmt.Errorf("cannot parse %q as an integer", s)
	}
	n, ok := toInt64(r)
	if !ok {
		return 0, fmt.Errorf("cannot parse %q as an integer: not a whole number in range", s)
	}
	return n, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("cannot parse %q as a boolean", s)
}

var numberUnit = regexp.MustCompile(`^\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµ]*)\s*$`)

// sizeUnits are the byte multipliers of size suffixes. As in OpenWhisk's
// ByteSize, K, M and G are powers of 1024.
var sizeUnits = map[string]int64{
	"b": 1, "byte": 1, "bytes": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "ki": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "mi": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "gi": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40, "ti": 1 << 40,
}

// parseBytes parses a size ("256m", "1g", "256 MB", "1048576") into bytes.
// A number without a unit is a count of unit bytes.
func parseBytes(s string, unit int64) (int64, error) {
	bad := fmt.Errorf("cannot parse %q as a size", s)
	m := numberUnit.FindStringSubmatch(s)
	if m == nil {
		return 0, bad
	}
	r, ok := parseExact(m[1])
	if !ok {
		return 0, bad
	}
	mul := unit
	if m[2] != "" {
		if mul, ok = sizeUnits[strings.ToLower(m[2])]; !ok {
			return 0, bad
		}
	}
	r.Mul(r, new(big.Rat).SetInt64(mul))
	n, ok := toInt64(r)
	if !ok {
		return 0, fmt.Errorf("cannot parse %q as a size: not a whole number of bytes in range", s)
	}
	if n < 0 {
		return 0, fmt.Errorf("cannot parse %q as a size: negative", s)
	}
	return n, nil
}

// parseMB parses a size into whole megabytes; a plain number is megabytes.
func parseMB(s string) (int64, error) {
	b, err := parseBytes(s, 1<<20)
	if err != nil {
		return 0, err
	}
	if b%(1<<20) != 0 {
		return 0, fmt.Errorf("cannot parse %q as a size: not a whole number of megabytes", s)
	}
	return b >> 20, nil
}

// durationUnits are the multipliers of duration suffixes, in the short Go
// forms and the long forms of OpenWhisk's configuration ("2 minutes").
var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "nano": time.Nanosecond, "nanos": time.Nanosecond, "nanosecond": time.Nanosecond, "nanoseconds": time.Nanosecond,
	"us": time.Microsecond, "µs": time.Microsecond, "micro": time.Microsecond, "micros": time.Microsecond, "microsecond": time.Microsecond, "microseconds": time.Microsecond,
	"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// parseDuration parses "100ms", "5m", "2 minutes", "1 d", Go's "1m30s", or a
// plain number of milliseconds.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("cannot parse %q as a duration", s)
	m := numberUnit.FindStringSubmatch(s)
	if m == nil {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, bad
		}
		if d < 0 {
			return 0, fmt.Errorf("cannot parse %q as a duration: negative", s)
		}
		return d, nil
	}
	r, ok := parseExact(m[1])
	if !ok {
		return 0, bad
	}
	mul := time.Millisecond
	if m[2] != "" {
		if mul, ok = durationUnits[strings.ToLower(m[2])]; !ok {
			return 0, bad
		}
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(mul)))
	// Round to whole nanoseconds.
	f, _ := r.Float64()
	if math.Abs(f) > math.MaxInt64 {
		return 0, fmt.Errorf("cannot parse %q as a duration: out of range", s)
	}
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if q.Sign() < 0 {
		return 0, fmt.Errorf("cannot parse %q as a duration: negative", s)
	}
	return time.Duration(q.Int64()), nil
}
