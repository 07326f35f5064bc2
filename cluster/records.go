package cluster

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// sharedRecord is the payload of a record one node shares with the
// others: the management data (vehicles, trips, bookings, zones) every
// owner needs to evaluate the vehicles it takes over.
type sharedRecord struct {
	Node string          `json:"node"`
	Data json.RawMessage `json:"data"`
}

// validRecordPart reports whether s can be one level of a record topic.
func validRecordPart(s string) bool {
	return s != "" && len(s) <= 256 && !strings.ContainsAny(s, "/+#\x00")
}

func (t topics) record(kind, id string) string { return t.root + "/records/" + kind + "/" + id }

func (t topics) allRecords() string { return t.root + "/records/#" }

// recordOf returns the kind and id of a record topic.
func (t topics) recordOf(topic string) (kind, id string, ok bool) {
	rest, found := strings.CutPrefix(topic, t.root+"/records/")
	if !found {
		return "", "", false
	}
	kind, id, ok = strings.Cut(rest, "/")
	return kind, id, ok && validRecordPart(kind) && validRecordPart(id)
}

// ShareRecord publishes a retained record of kind and id. Every other node
// of the group receives it through Options.OnRecord, now or when it
// starts. Nil data deletes the record. It returns once the cluster
// acknowledged the record.
func (n *Node) ShareRecord(kind, id string, data []byte) error {
	if !validRecordPart(kind) || !validRecordPart(id) {
		return fmt.Errorf("share %s record %q: kind and id must be 1 to 256 bytes without '/', '+', '#' or NUL", kind, id)
	}
	var payload []byte
	if data != nil {
		var err error
		if payload, err = json.Marshal(sharedRecord{Node: n.id, Data: data}); err != nil {
			return fmt.Errorf("share %s record %q: %w", kind, id, err)
		}
	}
	tok := n.ctl.Publish(n.topics.record(kind, id), 1, true, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		n.metrics.recordErrors.Inc()
		return fmt.Errorf("share %s record %q with the other nodes: %w", kind, id, tokenError(tok))
	}
	return nil
}

// onRecord hands a record another node shared to Options.OnRecord.
func (n *Node) onRecord(kind, id string, payload []byte) {
	if n.opts.OnRecord == nil {
		return
	}
	if len(payload) == 0 {
		n.opts.OnRecord(kind, id, nil)
		return
	}
	var rec sharedRecord
	if err := json.Unmarshal(payload, &rec); err != nil || len(rec.Data) == 0 {
		n.log.Warn("shared record not readable", "kind", kind, "id", id, "err", err)
		return
	}
	if rec.Node == n.id {
		return
	}
	n.opts.OnRecord(kind, id, rec.Data)
}
