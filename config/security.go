package config

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// SampleSecrets are the passwords and tokens published in this
// repository's demo fleet, docs and README. Anyone can read them, so a
// configuration outside demo mode that carries one is rejected.
var SampleSecrets = []string{
	"demo-sample-secret-not-for-production-1",
	"demo-sample-secret-not-for-production-2",
	"demo-sample-secret-not-for-production-3",
	"demo-sample-secret-not-for-production-4",
	"bench-token-0123456789abcdefgh",
	"another-long-secret-003",
	"cPtBKwIJQADRomu0ydx7juG9CoqyiNvK",
	"a-long-random-secret-from-your-vault",
}

// samplePrefix starts every sample password in the demo fleet file, so
// a fifth sample truck's password is caught too.
const samplePrefix = "demo-sample-secret-"

// IsSampleSecret reports whether s is one of the published sample secrets.
func IsSampleSecret(s string) bool {
	if strings.HasPrefix(s, samplePrefix) {
		return true
	}
	for _, sample := range SampleSecrets {
		if s == sample {
			return true
		}
	}
	return false
}

// checkSampleSecrets reports every string setting, at any depth, that
// holds a sample secret. It walks the struct so keys added later are
// covered without a list to maintain.
func checkSampleSecrets(cfg *Config, problems *Error) {
	walkStrings(reflect.ValueOf(cfg).Elem(), "", func(key, value string) {
		_, token := SplitAPIToken(value)
		if IsSampleSecret(value) || IsSampleSecret(token) {
			problems.add("%s: holds a published sample secret, accepted only with --demo; set a secret of your own", key)
		}
	})
}

func walkStrings(v reflect.Value, prefix string, visit func(key, value string)) {
	t := v.Type()
	for i := range t.NumField() {
		name := yamlName(t.Field(i))
		if name == "" || !t.Field(i).IsExported() {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		field := v.Field(i)
		switch {
		case field.Kind() == reflect.Struct:
			walkStrings(field, key, visit)
		case field.Kind() == reflect.String:
			visit(key, field.String())
		case field.Kind() == reflect.Slice && field.Type().Elem().Kind() == reflect.String:
			for j := range field.Len() {
				visit(key+"["+strconv.Itoa(j)+"]", field.Index(j).String())
			}
		}
	}
}

func validateMQTTGuard(m MQTT, problems *Error) {
	if m.ConnectRate < 1 || m.ConnectRate > 1_000_000 {
		problems.add("mqtt.connect_rate: %g is outside 1..1000000 CONNECT packets per second", m.ConnectRate)
	}
	checkRange("mqtt.connect_burst", m.ConnectBurst, 1, 1_000_000, problems)
	checkRange("mqtt.flap_takeovers", m.FlapTakeovers, 1, 1000, problems)
	checkDuration("mqtt.flap_window", m.FlapWindow, time.Second, day, problems)
	checkDuration("mqtt.flap_ban", m.FlapBan, time.Second, 30*day, problems)
}

// validateTLS checks that certificate and key come in pairs and that the
// files exist; their contents are parsed when the server starts.
func validateTLS(cfg *Config, problems *Error) {
	m := cfg.MQTT
	checkPair("mqtt.tls_cert_file", m.TLSCertFile, "mqtt.tls_key_file", m.TLSKeyFile, problems)
	if m.TLSCertFile != "" {
		checkAddr("mqtt.tls_addr", m.TLSAddr, false, problems)
	}
	if m.ClientCAFile != "" {
		if m.TLSCertFile == "" {
			problems.add("mqtt.client_ca_file: needs mqtt.tls_cert_file and mqtt.tls_key_file, because client certificates are checked on the TLS listener")
		}
		checkFile("mqtt.client_ca_file", m.ClientCAFile, problems)
	}
	checkPair("http.tls_cert_file", cfg.HTTP.TLSCertFile, "http.tls_key_file", cfg.HTTP.TLSKeyFile, problems)
}

func checkPair(certKey, certFile, keyKey, keyFile string, problems *Error) {
	switch {
	case certFile == "" && keyFile == "":
		return
	case certFile == "":
		problems.add("%s: missing, but %s is set; set both or neither", certKey, keyKey)
	case keyFile == "":
		problems.add("%s: missing, but %s is set; set both or neither", keyKey, certKey)
	}
	if certFile != "" {
		checkFile(certKey, certFile, problems)
	}
	if keyFile != "" {
		checkFile(keyKey, keyFile, problems)
	}
}

func checkFile(key, path string, problems *Error) {
	info, err := os.Stat(path)
	switch {
	case err != nil:
		problems.add("%s: %v", key, err)
	case info.IsDir():
		problems.add("%s: %s is a directory, not a PEM file", key, path)
	}
}
