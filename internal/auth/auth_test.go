package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// fakeStore is an in-memory store.Auth that counts reads.
type fakeStore struct {
	mu    sync.Mutex
	subs  map[string]store.Subject
	reads int
	fail  error
}

var _ BootstrapStore = (*fakeStore)(nil)

func newFakeStore() *fakeStore { return &fakeStore{subs: map[string]store.Subject{}} }

func (f *fakeStore) Subject(_ context.Context, uuid string) (store.Subject, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.fail != nil {
		return store.Subject{}, f.fail
	}
	s, ok := f.subs[uuid]
	if !ok {
		return store.Subject{}, store.ErrNotFound
	}
	return s, nil
}

func (f *fakeStore) Subjects(_ context.Context, ns string) ([]store.Subject, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Subject
	for _, s := range f.subs {
		if ns == "" || s.Namespace == ns {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out, nil
}

func (f *fakeStore) PutSubject(_ context.Context, s store.Subject) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[s.UUID] = s
	return nil
}

func (f *fakeStore) DeleteSubject(_ context.Context, uuid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[uuid]; !ok {
		return store.ErrNotFound
	}
	delete(f.subs, uuid)
	return nil
}

func (f *fakeStore) readCount() int { f.mu.Lock(); defer f.mu.Unlock(); return f.reads }

func request(user, pass string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces", nil)
	if user != "" || pass != "" {
		r.SetBasicAuth(user, pass)
	}
	return r
}

func wantError(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var we *whisk.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T), want *whisk.Error", err, err)
	}
	if we.Status != status || we.Message != msg {
		t.Fatalf("got %d %q, want %d %q", we.Status, we.Message, status, msg)
	}
}

func TestGenerateKeyShape(t *testing.T) {
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	keyRE := regexp.MustCompile(`^[A-Za-z0-9]{64}$`)
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		u, k := GenerateKey()
		if !uuidRE.MatchString(u) {
			t.Fatalf("uuid %q is not a v4 UUID", u)
		}
		if !keyRE.MatchString(k) {
			t.Fatalf("key %q is not 64 alphanumerics", k)
		}
		if seen[u] || seen[k] {
			t.Fatal("GenerateKey repeated itself")
		}
		seen[u], seen[k] = true, true
	}
}

func TestHashKey(t *testing.T) {
	h := HashKey("secret")
	if h != "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" {
		t.Fatalf("HashKey = %s", h)
	}
	if !KeyMatches("secret", h) || KeyMatches("Secret", h) || KeyMatches("secret", "") {
		t.Fatal("KeyMatches wrong")
	}
}

func TestWellKnownKeys(t *testing.T) {
	for _, k := range []string{GuestKey, SystemKey} {
		u, s, ok := SplitKey(k)
		if !ok || len(u) != 36 || len(s) != 64 {
			t.Fatalf("bad well-known key %q", k)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	fs := newFakeStore()
	uuid, key := GenerateKey()
	fs.subs[uuid] = store.Subject{UUID: uuid, KeyHash: HashKey(key), Namespace: "alice"}
	a := NewAuthenticator(fs)
	ctx := context.Background()

	id, err := a.Authenticate(ctx, request(uuid, key))
	if err != nil {
		t.Fatal(err)
	}
	if id != (Identity{Namespace: "alice", Subject: "alice", UUID: uuid, Key: key}) {
		t.Fatalf("identity %+v", id)
	}
	if id.AuthKey() != uuid+":"+key {
		t.Fatalf("AuthKey %q", id.AuthKey())
	}

	_, err = a.Authenticate(ctx, request("", ""))
	wantError(t, err, 401, whisk.MsgAuthMissing)

	r := request("", "")
	r.Header.Set("Authorization", "Bearer abc")
	_, err = a.Authenticate(ctx, r)
	wantError(t, err, 401, whisk.MsgAuthInvalid)

	r.Header.Set("Authorization", "Basic !!!notbase64")
	_, err = a.Authenticate(ctx, r)
	wantError(t, err, 401, whisk.MsgAuthInvalid)

	_, err = a.Authenticate(ctx, request(uuid, key+"x"))
	wantError(t, err, 401, whisk.MsgAuthInvalid)

	_, err = a.Authenticate(ctx, request("00000000-0000-4000-8000-000000000000", key))
	wantError(t, err, 401, whisk.MsgAuthInvalid)

	_, err = a.Authenticate(ctx, request(uuid, ""))
	wantError(t, err, 401, whisk.MsgAuthInvalid)

	fs.fail = errors.New("disk on fire")
	a.Invalidate(uuid)
	_, err = a.Authenticate(ctx, request(uuid, key))
	if err == nil || whisk.StatusOf(err) != 500 || !errors.Is(err, fs.fail) {
		t.Fatalf("store failure gave %v", err)
	}
}

func TestAuthenticateCache(t *testing.T) {
	fs := newFakeStore()
	uuid, key := GenerateKey()
	fs.subs[uuid] = store.Subject{UUID: uuid, KeyHash: HashKey(key), Namespace: "alice"}
	now := time.Unix(1000, 0)
	a := NewAuthenticator(fs, WithCacheTTL(10*time.Second), WithClock(func() time.Time { return now }))
	ctx := context.Background()

	for i := 0; i < 5; i++ {
		if _, err := a.Authenticate(ctx, request(uuid, key)); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.readCount(); n != 1 {
		t.Fatalf("%d store reads for 5 authentications, want 1", n)
	}
	// A wrong key is never answered from the cache.
	if _, err := a.Authenticate(ctx, request(uuid, "wrong")); err == nil {
		t.Fatal("wrong key accepted")
	}
	// Deleting the key and invalidating takes effect at once.
	delete(fs.subs, uuid)
	a.Invalidate(uuid)
	_, err := a.Authenticate(ctx, request(uuid, key))
	wantError(t, err, 401, whisk.MsgAuthInvalid)

	// Without Invalidate, the cache expires after the TTL.
	fs.subs[uuid] = store.Subject{UUID: uuid, KeyHash: HashKey(key), Namespace: "alice"}
	if _, err := a.Authenticate(ctx, request(uuid, key)); err != nil {
		t.Fatal(err)
	}
	delete(fs.subs, uuid)
	now = now.Add(9 * time.Second)
	if _, err := a.Authenticate(ctx, request(uuid, key)); err != nil {
		t.Fatalf("within TTL: %v", err)
	}
	now = now.Add(2 * time.Second)
	_, err = a.Authenticate(ctx, request(uuid, key))
	wantError(t, err, 401, whisk.MsgAuthInvalid)
}

func TestEntitled(t *testing.T) {
	id := Identity{Namespace: "alice", UUID: "u", Key: "k"}
	if err := Entitled(id, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := Entitled(id, "_"); err != nil {
		t.Fatal(err)
	}
	wantError(t, Entitled(id, "bob"), 403, "The supplied authentication is not authorized to access 'bob'.")
}

func TestBootstrapWellKnown(t *testing.T) {
	fs := newFakeStore()
	ctx := context.Background()
	got, err := Bootstrap(ctx, fs, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].AuthKey() != GuestKey || got[0].Namespace != "guest" || !got[0].New ||
		got[1].AuthKey() != SystemKey || got[1].Namespace != "whisk.system" || !got[1].New {
		t.Fatalf("Bootstrap returned %+v", got)
	}
	a := NewAuthenticator(fs)
	u, k, _ := SplitKey(GuestKey)
	id, err := a.Authenticate(ctx, request(u, k))
	if err != nil || id.Namespace != "guest" {
		t.Fatalf("guest key: %+v %v", id, err)
	}
	// Idempotent: a second run creates nothing and keeps the keys.
	before := len(fs.subs)
	got, err = Bootstrap(ctx, fs, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs.subs) != before || got[0].New || got[1].New {
		t.Fatalf("second run changed things: %d subjects, %+v", len(fs.subs), got)
	}
}

func TestBootstrapGeneratedRemovesWellKnown(t *testing.T) {
	fs := newFakeStore()
	ctx := context.Background()
	if _, err := Bootstrap(ctx, fs, true); err != nil {
		t.Fatal(err)
	}
	got, err := Bootstrap(ctx, fs, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("want two fresh keys, got %+v", got)
	}
	for _, w := range []string{GuestKey, SystemKey} {
		u, _, _ := SplitKey(w)
		if _, ok := fs.subs[u]; ok {
			t.Fatalf("well-known key %s kept on a non-loopback start", u)
		}
	}
	a := NewAuthenticator(fs)
	for _, p := range got {
		id, err := a.Authenticate(ctx, request(p.UUID, p.Key))
		if err != nil || id.Namespace != p.Namespace {
			t.Fatalf("generated key for %s: %+v %v", p.Namespace, id, err)
		}
		if p.Key == "" || KeyMatches(p.Key, fs.subs[p.UUID].KeyHash) == false {
			t.Fatalf("stored hash does not match %+v", p)
		}
		if fs.subs[p.UUID].KeyHash == p.Key {
			t.Fatal("key stored in plaintext")
		}
	}
	// Restart: no rotation, nothing printed.
	again, err := Bootstrap(ctx, fs, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 || len(fs.subs) != 2 {
		t.Fatalf("restart rotated keys: %+v, %d subjects", again, len(fs.subs))
	}
}

func BenchmarkAuthenticateCached(b *testing.B) {
	fs := newFakeStore()
	uuid, key := GenerateKey()
	fs.subs[uuid] = store.Subject{UUID: uuid, KeyHash: HashKey(key), Namespace: "alice"}
	a := NewAuthenticator(fs)
	r := request(uuid, key)
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Authenticate(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := fs.readCount(); n != 1 {
		b.Fatalf("%d store reads, want 1", n)
	}
}
