// Package cluster runs one ingest node of several that share the vehicles
// of an existing MQTT cluster (EMQX in production, mosquitto in tests).
//
// # Membership
//
// Each node keeps a control connection that publishes a retained record on
// {root}/nodes/{id} every heartbeat, with a last will that marks the node
// lost when the connection dies. Every node subscribes to all records, so
// all nodes count the same live nodes once the records have arrived.
// A node silent for the node timeout is taken for lost as well.
//
// # Ownership
//
// A vehicle is owned by the live node that rendezvous hashing picks for its
// terminal id (Owner). Only the owner evaluates a vehicle's fixes, so its
// geofence episodes stay whole. The data connection takes the vehicles'
// publishes through shared subscriptions, which spread messages over the
// nodes without regard to the vehicle. A node that receives a message for a
// vehicle it does not own publishes it at QoS 1 to the owner's inbox,
// {root}/nodes/{owner}/in, and acknowledges the original only after the
// cluster acknowledged that hand-off. A message for an owned vehicle is
// acknowledged only after the raw log holds it on disk.
//
// # Handing vehicles over
//
// The deviation state of every owned vehicle is saved as a retained image
// on {root}/state/{terminal}: every state interval while fixes arrive, soon
// after each deviation transition, and once more when the vehicle moves to
// another node. After the membership changes, each live node saves the
// images of the vehicles it lost and then publishes a retained release
// marker naming the new membership. A node that gained a vehicle waits for
// the markers of every other live node, up to the settle timeout, and then
// restores the newest image before it evaluates the vehicle's first fix.
// After a crash no release comes, and the new owner starts from the last
// image the lost node saved. The fixes the lost node evaluated after that
// image are then missing from the hysteresis state, although they are
// still in that node's raw log and store.
//
// # Lost nodes
//
// The data connection keeps a persistent session, so messages the cluster
// had sent to a node that died unacknowledged stay in its session. The live
// node that rendezvous hashing picks for the lost node adopts that session:
// it connects with the lost node's client id, drops the session's shared
// subscriptions so new messages go to the live nodes, and routes what the
// session held. The adopted connection also fences a node that stalled:
// its data connection is taken over until it comes back.
package cluster
