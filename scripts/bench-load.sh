#!/usr/bin/env bash
# Measures hwtrack's end-to-end ingest rate as a share of the broker-only
# ceiling in the same run. It starts `hwtrack --broker-only`, runs
# `hwtrack-sim load` against it and stops it. Then it does the same against
# the full server, with synthetic zones and a trip per vehicle, and reports
# the ratio. Both servers, mosquitto as the regulator broker and the load
# generator run on this machine and listen on 127.0.0.1 only.
#
# Settings come from the environment (defaults in brackets):
#   VEHICLES [5000]  QOS [1]  DURATION [60s]  RAMP [20s]  INTERVAL [0]
#   WINDOW [16]  BATCH [1]  ZONES [10000]  DEVRATE [20] deviations/min
#   TIME_SCALE [1]  MODES ["broker-only full"]  OUT [./bench-out]
#   PPROF [unset: set to a duration such as 30s to take a CPU profile of
#   each server during its run, followed by a heap profile]
# Example: VEHICLES=5000 QOS=1 scripts/bench-load.sh
set -euo pipefail

VEHICLES=${VEHICLES:-5000}
QOS=${QOS:-1}
DURATION=${DURATION:-60s}
RAMP=${RAMP:-20s}
INTERVAL=${INTERVAL:-0}
WINDOW=${WINDOW:-16}
BATCH=${BATCH:-1}
ZONES=${ZONES:-10000}
DEVRATE=${DEVRATE:-20}
TIME_SCALE=${TIME_SCALE:-1}
MODES=${MODES:-"broker-only full"}
OUT=${OUT:-./bench-out}
PPROF=${PPROF:-}
MQTT_PORT=${MQTT_PORT:-21883}
HTTP_PORT=${HTTP_PORT:-28080}
REG_PORT=${REG_PORT:-21885}
PPROF_PORT=${PPROF_PORT:-26060}

repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# Each vehicle is one socket on each side; the server and the load
# generator each need an open file per vehicle and some spare.
need=$((VEHICLES + 1000))
if [ "$(ulimit -n)" -lt "$need" ]; then
	ulimit -n "$need" 2>/dev/null || {
		echo "bench-load: open file limit $(ulimit -n) is below $need and cannot be raised (hard limit $(ulimit -Hn))" >&2
		exit 2
	}
fi

echo "building into $work" >&2
(cd "$repo" && go build -o "$work/hwtrack" ./cmd/hwtrack && go build -o "$work/hwtrack-sim" ./cmd/hwtrack-sim)
"$work/hwtrack-sim" zones -count "$ZONES" -out "$work/load-zones.geojson" >&2

cat >"$work/mosquitto.conf" <<EOF
listener $REG_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
log_dest stderr
log_type error
EOF
if [ "$(id -u)" = 0 ]; then echo "user root" >>"$work/mosquitto.conf"; fi
/usr/sbin/mosquitto -c "$work/mosquitto.conf" & pids+=($!)

token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
# The connect bucket is sized for the whole fleet connecting within the
# ramp-up; the default (500/s, burst 1000) protects a production server
# from reconnect storms.
cat >"$work/hwtrack.yaml" <<EOF
log_level: warn
zone_files: [$repo/configs/zones.geojson, $work/load-zones.geojson]
mqtt:
  addr: 127.0.0.1:$MQTT_PORT
  websocket_addr: ""
  connect_rate: 5000
  connect_burst: $((VEHICLES + 1000))
http:
  addr: 127.0.0.1:$HTTP_PORT
  api_tokens: [$token]
upstream:
  url: tcp://127.0.0.1:$REG_PORT
EOF

wait_ready() {
	for _ in $(seq 1 600); do
		if curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "bench-load: server did not become ready" >&2
	return 1
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/machine.txt" >&2
baseline=""
for mode in $MODES; do
	data="$work/data-$mode"
	flags=(--config "$work/hwtrack.yaml" --data-dir "$data")
	[ "$mode" = broker-only ] && flags+=(--broker-only)
	[ -n "$PPROF" ] && flags+=(--pprof-addr "127.0.0.1:$PPROF_PORT")
	"$work/hwtrack" "${flags[@]}" 2>"$OUT/server-$mode.log" & server=$!
	pids+=("$server")
	wait_ready

	profiler=""
	if [ -n "$PPROF" ]; then
		# Profile the steady phase, 10 s after the ramp-up.
		(sleep "${RAMP%s}"; sleep 10; curl -s -o "$OUT/cpu-$mode.pprof" \
			"http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=${PPROF%s}"
		curl -s -o "$OUT/heap-$mode.pprof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/heap") & profiler=$!
	fi
	args=(load --broker "tcp://127.0.0.1:$MQTT_PORT" --api "http://127.0.0.1:$HTTP_PORT" --api-token "$token"
		--vehicles "$VEHICLES" --qos "$QOS" --duration "$DURATION" --ramp-up "$RAMP" --interval "$INTERVAL"
		--window "$WINDOW" --batch "$BATCH" --time-scale "$TIME_SCALE" --deviation-rate "$DEVRATE"
		--regulator "tcp://127.0.0.1:$REG_PORT" --routes "$repo/configs/demo.yaml"
		--report "$OUT/report-$mode.json" --charts "$OUT/charts-$mode" --progress lines)
	[ -n "$baseline" ] && args+=(--baseline "$baseline")
	echo "== $mode: hwtrack-sim ${args[*]}" | sed "s/$token/TOKEN/" | tee "$OUT/table-$mode.txt" >&2
	status=0
	"$work/hwtrack-sim" "${args[@]}" | tee -a "$OUT/table-$mode.txt" || status=$?
	[ "$mode" = broker-only ] && baseline="$OUT/report-$mode.json"
	[ -n "$profiler" ] && wait "$profiler"
	kill "$server"
	wait "$server" || true
	unset 'pids[-1]'
	echo "load average after $mode: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2
	if [ "$status" -ne 0 ]; then echo "bench-load: $mode run failed its checks (exit $status)" >&2; fi
done
