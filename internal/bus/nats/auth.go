package nats

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Credentials, by the way they reach the NATS server:
//
//   - user and password, or a token, in the URL (nats://user:pass@host:4222,
//     nats://token@host:4222): nats.go sends them itself;
//   - a credentials file, WithCredentialsFile: a NATS user credentials file
//     (a JWT and an nkey seed, as nsc writes it), a bare nkey seed (SU…), or
//     else a token (the file's first non-empty line).
//
// Neither a URL's user information nor a file's contents appear in the
// bus's errors: URLs are shown by Redact.

// ErrCredentials is returned by New when the server refused the
// connection's credentials (or their absence).
var ErrCredentials = errors.New("nats bus: the server refused the credentials")

// WithCredentialsFile authenticates with the credentials in the file at
// path: a NATS user credentials file (.creds: a user JWT and its nkey
// seed), an nkey seed file (a seed starting with SU), or a file holding a
// token on its first non-empty line. New reads the file; a file that
// cannot be read or holds nothing fails New, without its contents in the
// error.
func WithCredentialsFile(path string) Option {
	return func(o *options) { o.credsFile = path }
}

// credentialsOption reads the credentials file and returns the connection
// option that presents them, and what kind of credentials they are.
func credentialsOption(path string) (natsgo.Option, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("nats bus: credentials: %w", err)
	}
	defer clear(b)
	switch {
	case bytes.Contains(b, []byte("BEGIN NATS USER JWT")):
		return natsgo.UserCredentials(path), "the user credentials in " + path, nil
	case isSeed(b):
		opt, err := natsgo.NkeyOptionFromSeed(path)
		if err != nil {
			return nil, "", fmt.Errorf("nats bus: credentials: nkey seed in %s is not valid", path)
		}
		return opt, "the nkey seed in " + path, nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if tok := strings.TrimSpace(line); tok != "" {
			return natsgo.Token(tok), "the token in " + path, nil
		}
	}
	return nil, "", fmt.Errorf("nats bus: credentials: %s is empty", path)
}

// isSeed reports whether b holds an nkey seed (a user's: SU…), bare or
// between the decorations nsc writes.
func isSeed(b []byte) bool {
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return false
	}
	defer kp.Wipe()
	_, err = kp.Seed()
	return err == nil
}

// Redact returns a NATS URL, or a comma-separated list of them, with the
// user information (user and password, or token) of each replaced by
// "REDACTED", for errors and logs. Other text is returned unchanged.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		at := strings.LastIndex(p, "@")
		if at < 0 {
			continue
		}
		start := strings.Index(p, "://")
		if start < 0 || start > at {
			start = 0
		} else {
			start += len("://")
		}
		parts[i] = p[:start] + "REDACTED" + p[at:]
	}
	return strings.Join(parts, ",")
}

// hasUserInfo reports whether any of the URLs carries user information.
func hasUserInfo(urls string) bool { return Redact(urls) != urls }

// connectError explains a failed connection, with the URL redacted; a
// refusal of the credentials says which were presented and how to give
// others, and wraps ErrCredentials.
func connectError(urls, presented string, err error) error {
	if errors.Is(err, natsgo.ErrAuthorization) || errors.Is(err, natsgo.ErrAuthExpired) {
		if presented == "" {
			presented = "none"
		}
		return fmt.Errorf("connect to NATS at %s: %w (%w; credentials presented: %s): give them as user:password@ or token@ in the bus URL, or in a file named by busCredentials",
			Redact(urls), ErrCredentials, err, presented)
	}
	return fmt.Errorf("connect to NATS at %s: %w", Redact(urls), err)
}
