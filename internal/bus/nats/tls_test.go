package nats_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/bus/nats"
)

// writePEM writes one PEM block to dir/name and returns the path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testPKI makes a CA and, signed by it, a server certificate for
// 127.0.0.1 and a client certificate; it returns the files' paths.
func testPKI(t *testing.T) (ca, srvCert, srvKey, cliCert, cliKey string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "whirl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+".key", "EC PRIVATE KEY", kder)
	}
	srvCert, srvKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	return writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER), srvCert, srvKey, cliCert, cliKey
}

// startTLSServer starts a nats-server of its own that requires TLS and a
// client certificate signed by ca, and returns its URL.
func startTLSServer(t *testing.T, ca, cert, key string) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	cfg := fmt.Sprintf("listen: 127.0.0.1:-1\njetstream { store_dir: %q }\ntls { cert_file: %q\nkey_file: %q\nca_file: %q\nverify: true }\n",
		filepath.Join(dir, "js"), cert, key, ca)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(natsServer(t), "-c", conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	listening := regexp.MustCompile(`Listening for client connections on (127\.0\.0\.1:\d+)`)
	url := ""
	lines := bufio.NewScanner(stderr)
	var log []string
	for lines.Scan() {
		log = append(log, lines.Text())
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			url = "nats://" + m[1]
		}
		if strings.Contains(lines.Text(), "Server is ready") {
			break
		}
	}
	if url == "" {
		t.Fatalf("nats-server did not start:\n%s", strings.Join(log, "\n"))
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return url
}

// TestTLS: a server that requires TLS with client certificates refuses a
// bus without them (or without trusting its CA), and carries a round trip
// for a bus given WithTLS.
func TestTLS(t *testing.T) {
	ca, srvCert, srvKey, cliCert, cliKey := testPKI(t)
	url := startTLSServer(t, ca, srvCert, srvKey)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, opts := range map[string][]nats.Option{
		"no TLS":         nil,
		"no client cert": {nats.WithTLS(nats.TLS{CA: ca})},
		"unknown CA":     {nats.WithTLS(nats.TLS{Cert: cliCert, Key: cliKey})},
	} {
		if b, err := nats.New(ctx, url, append(opts, nats.WithPrefix(uniquePrefix()))...); err == nil {
			b.Close()
			t.Errorf("%s: connected to a server that requires TLS with a client certificate", name)
		}
	}
	// The server is the test's own: its streams go with it.
	b, err := nats.New(ctx, url, nats.WithPrefix(uniquePrefix()), nats.WithTLS(nats.TLS{CA: ca, Cert: cliCert, Key: cliKey}))
	if err != nil {
		t.Fatalf("New with TLS: %v", err)
	}
	defer b.Close()
	got := newInbox()
	if err := b.Subscribe(ctx, "invoker0", got.handler); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "invoker0", &bus.Invocation{ActivationID: "over-tls"}); err != nil {
		t.Fatal(err)
	}
	if id := got.next(t, "the invocation over TLS").ActivationID; id != "over-tls" {
		t.Fatalf("got %s", id)
	}
}
