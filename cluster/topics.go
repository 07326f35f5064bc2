package cluster

import (
	"strings"

	"github.com/hwtrack/hwtrack/broker"
)

// topics names the control and hand-off topics of one group, all under
// hwtrack/{group}/ so several deployments can share one MQTT cluster.
type topics struct {
	root string
}

func newTopics(group string) topics { return topics{root: "hwtrack/" + group} }

// node is where a node's retained membership record lives.
func (t topics) node(id string) string { return t.root + "/nodes/" + id }

func (t topics) allNodes() string { return t.root + "/nodes/+" }

// released carries a node's retained release marker.
func (t topics) released(id string) string { return t.root + "/nodes/" + id + "/released" }

func (t topics) allReleased() string { return t.root + "/nodes/+/released" }

// inbox is where other nodes hand a node the messages of its vehicles.
func (t topics) inbox(id string) string { return t.root + "/nodes/" + id + "/in" }

// state carries a vehicle's retained deviation state image.
func (t topics) state(terminal string) string { return t.root + "/state/" + terminal }

func (t topics) allStates() string { return t.root + "/state/+" }

// nodeOf returns the node id of a membership record or release marker
// topic, and which of the two it is.
func (t topics) nodeOf(topic string) (id string, isMarker bool, ok bool) {
	rest, found := strings.CutPrefix(topic, t.root+"/nodes/")
	if !found || rest == "" {
		return "", false, false
	}
	id, suffix, hasSuffix := strings.Cut(rest, "/")
	switch {
	case !hasSuffix:
		return id, false, true
	case suffix == "released":
		return id, true, true
	default:
		return "", false, false
	}
}

// terminalOfState returns the terminal of a state image topic.
func (t topics) terminalOfState(topic string) (string, bool) {
	terminal, ok := strings.CutPrefix(topic, t.root+"/state/")
	return terminal, ok && broker.ValidTerminal(terminal)
}

// sharedFilters are the shared subscriptions that bring the vehicles'
// messages: fixes, status and OwnTracks locations, the topics the ingest
// pipeline records.
func sharedFilters(group string) []string {
	share := "$share/" + group + "/"
	return []string{
		share + broker.TopicPrefix + "+/fix",
		share + broker.TopicPrefix + "+/status",
		share + "owntracks/+/+",
	}
}

// statusFilter brings every vehicle's status, retained ones included, to
// every node, so each node can tell which vehicles are online.
const statusFilter = broker.TopicPrefix + "+/status"

// vehicleTopic returns the terminal a vehicle topic belongs to:
// hwt/v1/{terminal}/fix, hwt/v1/{terminal}/status or
// owntracks/{terminal}/{device}.
func vehicleTopic(topic string) (terminal string, ok bool) {
	if rest, found := strings.CutPrefix(topic, broker.TopicPrefix); found {
		terminal, sub, _ := strings.Cut(rest, "/")
		return terminal, broker.ValidTerminal(terminal) && (sub == "fix" || sub == "status")
	}
	if rest, found := strings.CutPrefix(topic, "owntracks/"); found {
		terminal, device, _ := strings.Cut(rest, "/")
		return terminal, broker.ValidTerminal(terminal) && device != "" && !strings.Contains(device, "/")
	}
	return "", false
}
