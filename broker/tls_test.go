package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hwtrack test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue signs a certificate for commonName; server certificates are valid
// for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, commonName string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func connectTLS(t *testing.T, addr string, ca *testCA, clientCert *tls.Certificate, clientID, user, pass string) error {
	t.Helper()
	tlsCfg := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
	if clientCert != nil {
		tlsCfg.Certificates = []tls.Certificate{*clientCert}
	}
	opts := paho.NewClientOptions().
		AddBroker("ssl://" + addr).
		SetTLSConfig(tlsCfg).
		SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(3 * time.Second)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return errTimeout
	}
	if tok.Error() != nil {
		return tok.Error()
	}
	c.Disconnect(50)
	return nil
}

var errTimeout = errors.New("connect timed out")

func startTLSBroker(t *testing.T, ca *testCA, requireClientCert bool) *Broker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "hwtrack", true)}}
	if requireClientCert {
		cfg.ClientCAs = ca.pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return startBrokerOpts(t, &recorder{}, Options{TLSConfig: cfg, TLSListener: ln}, nil)
}

func TestTLSClientCertificates(t *testing.T) {
	ca := newTestCA(t)
	b := startTLSBroker(t, ca, true)
	certT1 := ca.issue(t, "T1", false)
	certT2 := ca.issue(t, "T2", false)
	otherCA := newTestCA(t)
	foreignT1 := otherCA.issue(t, "T1", false)

	cases := []struct {
		name string
		cert *tls.Certificate
		user string
		pass string
		ok   bool
	}{
		{"matching common name", &certT1, "T1", "password-one-0123456789", true},
		{"certificate of another terminal", &certT2, "T1", "password-one-0123456789", false},
		{"matching certificate, wrong password", &certT1, "T1", "password-two-0123456789", false},
		{"certificate from another CA", &foreignT1, "T1", "password-one-0123456789", false},
		{"no certificate", nil, "T1", "password-one-0123456789", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := connectTLS(t, b.TLSAddr().String(), ca, tc.cert, "tls-"+tc.user, tc.user, tc.pass)
			if (err == nil) != tc.ok {
				t.Fatalf("connect err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestTLSWithoutClientCertificates(t *testing.T) {
	ca := newTestCA(t)
	b := startTLSBroker(t, ca, false)
	if err := connectTLS(t, b.TLSAddr().String(), ca, nil, "tls-T1", "T1", "password-one-0123456789"); err != nil {
		t.Fatalf("password login over TLS: %v", err)
	}
	if err := connectTLS(t, b.TLSAddr().String(), ca, nil, "tls-T1", "T1", "wrong-password-0123456789"); err == nil {
		t.Fatal("wrong password accepted over TLS")
	}
	// The plain listener keeps working beside the TLS one.
	if _, err := connect(t, b, "plain-T2", "T2", "password-two-0123456789"); err != nil {
		t.Fatalf("plain TCP connect beside TLS: %v", err)
	}
}
