// Package forwarder delivers deviation episodes and trip lifecycle records
// to the regulator's MQTT broker.
//
// Every message passes through a durable outbox: Enqueue returns only after
// the message is synced to disk, and a message leaves the outbox only after
// the upstream broker has acknowledged it with PUBACK. Messages are published
// with QoS 1 in enqueue order over one MQTT 3.1.1 connection (paho), so an
// upstream outage or a server crash delays delivery but loses nothing. A
// message may be delivered more than once (QoS 1, or a resend after a crash),
// but always under the same id, so the receiver drops duplicates by id.
//
// The one exception to "nothing leaves without a PUBACK" is a message the
// upstream broker rejects for good by closing the connection on it. Once it
// went unacknowledged when sent alone in MaxDeliveryFailures sessions in a
// row, it moves to a dead-letter store inside the outbox. The counter
// hwtrack_forward_dead_letters_total rises, an error is logged, and
// delivery continues with the next message (see deadletter.go).
//
// The payload builders DeviationMessage and TripMessage are pure apart from
// reading the clock for sent_at, and define the JSON contract with the
// regulator.
package forwarder
