package nats

import (
	natsgo "github.com/nats-io/nats.go"
)

// TLS is how the bus connects to a NATS server that requires TLS. Any
// empty field is left to the defaults: no CA file trusts the system's
// roots; no certificate presents none (the server may require one:
// `verify: true` in its tls block).
type TLS struct {
	// CA is a PEM file of the certificate authorities that sign the
	// server's certificate.
	CA string
	// Cert and Key are PEM files of the client certificate and its key,
	// for servers that verify clients.
	Cert, Key string
}

// WithTLS connects with TLS: the server's certificate must be signed by
// t.CA (or a system root) and name the URL's host. A URL with the scheme
// tls:// asks for TLS too, with the system's roots.
func WithTLS(t TLS) Option {
	return func(o *options) {
		opts := []natsgo.Option{natsgo.Secure()}
		if t.CA != "" {
			opts = append(opts, natsgo.RootCAs(t.CA))
		}
		if t.Cert != "" || t.Key != "" {
			opts = append(opts, natsgo.ClientCert(t.Cert, t.Key))
		}
		o.natsOpts = append(o.natsOpts, opts...)
	}
}
