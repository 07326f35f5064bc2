package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/hwtrack/hwtrack/broker"
	"github.com/hwtrack/hwtrack/config"
)

// brokerSecurity returns the broker options for the TLS listener and the
// connection guard. The TLS listener is started only when a certificate
// and key are configured.
func brokerSecurity(cfg config.Config, tlsListener net.Listener) (broker.Options, error) {
	opts := broker.Options{
		ConnectRate:   cfg.MQTT.ConnectRate,
		ConnectBurst:  cfg.MQTT.ConnectBurst,
		FlapTakeovers: cfg.MQTT.FlapTakeovers,
		FlapWindow:    cfg.MQTT.FlapWindow.Std(),
		FlapBan:       cfg.MQTT.FlapBan.Std(),
	}
	if cfg.MQTT.TLSCertFile == "" {
		return opts, nil
	}

	cert, err := tls.LoadX509KeyPair(cfg.MQTT.TLSCertFile, cfg.MQTT.TLSKeyFile)
	if err != nil {
		return opts, fmt.Errorf("load mqtt.tls_cert_file and mqtt.tls_key_file: %w", err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.MQTT.ClientCAFile != "" {
		pool, err := loadCertPool(cfg.MQTT.ClientCAFile)
		if err != nil {
			return opts, fmt.Errorf("load mqtt.client_ca_file: %w", err)
		}
		tlsCfg.ClientCAs = pool
		tlsCfg.ClientAuth = tls.RequireAndVerifyClientCert
	}

	opts.TLSConfig = tlsCfg
	opts.TLSListener = tlsListener
	opts.TLSAddr = cfg.MQTT.TLSAddr
	if cfg.Demo {
		// The demo carries public sample passwords, so every listener stays
		// on loopback.
		opts.TLSAddr = loopbackAddr(opts.TLSAddr)
	}
	return opts, nil
}

// serveHTTPS wraps ln in TLS when http.tls_cert_file is configured and
// returns ln unchanged otherwise.
func serveHTTPS(cfg config.HTTP, ln net.Listener) (net.Listener, error) {
	if cfg.TLSCertFile == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load http.tls_cert_file and http.tls_key_file: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}), nil
}

func loadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificate found in " + path)
	}
	return pool, nil
}

func loopbackAddr(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// MQTTTLSAddr returns the MQTT-over-TLS listener's address, or nil when
// no certificate is configured.
func (s *Server) MQTTTLSAddr() net.Addr { return s.broker.TLSAddr() }
