package kubernetes

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// rotating holds the service account's token and CA, re-read whenever
// their files change: projected service-account tokens are rotated by the
// kubelet (about hourly) and expire, and the cluster's CA can be rotated.
type rotating struct {
	tokenFile, caFile string

	mu      sync.Mutex
	tokMod  time.Time
	caMod   time.Time
	cur     credentials
	checked time.Time
}

// credentials are one reading of the files.
type credentials struct {
	token string
	pool  *x509.CertPool
}

// recheck is how often the files' modification times are looked at.
var recheck = time.Second

// current returns the credentials, re-reading a file whose modification
// time changed.
func (r *rotating) current() (credentials, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur.pool != nil && time.Since(r.checked) < recheck {
		return r.cur, nil
	}
	r.checked = time.Now()
	if fi, err := os.Stat(r.tokenFile); err != nil {
		return r.cur, fmt.Errorf("kubernetes: service account token: %w", err)
	} else if !fi.ModTime().Equal(r.tokMod) || r.cur.token == "" {
		b, err := os.ReadFile(r.tokenFile)
		if err != nil {
			return r.cur, fmt.Errorf("kubernetes: service account token: %w", err)
		}
		r.cur.token, r.tokMod = strings.TrimSpace(string(b)), fi.ModTime()
	}
	if fi, err := os.Stat(r.caFile); err != nil {
		return r.cur, fmt.Errorf("kubernetes: service account CA: %w", err)
	} else if !fi.ModTime().Equal(r.caMod) || r.cur.pool == nil {
		b, err := os.ReadFile(r.caFile)
		if err != nil {
			return r.cur, fmt.Errorf("kubernetes: service account CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			if r.cur.pool != nil {
				return r.cur, nil // mid-write: keep the last good one
			}
			return r.cur, errors.New("kubernetes: service account CA: no certificate found")
		}
		r.cur.pool, r.caMod = pool, fi.ModTime()
	}
	return r.cur, nil
}

// tlsConfig verifies the API server against the current CA at each
// handshake (a rotated CA is used without restarting the invoker).
func (r *rotating) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done by VerifyConnection, with the CA of the
		// moment.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			c, err := r.current()
			if err != nil {
				return err
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("kubernetes: the API server presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: c.pool, Intermediates: inter, DNSName: cs.ServerName})
			return err
		},
	}
}
