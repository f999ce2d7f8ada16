// Package auth authenticates OpenWhisk API keys and decides what an
// identity may reach.
//
// A key is "uuid:key" presented with HTTP Basic authentication: the uuid
// names a subject in the store and the key is its secret, stored only as a
// hash (HashKey). Each subject belongs to one namespace. The Authenticator
// keeps a short-lived positive cache so that the hot path costs one SHA-256
// and no store read. Bootstrap creates the namespaces every installation has
// (guest and whisk.system).
//
// The package imports the store contract and the whisk vocabulary; the
// controller and the CLI's admin commands import it.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// The namespaces every installation has and OpenWhisk's well-known keys for
// them. They are public knowledge, so Whirl installs them only where that is
// safe (a loopback listener) unless told otherwise.
const (
	GuestNamespace  = "guest"
	SystemNamespace = "whisk.system"

	GuestKey  = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	SystemKey = "789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)

// Challenge is the WWW-Authenticate header value of a 401, as OpenWhisk
// sends it.
const Challenge = `Basic realm="OpenWhisk secure realm"`

// maxKeyLen bounds the secret we are willing to hash; real keys are 64
// characters.
const maxKeyLen = 512

// Identity is an authenticated caller. Key is the plaintext secret presented
// with this request; the invoker passes "UUID:Key" to actions that ask for
// an API key (__OW_API_KEY). It is never stored.
type Identity struct {
	Namespace string
	Subject   string
	UUID      string
	Key       string
}

// AuthKey returns the "uuid:key" the identity presented.
func (id Identity) AuthKey() string { return id.UUID + ":" + id.Key }

// HashKey returns the form in which a key's secret is stored:
// "sha256:" and the hex SHA-256 of the secret. Secrets are 64 random
// characters, so an unsalted fast hash is adequate.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hashPrefix + hex.EncodeToString(sum[:])
}

const hashPrefix = "sha256:"

// KeyMatches reports, in constant time, whether key hashes to hash.
func KeyMatches(key, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashKey(key)), []byte(hash)) == 1
}

// SplitKey splits "uuid:key" at the first colon.
func SplitKey(s string) (uuid, key string, ok bool) {
	uuid, key, ok = strings.Cut(s, ":")
	if !ok || uuid == "" || key == "" {
		return "", "", false
	}
	return uuid, key, true
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// GenerateKey returns a fresh key in OpenWhisk's shape: a random (version 4)
// UUID and 64 random alphanumerics, both from crypto/rand.
func GenerateKey() (uuid, key string) {
	var u [16]byte
	rand.Read(u[:]) // never fails (crypto/rand aborts the program instead)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	uuid = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]

	k := make([]byte, 0, 64)
	var buf [96]byte
	for len(k) < 64 {
		rand.Read(buf[:])
		for _, b := range buf {
			// 248 = 4*62: reject the top values so every character is
			// equally likely.
			if b < 248 && len(k) < 64 {
				k = append(k, alphanumerics[int(b)%len(alphanumerics)])
			}
		}
	}
	return uuid, string(k)
}

// SubjectStore is what the Authenticator reads: store.Auth satisfies it.
// Subject returns store.ErrNotFound for an unknown uuid.
type SubjectStore interface {
	Subject(ctx context.Context, uuid string) (store.Subject, error)
}

// DefaultCacheTTL is how long a successful authentication is remembered.
// A deleted key stays usable on other controllers for at most this long.
const DefaultCacheTTL = 10 * time.Second

// Authenticator checks Basic credentials against a SubjectStore. It is safe
// for concurrent use.
type Authenticator struct {
	store SubjectStore
	ttl   time.Duration
	now   func() time.Time
	cache sync.Map // uuid -> *cached
}

// cached is a remembered successful authentication.
type cached struct {
	sum       [sha256.Size]byte
	namespace string
	expires   time.Time
}

// Option configures an Authenticator.
type Option func(*Authenticator)

// WithCacheTTL sets how long a successful authentication is remembered; 0
// disables the cache.
func WithCacheTTL(d time.Duration) Option { return func(a *Authenticator) { a.ttl = d } }

// WithClock makes the Authenticator read time from now (tests).
func WithClock(now func() time.Time) Option { return func(a *Authenticator) { a.now = now } }

// NewAuthenticator returns an Authenticator reading subjects from s.
func NewAuthenticator(s SubjectStore, opts ...Option) *Authenticator {
	a := &Authenticator{store: s, ttl: DefaultCacheTTL, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Authenticate returns the identity whose Basic credentials r carries. It
// returns a 401 *whisk.Error with whisk.MsgAuthMissing when r carries none
// and with whisk.MsgAuthInvalid when they are malformed, unknown or wrong
// (the caller adds the Challenge header). A store failure is returned
// wrapped, without a status (500).
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Identity, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Identity{}, &whisk.Error{Status: http.StatusUnauthorized, Message: whisk.MsgAuthMissing}
	}
	uuid, key, ok := r.BasicAuth()
	if !ok || uuid == "" || key == "" || len(key) > maxKeyLen {
		return Identity{}, invalid()
	}
	return a.Check(ctx, uuid, key)
}

// Check authenticates uuid and key as Authenticate does, for credentials
// that do not come in an HTTP header (web actions with require-whisk-auth,
// the CLI's admin commands).
func (a *Authenticator) Check(ctx context.Context, uuid, key string) (Identity, error) {
	sum := sha256.Sum256([]byte(key))
	now := a.now()
	if v, ok := a.cache.Load(uuid); ok {
		c := v.(*cached)
		if now.Before(c.expires) && subtle.ConstantTimeCompare(c.sum[:], sum[:]) == 1 {
			return Identity{Namespace: c.namespace, Subject: c.namespace, UUID: uuid, Key: key}, nil
		}
	}
	s, err := a.store.Subject(ctx, uuid)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, invalid()
	}
	if err != nil {
		return Identity{}, fmt.Errorf("authenticate %s: %w", uuid, err)
	}
	want := hashPrefix + hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(s.KeyHash)) != 1 {
		return Identity{}, invalid()
	}
	if a.ttl > 0 {
		a.cache.Store(uuid, &cached{sum: sum, namespace: s.Namespace, expires: now.Add(a.ttl)})
	}
	return Identity{Namespace: s.Namespace, Subject: s.Namespace, UUID: uuid, Key: key}, nil
}

// Invalidate forgets the cached authentication of uuid; call it when a key
// is deleted or changed.
func (a *Authenticator) Invalidate(uuid string) { a.cache.Delete(uuid) }

func invalid() *whisk.Error {
	return &whisk.Error{Status: http.StatusUnauthorized, Message: whisk.MsgAuthInvalid}
}

// Entitled returns nil when id may access namespace (its own, or "_"), and a
// 403 *whisk.Error naming the namespace otherwise.
func Entitled(id Identity, namespace string) error {
	if namespace == id.Namespace || namespace == whisk.DefaultNamespace {
		return nil
	}
	return whisk.Errorf(http.StatusForbidden, whisk.MsgNotNamespaceAuthorize, namespace)
}
