package forwarder

import (
	"github.com/hwtrack/hwtrack/internal/testenv"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// testCA is a throwaway certificate authority with one server certificate
// for 127.0.0.1.
type testCA struct {
	pool      *x509.CertPool
	serverPEM []byte
	serverKey []byte
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate CA key: %v", err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hwtrack test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create CA certificate: %v", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parse CA certificate: %v", err)
	}

	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate server key: %v", err)
	}
	serverTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTemplate, caCert, &serverKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create server certificate: %v", err)
	}
	serverKeyDER, err := x509.MarshalECPrivateKey(serverKey)
	if err != nil {
		t.Fatalf("encode server key: %v", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return testCA{
		pool:      pool,
		serverPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverDER}),
		serverKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: serverKeyDER}),
	}
}

func TestForwarderOverTLS(t *testing.T) {
	ca := newTestCA(t)
	tlsPort := testenv.FreePort(t)
	// The first listener stays plain for the subscriber; the forwarder
	// uses the second, TLS listener.
	broker := testenv.NewMosquittoWith(t, false, func(dir string) string {
		cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
		if err := os.WriteFile(cert, ca.serverPEM, 0o600); err != nil {
			t.Fatalf("write server certificate: %v", err)
		}
		if err := os.WriteFile(key, ca.serverKey, 0o600); err != nil {
			t.Fatalf("write server key: %v", err)
		}
		return fmt.Sprintf("listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n", tlsPort, cert, key)
	})
	broker.Start()
	tlsURL := fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort)

	tests := []struct {
		name      string
		tlsConfig *tls.Config
		delivered bool
	}{
		{"trusted CA", &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}, true},
		{"unknown CA", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := subscribe(t, broker.URL(), "sub-tls-"+tt.name, true)
			opts := testOptions(t, tlsURL, t.TempDir())
			opts.TLSConfig = tt.tlsConfig
			f, err := New(opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer f.Close()
			msgs := testMessages("tls-"+tt.name, 20, 2)
			if err := f.Enqueue(msgs...); err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
			f.Start(t.Context())

			if !tt.delivered {
				waitFor(t, 5*time.Second, "a failed TLS connect", func() bool {
					return counterValue(t, f, "hwtrack_forward_errors_total", stageConnect) > 0
				})
				if d := f.Depth(); d != len(msgs) {
					t.Errorf("Depth() = %d, want %d kept after a failed handshake", d, len(msgs))
				}
				if got := sub.received(); len(got) != 0 {
					t.Errorf("subscriber received %v through an untrusted connection", got)
				}
				return
			}
			waitFor(t, 10*time.Second, "an empty outbox", func() bool { return f.Depth() == 0 })
			waitFor(t, 5*time.Second, "all messages at the subscriber", func() bool { return len(sub.received()) >= len(msgs) })
			if got, want := sub.received(), messageIDs(msgs); !slices.Equal(got, want) {
				t.Errorf("received %v, want %v", got, want)
			}
		})
	}
}
