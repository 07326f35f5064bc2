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

// newEpisode starts an episode of a timed kind at a place and time.
func newEpisode(v *vehicle, key trackerKey, startedAt time.Time, lat, lon float64, severity string) *episode {
	ep := &episode{
		ID:        deviationID(v.terminal, key, startedAt),
		StartedAt: startedAt,
		Lat:       lat,
		Lon:       lon,
		Severity:  severity,
	}
	if v.trip != nil {
		ep.TripID = v.trip.trip.ID
	}
	return ep
}

func (e *Engine) baseDeviation(v *vehicle, key trackerKey, ep *episode, st stamp) model.Deviation {
	d := model.Deviation{
		ID:         ep.ID,
		Kind:       key.Kind,
		Terminal:   v.terminal,
		StartedAt:  ep.StartedAt,
		Lat:        ep.Lat,
		Lon:        ep.Lon,
		ReceivedAt: st.receivedAt,
		Late:       st.late,
		Severity:   ep.Severity,
	}
	if v.trip != nil {
		d.TripID = v.trip.trip.ID
	}
	switch key.Kind {
	case model.KindRouteDeviation:
		d.TripID = routeTripID(key.Subject)
		d.Peak = ep.PeakM
		d.Segment = ep.Segment
		d.ZoneID = ep.ZoneID
		d.ZoneName = ep.Name
	case model.KindRestrictedZone:
		d.ZoneID = key.Subject
		d.ZoneName = ep.Name
	case model.KindTripOvertime:
		d.TripID = routeTripID(key.Subject)
		d.Peak = ep.Peak
	default:
		d.ZoneID = ep.ZoneID
		d.ZoneName = ep.Name
		d.Peak = ep.Peak
	}
	return d
}

func (e *Engine) openedDeviation(v *vehicle, key trackerKey, ep *episode, st stamp) model.Deviation {
	d := e.baseDeviation(v, key, ep, st)
	d.State = model.StateOpen
	d.TextZH, d.TextEN = episodeTexts(key.Kind, ep, model.StateOpen, time.Time{})
	e.stats.opened.Add(1)
	v.logger.Info("deviation opened", "deviation_id", d.ID, "kind", d.Kind.String(), "zone_id", d.ZoneID, "trip_id", d.TripID, "started_at", d.StartedAt, "late", d.Late)
	return d
}

// closedDeviation builds the closing message of an episode that ended at
// end.
func (e *Engine) closedDeviation(v *vehicle, key trackerKey, ep *episode, end endPoint) model.Deviation {
	d := e.baseDeviation(v, key, ep, end.stamp)
	d.State = model.StateClosed
	d.EndedAt = end.at
	d.EndLat, d.EndLon = end.lat, end.lon
	d.TextZH, d.TextEN = episodeTexts(key.Kind, ep, model.StateClosed, end.at)
	e.stats.closed.Add(1)
	v.logger.Info("deviation closed", "deviation_id", d.ID, "kind", d.Kind.String(), "zone_id", d.ZoneID, "trip_id", d.TripID, "ended_at", d.EndedAt, "late", d.Late)
	return d
}

// episodeTexts returns the Chinese and English descriptions. endedAt is
// zero for an opening. Segment numbers in texts count from 1, as a
// dispatcher reads a route, while Deviation.Segment keeps the 0-based
// index.
func episodeTexts(kind model.DeviationKind, ep *episode, state model.DeviationState, endedAt time.Time) (zh, en string) {
	open := state == model.StateOpen
	duration := endedAt.Sub(ep.StartedAt)
	switch kind {
	case model.KindRouteDeviation:
		if ep.ZoneID != "" {
			return jurisdictionTexts(ep, open)
		}
		if open {
			return fmt.Sprintf("偏离规划路线，最远偏离 %.0f 米（第 %d 段）", ep.PeakM, ep.Segment+1),
				fmt.Sprintf("Left the planned route, up to %.0f m off (segment %d)", ep.PeakM, ep.Segment+1)
		}
		return fmt.Sprintf("回到规划路线，期间最远偏离 %.0f 米（第 %d 段）", ep.PeakM, ep.Segment+1),
			fmt.Sprintf("Back on the planned route after being up to %.0f m off (segment %d)", ep.PeakM, ep.Segment+1)

	case model.KindRestrictedZone:
		if open && ep.Initial {
			return "新建禁行区域时车辆已在区域内：" + ep.Name, "Inside restricted zone when it was created: " + ep.Name
		}
		if open {
			return "驶入禁行区域：" + ep.Name, "Entered restricted zone: " + ep.Name
		}
		return "驶离禁行区域：" + ep.Name, "Left restricted zone: " + ep.Name

	case model.KindOverspeed:
		if ep.BoundS > 0 {
			return segmentFastTexts(ep, open)
		}
		whereZH, whereEN := "", ""
		switch {
		case ep.RouteSegment > 0:
			whereZH, whereEN = fmt.Sprintf("（路线第 %d 段）", ep.RouteSegment), fmt.Sprintf(" (route segment %d)", ep.RouteSegment)
		case ep.Name != "":
			whereZH, whereEN = "（"+ep.Name+"）", " ("+ep.Name+")"
		}
		if open {
			return fmt.Sprintf("超速行驶：%.0f km/h，限速 %.0f km/h%s", ep.Peak, ep.LimitKmh, whereZH),
				fmt.Sprintf("Speeding: %.0f km/h, limit %.0f km/h%s", ep.Peak, ep.LimitKmh, whereEN)
		}
		return fmt.Sprintf("超速结束：持续 %s，最高 %.0f km/h，限速 %.0f km/h%s", durationZH(duration), ep.Peak, ep.LimitKmh, whereZH),
			fmt.Sprintf("Speeding ended after %s: up to %.0f km/h, limit %.0f km/h%s", durationEN(duration), ep.Peak, ep.LimitKmh, whereEN)

	case model.KindLongStop:
		if open {
			stopped := time.Duration(ep.Peak) * time.Second
			return fmt.Sprintf("异常停车：在站点外已停留 %s", durationZH(stopped)),
				fmt.Sprintf("Unplanned stop: stopped outside any site for %s", durationEN(stopped))
		}
		return fmt.Sprintf("异常停车结束：共停留 %s", durationZH(duration)),
			fmt.Sprintf("Unplanned stop ended after %s", durationEN(duration))

	case model.KindSignalLoss:
		since := ep.StartedAt.In(chinaStandardTime).Format("15:04:05")
		if open {
			return fmt.Sprintf("信号中断：%s 起无定位数据", since),
				fmt.Sprintf("Signal lost: no fixes since %s", since)
		}
		return fmt.Sprintf("信号恢复：自 %s 起中断 %s", since, durationZH(duration)),
			fmt.Sprintf("Signal restored after %s without fixes since %s", durationEN(duration), since)

	case model.KindTripOvertime:
		if ep.BoundS > 0 {
			return segmentSlowTexts(ep, open, duration)
		}
		planned := ep.PlannedEnd.In(chinaStandardTime).Format("01-02 15:04")
		if open {
			return fmt.Sprintf("运输超时：已超过计划结束时间 %s", planned),
				fmt.Sprintf("Trip overtime: past its planned end %s", planned)
		}
		return fmt.Sprintf("超时运输结束：计划结束时间 %s", planned),
			fmt.Sprintf("Overtime trip ended; planned end was %s", planned)

	case model.KindDeviceAlarm:
		nameZH, nameEN := alarmNames(ep.Bit)
		if open {
			return "终端报警：" + nameZH, "Device alarm: " + nameEN
		}
		return "终端报警结束：" + nameZH, "Device alarm ended: " + nameEN
	}
	return kind.String(), kind.String()
}

// chinaStandardTime is Asia/Shanghai, fixed at UTC+8 (no daylight saving
// since 1991), in which texts show times.
var chinaStandardTime = time.FixedZone("CST", 8*3600)

func durationZH(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%d 小时 %d 分", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%d 分 %d 秒", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d 秒", int(d.Seconds()))
}

func durationEN(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d s", int(d.Seconds()))
}
