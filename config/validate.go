package config

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// APITokenScopes are the scopes an API token may grant; they are the
// console roles, with the same permissions.
var APITokenScopes = []string{"admin", "dispatcher", "regulator"}

// SplitAPIToken splits an http.api_tokens entry "SCOPE:TOKEN" into its
// scope and token; SCOPE is lower-case letters. An entry without such a
// prefix is an admin token.
func SplitAPIToken(entry string) (scope, token string) {
	s, t, ok := strings.Cut(entry, ":")
	if !ok || s == "" || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz") != "" {
		return "admin", entry
	}
	return s, t
}

// MinAPITokenLength is the shortest API token accepted, so a token cannot be
// guessed by trying.
const MinAPITokenLength = 24

func validate(cfg *Config, problems *Error) {
	if cfg.DataDir == "" {
		problems.add("data_dir: must not be empty")
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		problems.add("log_level: %q is not one of debug, info, warn, error", cfg.LogLevel)
	}

	checkAddr("mqtt.addr", cfg.MQTT.Addr, false, problems)
	checkAddr("mqtt.websocket_addr", cfg.MQTT.WebSocketAddr, true, problems)
	checkAddr("http.addr", cfg.HTTP.Addr, false, problems)

	checkRange("mqtt.max_packet_bytes", cfg.MQTT.MaxPacketBytes, 1<<10, 256<<20, problems)
	checkRange("mqtt.receive_maximum", cfg.MQTT.ReceiveMaximum, 1, 65535, problems)
	checkRange("mqtt.max_inflight", cfg.MQTT.MaxInflight, 1, 65535, problems)
	checkRange("mqtt.max_queued", cfg.MQTT.MaxQueued, 1, 1<<20, problems)
	checkRange("mqtt.max_clients", cfg.MQTT.MaxClients, 1, 10_000_000, problems)
	checkDuration("mqtt.session_expiry", cfg.MQTT.SessionExpiry, 0, 30*day, problems)
	checkDuration("mqtt.message_expiry", cfg.MQTT.MessageExpiry, time.Second, 7*day, problems)
	validateMQTTGuard(cfg.MQTT, problems)
	validateTLS(cfg, problems)
	validateExternal(cfg, problems)

	for i, entry := range cfg.HTTP.APITokens {
		scope, token := SplitAPIToken(entry)
		if !slices.Contains(APITokenScopes, scope) {
			problems.add("http.api_tokens[%d]: unknown scope %q; use admin, dispatcher or regulator before a colon", i, scope)
		}
		if len(token) < MinAPITokenLength {
			problems.add("http.api_tokens[%d]: too short (%d characters); use at least %d random characters", i, len(token), MinAPITokenLength)
		}
	}

	if cfg.Upstream.URL != "" {
		checkBrokerURL("upstream.url", cfg.Upstream.URL, problems)
	}
	if cfg.Upstream.TopicPrefix == "" {
		problems.add("upstream.topic_prefix: must not be empty")
	}
	checkRange("upstream.max_inflight", cfg.Upstream.MaxInflight, 1, 65535, problems)

	checkDuration("retention.fixes", cfg.Retention.Fixes, day, 100*365*day, problems)
	checkDuration("retention.raw", cfg.Retention.Raw, day, 100*365*day, problems)
	checkDuration("retention.deviations", cfg.Retention.Deviations, day, 100*365*day, problems)

	checkRange("ingest.max_batch", cfg.Ingest.MaxBatch, 1, 100_000, problems)
	checkRange("ingest.workers", cfg.Ingest.Workers, 1, 1024, problems)
	checkDuration("ingest.max_future_skew", cfg.Ingest.MaxFutureSkew, 0, day, problems)
	checkDuration("ingest.max_age", cfg.Ingest.MaxAge, 0, 100*365*day, problems)

	if cfg.Rules.MarginM < 0 || cfg.Rules.MarginM > 1000 {
		problems.add("rules.margin_m: %g is outside 0..1000 metres", cfg.Rules.MarginM)
	}
	if cfg.Rules.MaxAccuracyM < 1 || cfg.Rules.MaxAccuracyM > 5000 {
		problems.add("rules.max_accuracy_m: %g is outside 1..5000 metres", cfg.Rules.MaxAccuracyM)
	}
	checkRange("rules.min_fixes", cfg.Rules.MinFixes, 1, 100, problems)
	checkDuration("rules.persistence", cfg.Rules.Persistence, 0, time.Hour, problems)
	for _, g := range []struct {
		key  string
		gate RuleGate
	}{{"restricted", cfg.Rules.Restricted}, {"route", cfg.Rules.Route}, {"jurisdiction", cfg.Rules.Jurisdiction}} {
		if g.gate.MarginM < 0 || g.gate.MarginM > 1000 {
			problems.add("rules.%s.margin_m: %g is outside 0..1000 metres (0 keeps rules.margin_m)", g.key, g.gate.MarginM)
		}
		checkRange("rules."+g.key+".min_fixes", g.gate.MinFixes, 0, 100, problems)
		checkDuration("rules."+g.key+".persistence", g.gate.Persistence, 0, time.Hour, problems)
	}
	if cfg.Rules.DefaultLimitKmh < 10 || cfg.Rules.DefaultLimitKmh > 200 {
		problems.add("rules.default_limit_kmh: %g is outside 10..200 km/h", cfg.Rules.DefaultLimitKmh)
	}
	if cfg.Rules.ExpresswayLimitKmh < 10 || cfg.Rules.ExpresswayLimitKmh > 200 {
		problems.add("rules.expressway_limit_kmh: %g is outside 10..200 km/h", cfg.Rules.ExpresswayLimitKmh)
	}
	if cfg.Rules.MaxImpliedKmh < 50 || cfg.Rules.MaxImpliedKmh > 1000 {
		problems.add("rules.max_implied_kmh: %g is outside 50..1000 km/h", cfg.Rules.MaxImpliedKmh)
	}
	checkDuration("rules.overspeed_min_duration", cfg.Rules.OverspeedMinDuration, 0, time.Hour, problems)
	checkDuration("rules.long_stop", cfg.Rules.LongStop, time.Minute, day, problems)
	checkDuration("rules.signal_loss", cfg.Rules.SignalLoss, 30*time.Second, day, problems)
	checkDuration("rules.trip_overtime_grace", cfg.Rules.TripOvertimeGrace, 0, day, problems)
	checkDuration("rules.site_dwell", cfg.Rules.SiteDwell, 0, day, problems)

	checkConsole(cfg.Console, problems)
	checkTimeSeries(cfg.TimeSeries, problems)
	checkVideo(cfg.Video, problems)

	if !cfg.Demo {
		checkSampleSecrets(cfg, problems)
	}
}

func checkAddr(key, addr string, emptyOK bool, problems *Error) {
	if addr == "" {
		if !emptyOK {
			problems.add("%s: must not be empty", key)
		}
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		problems.add("%s: %q is not host:port (e.g. :1883 or 127.0.0.1:1883)", key, addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		problems.add("%s: port %q is not a number in 0..65535", key, port)
	}
}

func checkRange(key string, v, lo, hi int, problems *Error) {
	if v < lo || v > hi {
		problems.add("%s: %d is outside %d..%d", key, v, lo, hi)
	}
}

func checkDuration(key string, d Duration, lo, hi time.Duration, problems *Error) {
	if d.Std() < lo || d.Std() > hi {
		problems.add("%s: %s is outside %s..%s", key, d, Duration(lo), Duration(hi))
	}
}
