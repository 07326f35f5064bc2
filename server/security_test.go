package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/demo"
	"github.com/hwtrack/hwtrack/server"
)

// pkiDir holds a CA and certificates written as PEM files for one test.
type pkiDir struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
}

func newPKI(t *testing.T) *pkiDir {
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
	cert, _ := x509.ParseCertificate(der)
	p := &pkiDir{dir: t.TempDir(), caCert: cert, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(cert)
	writePEM(t, filepath.Join(p.dir, "ca.pem"), "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, blockType string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes name.pem and name.key for commonName and returns the
// certificate; server certificates are valid for 127.0.0.1.
func (p *pkiDir) issue(t *testing.T, name, commonName string, server bool) tls.Certificate {
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
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(p.dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(p.dir, name+".key"), "EC PRIVATE KEY", keyDER)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *pkiDir) path(name string) string { return filepath.Join(p.dir, name) }

func TestTLSListeners(t *testing.T) {
	pki := newPKI(t)
	pki.issue(t, "server", "hwtrack", true)
	unitCert := pki.issue(t, "unit", "013300784101", false)
	otherCert := pki.issue(t, "other", "013300784102", false)

	cfg := testConfig(t.TempDir(), "")
	cfg.MQTT.TLSCertFile = pki.path("server.pem")
	cfg.MQTT.TLSKeyFile = pki.path("server.key")
	cfg.MQTT.ClientCAFile = pki.path("ca.pem")
	cfg.HTTP.TLSCertFile = pki.path("server.pem")
	cfg.HTTP.TLSKeyFile = pki.path("server.key")
	srv, err := server.Start(server.Options{
		Config:          cfg,
		MQTTListener:    listen(t),
		MQTTTLSListener: listen(t),
		HTTPListener:    listen(t),
		Logger:          slog.New(slog.DiscardHandler),
		AdminToken:      func(string) {},
	})
	if err != nil {
		t.Fatalf("start server with TLS: %v", err)
	}
	t.Cleanup(func() { srv.Close() })

	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}, Timeout: 5 * time.Second}
	base := "https://" + srv.HTTPAddr().String()
	for _, terminal := range []string{"013300784101", "013300784102"} {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/vehicles",
			strings.NewReader(fmt.Sprintf(`{"terminal":%q,"plate":"浙G·T0101","password":"a-long-random-vehicle-secret-101"}`, terminal)))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := httpsClient.Do(req)
		if err != nil {
			t.Fatalf("register over HTTPS: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("register over HTTPS: status %d", resp.StatusCode)
		}
	}

	t.Run("plain HTTP on the HTTPS port", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + srv.HTTPAddr().String() + "/healthz")
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			t.Fatal("plain HTTP served on the HTTPS listener")
		}
	})

	cases := []struct {
		name string
		cert *tls.Certificate
		ok   bool
	}{
		{"certificate matching the terminal", &unitCert, true},
		{"certificate of another terminal", &otherCert, false},
		{"no certificate", nil, false},
	}
	for _, tc := range cases {
		t.Run("MQTT "+tc.name, func(t *testing.T) {
			tlsCfg := &tls.Config{RootCAs: pki.pool}
			if tc.cert != nil {
				tlsCfg.Certificates = []tls.Certificate{*tc.cert}
			}
			opts := paho.NewClientOptions().AddBroker("ssl://" + srv.MQTTTLSAddr().String()).
				SetTLSConfig(tlsCfg).SetProtocolVersion(4).
				SetClientID("013300784101").SetUsername("013300784101").SetPassword("a-long-random-vehicle-secret-101").
				SetAutoReconnect(false).SetConnectTimeout(3 * time.Second)
			c := paho.NewClient(opts)
			tok := c.Connect()
			connected := tok.WaitTimeout(5*time.Second) && tok.Error() == nil
			if connected != tc.ok {
				t.Fatalf("connected=%v (err %v), want %v", connected, tok.Error(), tc.ok)
			}
			if !connected {
				return
			}
			defer c.Disconnect(50)
			pub := c.Publish("hwt/v1/013300784101/fix", 1, false,
				fmt.Sprintf(`{"time":%d,"lat":28.89,"lon":120.04}`, time.Now().Add(-time.Minute).Unix()))
			if !pub.WaitTimeout(5*time.Second) || pub.Error() != nil {
				t.Fatalf("publish over TLS: %v", pub.Error())
			}
		})
	}
}

func TestStartRejectsBadCertificate(t *testing.T) {
	dir := t.TempDir()
	bogus := filepath.Join(dir, "bogus.pem")
	if err := os.WriteFile(bogus, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir(), "")
	cfg.MQTT.TLSCertFile = bogus
	cfg.MQTT.TLSKeyFile = bogus
	_, err := server.Start(server.Options{Config: cfg, MQTTListener: listen(t), MQTTTLSListener: listen(t), HTTPListener: listen(t),
		Logger: slog.New(slog.DiscardHandler), AdminToken: func(string) {}})
	if err == nil || !strings.Contains(err.Error(), "mqtt.tls_cert_file") {
		t.Fatalf("start err = %v, want one naming mqtt.tls_cert_file", err)
	}
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSecretsNeverLogged runs a session at debug level (admin token
// creation, vehicle registration with chosen and generated passwords, good
// and bad MQTT logins, bad API tokens, an upstream password) and checks
// that no secret appears in the log.
func TestSecretsNeverLogged(t *testing.T) {
	logs := &syncBuffer{}
	const (
		chosenPassword   = "chosen-vehicle-secret-4711-abcdef"
		wrongPassword    = "wrong-vehicle-secret-0815-ghijkl"
		upstreamPassword = "upstream-secret-9a8b7c6d5e4f3g2h"
		badToken         = "bad-token-zyxwvutsrqponmlkjihg"
	)
	cfg := testConfig(t.TempDir(), "tcp://127.0.0.1:1")
	cfg.Upstream.Username = "hwtrack"
	cfg.Upstream.Password = upstreamPassword
	cfg.LogLevel = "debug"

	var adminToken string
	srv, err := server.Start(server.Options{
		Config:       cfg,
		MQTTListener: listen(t),
		HTTPListener: listen(t),
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		AdminToken:   func(token string) { adminToken = token },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	apiPost(t, srv, "/api/v1/vehicles", `{"terminal":"013300784201","plate":"浙G·S0201","password":"`+chosenPassword+`"}`, 201, nil)
	var registered struct {
		Vehicles []struct {
			Password string `json:"password"`
		} `json:"vehicles"`
	}
	apiPost(t, srv, "/api/v1/vehicles", `{"terminal":"013300784202","plate":"浙G·S0202"}`, 201, &registered)
	if len(registered.Vehicles) != 1 || registered.Vehicles[0].Password == "" {
		t.Fatalf("no generated password returned: %+v", registered)
	}
	generatedPassword := registered.Vehicles[0].Password

	mqttLogin := func(terminal, password string) error {
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + srv.MQTTAddr().String()).
			SetClientID(terminal).SetUsername(terminal).SetPassword(password).
			SetAutoReconnect(false).SetConnectTimeout(3 * time.Second))
		tok := c.Connect()
		tok.WaitTimeout(5 * time.Second)
		if tok.Error() == nil {
			c.Publish("hwt/v1/"+terminal+"/fix", 1, false, `{"lat":"not a number"}`).WaitTimeout(3 * time.Second)
			c.Disconnect(50)
		}
		return tok.Error()
	}
	if err := mqttLogin("013300784201", chosenPassword); err != nil {
		t.Fatalf("login with the chosen password: %v", err)
	}
	if err := mqttLogin("013300784202", generatedPassword); err != nil {
		t.Fatalf("login with the generated password: %v", err)
	}
	if err := mqttLogin("013300784201", wrongPassword); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+srv.HTTPAddr().String()+"/api/v1/vehicles", nil)
	req.Header.Set("Authorization", "Bearer "+badToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	srv.Close()

	out := logs.String()
	if !strings.Contains(out, "MQTT authentication failed") {
		t.Fatalf("the session did not run as planned; log:\n%s", out)
	}
	secrets := map[string]string{
		"admin token":        adminToken,
		"API token":          testToken,
		"chosen password":    chosenPassword,
		"generated password": generatedPassword,
		"wrong password":     wrongPassword,
		"upstream password":  upstreamPassword,
		"bad API token":      badToken,
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Errorf("%s is empty, so the check means nothing", name)
			continue
		}
		if strings.Contains(out, secret) {
			t.Errorf("%s appears in the log", name)
		}
	}
}

func TestDemoListensOnLoopbackOnly(t *testing.T) {
	pki := newPKI(t)
	pki.issue(t, "server", "hwtrack", true)
	cfg := config.Default()
	cfg.Demo = true
	cfg.DataDir = t.TempDir()
	cfg.MQTT.Addr = ":0"
	cfg.MQTT.WebSocketAddr = ""
	cfg.MQTT.TLSAddr = ":0"
	cfg.MQTT.TLSCertFile = pki.path("server.pem")
	cfg.MQTT.TLSKeyFile = pki.path("server.key")
	cfg.HTTP.Addr = ":0"
	cfg.Upstream.URL = "tcp://127.0.0.1:1" // keep the sample regulator's fixed port free
	cfg.ZoneFiles = []string{"../configs/zones.geojson"}

	d, err := demo.Start(context.Background(), cfg, "../configs/demo.yaml", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	addrs := map[string]net.Addr{"mqtt": d.Server.MQTTAddr(), "mqtt tls": d.Server.MQTTTLSAddr(), "http": d.Server.HTTPAddr()}
	for name, addr := range addrs {
		tcp, ok := addr.(*net.TCPAddr)
		if !ok || !tcp.IP.IsLoopback() {
			t.Errorf("demo %s listener on %v, want loopback", name, addr)
		}
	}
}
