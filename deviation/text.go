package deviation

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// deviationID derives an episode's ID from what identifies it: terminal,
// kind, subject (zone or trip ID) and start time. Replaying the same fixes
// after a crash yields the same IDs, so the regulator's side can drop
// duplicates. The ID is the hex of the first 16 bytes of a SHA-256.
func deviationID(terminal string, key trackerKey, startedAt time.Time) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", terminal, key.Kind, key.Subject, startedAt.UnixNano())
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (e *Engine) baseDeviation(v *vehicle, key trackerKey, ep *episode, receivedAt time.Time) model.Deviation {
	d := model.Deviation{
		ID:         ep.ID,
		Kind:       key.Kind,
		Terminal:   v.terminal,
		StartedAt:  ep.StartedAt,
		Lat:        ep.Lat,
		Lon:        ep.Lon,
		ReceivedAt: receivedAt,
		Severity:   ep.Severity,
	}
	switch key.Kind {
	case model.KindRouteDeviation:
		d.TripID = key.Subject
		d.Peak = ep.PeakM
		d.Segment = ep.Segment
	case model.KindRestrictedZone:
		d.ZoneID = key.Subject
		d.ZoneName = ep.Name
		if v.trip != nil {
			d.TripID = v.trip.trip.ID
		}
	}
	return d
}

func (e *Engine) openedDeviation(v *vehicle, key trackerKey, ep *episode, receivedAt time.Time) model.Deviation {
	d := e.baseDeviation(v, key, ep, receivedAt)
	d.State = model.StateOpen
	d.TextZH, d.TextEN = episodeTexts(key.Kind, ep, model.StateOpen)
	e.stats.opened.Add(1)
	v.logger.Info("deviation opened", "deviation_id", d.ID, "kind", d.Kind.String(), "zone_id", d.ZoneID, "trip_id", d.TripID, "started_at", d.StartedAt)
	return d
}

// closedDeviation builds the closing message; end is the run back to
// normal, whose first fix is where and when the episode ended.
func (e *Engine) closedDeviation(v *vehicle, key trackerKey, ep *episode, end run, receivedAt time.Time) model.Deviation {
	d := e.baseDeviation(v, key, ep, receivedAt)
	d.State = model.StateClosed
	d.EndedAt = end.Start
	d.EndLat, d.EndLon = end.Lat, end.Lon
	d.TextZH, d.TextEN = episodeTexts(key.Kind, ep, model.StateClosed)
	e.stats.closed.Add(1)
	v.logger.Info("deviation closed", "deviation_id", d.ID, "kind", d.Kind.String(), "zone_id", d.ZoneID, "trip_id", d.TripID, "ended_at", d.EndedAt)
	return d
}

// episodeTexts returns the Chinese and English descriptions. Segment
// numbers in texts count from 1, as a dispatcher reads a route, while
// Deviation.Segment keeps the 0-based index.
func episodeTexts(kind model.DeviationKind, ep *episode, state model.DeviationState) (zh, en string) {
	switch kind {
	case model.KindRouteDeviation:
		if state == model.StateOpen {
			return fmt.Sprintf("偏离规划路线，最远偏离 %.0f 米（第 %d 段）", ep.PeakM, ep.Segment+1),
				fmt.Sprintf("Left the planned route, up to %.0f m off (segment %d)", ep.PeakM, ep.Segment+1)
		}
		return fmt.Sprintf("回到规划路线，期间最远偏离 %.0f 米（第 %d 段）", ep.PeakM, ep.Segment+1),
			fmt.Sprintf("Back on the planned route after being up to %.0f m off (segment %d)", ep.PeakM, ep.Segment+1)
	case model.KindRestrictedZone:
		if state == model.StateOpen {
			return "驶入禁行区域：" + ep.Name, "Entered restricted zone: " + ep.Name
		}
		return "驶离禁行区域：" + ep.Name, "Left restricted zone: " + ep.Name
	}
	return kind.String(), kind.String()
}
