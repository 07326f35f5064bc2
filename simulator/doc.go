// Package simulator replays recorded GPS tracks and synthetic drives
// against a running hwtrack server. It reads GPX, GeoLife PLT, NMEA 0183
// and OwnTracks recorder files into model.Fix values and re-times them so
// they end at the moment of the run. It can move a stretch off the planned
// route. Each track becomes a vehicle with a booking and a trip, registered
// through the HTTP API, whose fixes are published over MQTT with paho.
//
// The readers are pure functions of their input, so they can be fuzzed and
// benchmarked alone. The network parts (Publisher, APIClient, Replay) take
// a context and a *slog.Logger.
package simulator
