#!/usr/bin/env bash
# Long chaos run. Simulated vehicles publish QoS 1 fixes while the server
# is killed with SIGKILL and restarted, and the regulator's mosquitto is
# stopped and started. Afterwards every acknowledged fix must be stored
# once, and every stored deviation episode and trip record must have
# reached the regulator under one id. The test is server/chaos_test.go;
# this script only sets a larger load. Override any HWTRACK_CHAOS_*
# variable to scale it. Everything runs on 127.0.0.1 and needs
# /usr/sbin/mosquitto.
set -euo pipefail
cd "$(dirname "$0")/.."

export HWTRACK_CHAOS_VEHICLES="${HWTRACK_CHAOS_VEHICLES:-40}"
export HWTRACK_CHAOS_FIXES="${HWTRACK_CHAOS_FIXES:-1500}"
export HWTRACK_CHAOS_KILLS="${HWTRACK_CHAOS_KILLS:-12}"
export HWTRACK_CHAOS_BROKER_RESTARTS="${HWTRACK_CHAOS_BROKER_RESTARTS:-8}"
export HWTRACK_CHAOS_FAULT_EVERY="${HWTRACK_CHAOS_FAULT_EVERY:-5s}"

exec go test -count=1 -timeout 60m -run '^TestChaosNothingLost$' -v ./server "$@"
