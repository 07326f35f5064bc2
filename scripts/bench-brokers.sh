#!/usr/bin/env bash
# Runs one load side by side against three receivers on this machine:
# mosquitto as a raw MQTT broker (acknowledges and drops every message),
# hwtrack --broker-only (the embedded broker with authentication and ACL,
# counting publishes) and the full hwtrack server. The first leg runs here;
# the other two are scripts/bench-load.sh with the same settings.
#
# Settings are those of scripts/bench-load.sh (VEHICLES, QOS, DURATION,
# RAMP, INTERVAL, WINDOW, BATCH, ...); the results go to $OUT
# (./bench-out) as report-mosquitto.json, report-broker-only.json and
# report-full.json.
set -euo pipefail

VEHICLES=${VEHICLES:-5000}
QOS=${QOS:-1}
DURATION=${DURATION:-60s}
RAMP=${RAMP:-20s}
INTERVAL=${INTERVAL:-0}
WINDOW=${WINDOW:-16}
BATCH=${BATCH:-1}
OUT=${OUT:-./bench-out}
MOSQ_PORT=${MOSQ_PORT:-21886}

repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d)
mosq=""
cleanup() {
	if [ -n "$mosq" ]; then
		kill "$mosq" 2>/dev/null || true
		wait "$mosq" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

need=$((VEHICLES + 1000))
if [ "$(ulimit -n)" -lt "$need" ]; then
	ulimit -n "$need" 2>/dev/null || {
		echo "bench-brokers: open file limit $(ulimit -n) is below $need and cannot be raised (hard limit $(ulimit -Hn))" >&2
		exit 2
	}
fi

(cd "$repo" && go build -o "$work/hwtrack-sim" ./cmd/hwtrack-sim)
# Anonymous clients, nothing kept: mosquitto acknowledges each QoS 1
# publish and, with no subscriber, discards it.
cat >"$work/mosquitto.conf" <<EOF
listener $MOSQ_PORT 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
log_dest stderr
log_type error
EOF
if [ "$(id -u)" = 0 ]; then echo "user root" >>"$work/mosquitto.conf"; fi
/usr/sbin/mosquitto -c "$work/mosquitto.conf" 2>"$OUT/mosquitto.log" & mosq=$!
sleep 0.5

args=(load --broker "tcp://127.0.0.1:$MOSQ_PORT" --api none
	--vehicles "$VEHICLES" --qos "$QOS" --duration "$DURATION" --ramp-up "$RAMP" --interval "$INTERVAL"
	--window "$WINDOW" --batch "$BATCH" --routes "$repo/configs/demo.yaml"
	--report "$OUT/report-mosquitto.json" --charts "$OUT/charts-mosquitto" --progress lines)
echo "== mosquitto: hwtrack-sim ${args[*]}" | tee "$OUT/table-mosquitto.txt" >&2
"$work/hwtrack-sim" "${args[@]}" | tee -a "$OUT/table-mosquitto.txt"
kill "$mosq"
wait "$mosq" 2>/dev/null || true
mosq=""

VEHICLES=$VEHICLES QOS=$QOS DURATION=$DURATION RAMP=$RAMP INTERVAL=$INTERVAL WINDOW=$WINDOW BATCH=$BATCH OUT=$OUT \
	"$repo/scripts/bench-load.sh"

echo
echo "side by side (acknowledged fixes/s over the steady window):"
for leg in mosquitto broker-only full; do
	f="$OUT/report-$leg.json"
	[ -f "$f" ] || continue
	rate=$(sed -n 's/^  "acked_fixes_per_second": \([0-9.]*\).*/\1/p' "$f" | head -1)
	p99=$(grep -A4 '"puback"' "$f" | sed -n 's/.*"p99_ms": \([0-9.]*\).*/\1/p' | head -1)
	printf '  %-12s %10.0f fixes/s   PUBACK p99 %s ms\n' "$leg" "$rate" "$p99"
done
