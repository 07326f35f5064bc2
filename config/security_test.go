package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSampleSecretsRejectedOutsideDemo(t *testing.T) {
	sampleToken := "bench-token-0123456789abcdefgh"
	cases := []struct {
		name    string
		file    string
		env     []string
		flags   Flags
		wantKey string
	}{
		{
			name:    "demo truck password as upstream password",
			file:    "upstream:\n  password: demo-sample-secret-not-for-production-2\n",
			wantKey: "upstream.password",
		},
		{
			name:    "docs token in api_tokens",
			file:    "http:\n  api_tokens: [a-real-token-from-the-vault-0001, bench-token-0123456789abcdefgh]\n",
			wantKey: "http.api_tokens[1]",
		},
		{
			name:    "sample token from the environment",
			env:     []string{"HWTRACK_HTTP_API_TOKENS=" + sampleToken},
			wantKey: "http.api_tokens[0]",
		},
		{
			name:    "sample token from a flag",
			flags:   Flags{APIToken: &sampleToken},
			wantKey: "http.api_tokens[0]",
		},
		{
			name:    "unlisted demo-style password",
			file:    "upstream:\n  password: demo-sample-secret-not-for-production-9\n",
			wantKey: "upstream.password",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			_, err := Load(path, tc.env, tc.flags)
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load err = %v, want a configuration error", err)
			}
			if !strings.Contains(err.Error(), tc.wantKey+": holds a published sample secret") {
				t.Fatalf("error does not name %s:\n%v", tc.wantKey, err)
			}

			demo := true
			flags := tc.flags
			flags.Demo = &demo
			if _, err := Load(path, tc.env, flags); err != nil {
				t.Fatalf("the same configuration with --demo: %v", err)
			}
		})
	}
}

func TestOwnSecretsAccepted(t *testing.T) {
	path := writeFile(t, "upstream:\n  password: a-secret-of-our-own-42\nhttp:\n  api_tokens: [kq3J8sZ0vX1mW7nB4cR9tY2uP5aL6eH0]\n")
	if _, err := Load(path, nil, Flags{}); err != nil {
		t.Fatalf("own secrets rejected: %v", err)
	}
}

func TestTLSSettingsValidated(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(pem, []byte("placeholder, parsed at start"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name    string
		file    string
		wantErr string // empty when the configuration is valid
	}{
		{"mqtt cert and key", "mqtt:\n  tls_cert_file: " + pem + "\n  tls_key_file: " + pem + "\n", ""},
		{"mqtt client CA", "mqtt:\n  tls_cert_file: " + pem + "\n  tls_key_file: " + pem + "\n  client_ca_file: " + pem + "\n", ""},
		{"https cert and key", "http:\n  tls_cert_file: " + pem + "\n  tls_key_file: " + pem + "\n", ""},
		{"mqtt cert without key", "mqtt:\n  tls_cert_file: " + pem + "\n", "mqtt.tls_key_file: missing"},
		{"https key without cert", "http:\n  tls_key_file: " + pem + "\n", "http.tls_cert_file: missing"},
		{"client CA without server cert", "mqtt:\n  client_ca_file: " + pem + "\n", "mqtt.client_ca_file: needs mqtt.tls_cert_file"},
		{"missing key file", "mqtt:\n  tls_cert_file: " + pem + "\n  tls_key_file: " + missing + "\n", "mqtt.tls_key_file: stat"},
		{"directory as cert", "http:\n  tls_cert_file: " + dir + "\n  tls_key_file: " + pem + "\n", "http.tls_cert_file: " + dir + " is a directory"},
		{"bad tls_addr", "mqtt:\n  tls_addr: nonsense\n  tls_cert_file: " + pem + "\n  tls_key_file: " + pem + "\n", "mqtt.tls_addr:"},
		{"zero connect rate", "mqtt:\n  connect_rate: 0\n", "mqtt.connect_rate:"},
		{"zero flap takeovers", "mqtt:\n  flap_takeovers: 0\n", "mqtt.flap_takeovers:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.file), nil, Flags{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("valid configuration rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
