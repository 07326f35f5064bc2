// Package model holds the domain types every hwtrack component shares: a
// GNSS fix, a vehicle, a pickup booking with its transfer manifest, a trip
// and a deviation episode. It has no behaviour beyond encoding, so the
// decoders, the rules engine, storage, the API and the forwarder can all
// depend on it without depending on each other.
package model
