package deviation

import (
	"slices"
	"strconv"

	"github.com/hwtrack/hwtrack/model"
)

// alarmBit describes one bit of the JT/T 808 alarm word (location report
// 0x0200). A latched bit stays set while the condition lasts. The unit
// clears an ack-clear bit only after the platform acknowledges it, so its
// falling edge tells nothing about the condition.
type alarmBit struct {
	bit      int
	nameZH   string
	nameEN   string
	latched  bool
	severity string
}

// alarmBits lists the named bits of JT/T 808-2013 and 2019. Bits 15 to 17
// are reserved in 2013; bit 31 is reserved in 2019. Sources disagree on
// whether bit 3 is latched; it is treated as ack-clear.
var alarmBits = []alarmBit{
	{0, "紧急报警", "emergency button", false, "high"},
	{1, "超速报警", "overspeed", true, "medium"},
	{2, "疲劳驾驶", "fatigue driving", true, "medium"},
	{3, "危险预警", "danger warning", false, "medium"},
	{4, "GNSS 模块故障", "GNSS module fault", true, "medium"},
	{5, "GNSS 天线未接或被剪断", "GNSS antenna disconnected or cut", true, "high"},
	{6, "GNSS 天线短路", "GNSS antenna short circuit", true, "medium"},
	{7, "终端主电源欠压", "main power under-voltage", true, "medium"},
	{8, "终端主电源掉电", "main power lost", true, "high"},
	{9, "LCD 或显示器故障", "display fault", true, "low"},
	{10, "TTS 模块故障", "TTS module fault", true, "low"},
	{11, "摄像头故障", "camera fault", true, "medium"},
	{12, "IC 卡模块故障", "IC card module fault", true, "low"},
	{13, "超速预警", "overspeed pre-warning", true, "low"},
	{14, "疲劳驾驶预警", "fatigue driving pre-warning", true, "low"},
	{15, "违规行驶报警", "illegal driving", true, "medium"},
	{16, "胎压预警", "tyre pressure warning", true, "low"},
	{17, "右转盲区异常报警", "right-turn blind zone alarm", true, "medium"},
	{18, "当天累计驾驶超时", "daily driving time exceeded", true, "medium"},
	{19, "超时停车", "overtime parking", true, "medium"},
	{20, "进出区域", "entered or left an area", false, "medium"},
	{21, "进出路线", "entered or left a route", false, "medium"},
	{22, "路段行驶时间不足或过长", "segment driving time too short or too long", false, "medium"},
	{23, "路线偏离报警", "route deviation", true, "medium"},
	{24, "车辆 VSS 故障", "vehicle VSS fault", true, "low"},
	{25, "车辆油量异常", "abnormal fuel level", true, "medium"},
	{26, "车辆被盗", "vehicle stolen", true, "high"},
	{27, "车辆非法点火", "illegal ignition", false, "high"},
	{28, "车辆非法位移", "illegal displacement", false, "high"},
	{29, "碰撞侧翻报警", "collision or rollover", true, "high"},
	{30, "侧翻预警", "rollover warning", true, "high"},
	{31, "非法开门报警", "illegal door opening", false, "high"},
}

// namedAlarmBits is the mask of every bit in alarmBits.
var namedAlarmBits = func() uint32 {
	var mask uint32
	for _, b := range alarmBits {
		mask |= 1 << b.bit
	}
	return mask
}()

// alarmNames returns the Chinese and English name of an alarm bit.
func alarmNames(bit int) (zh, en string) {
	for _, b := range alarmBits {
		if b.bit == bit {
			return b.nameZH, b.nameEN
		}
	}
	return "报警位 " + strconv.Itoa(bit), "alarm bit " + strconv.Itoa(bit)
}

// alarmState is the device-alarm memory of one vehicle.
type alarmState struct {
	// Word is the masked alarm word of the last fix that carried one.
	Word  uint32 `json:"word"`
	Known bool   `json:"known"`
	// Open holds the episodes of latched bits that are still set, by bit.
	Open map[int]*episode `json:"open,omitempty"`
}

// deviceAlarmRule raises device_alarm episodes from the alarm word. A
// latched bit opens an episode on its rising edge and closes it on its
// falling edge. An ack-clear bit raises an episode that opens and closes
// at once on each rising edge, so an unacknowledged bit that stays set
// does not raise it again. The first alarm word seen counts every set
// bit as rising.
type deviceAlarmRule struct{}

var _ rule = deviceAlarmRule{}

func (deviceAlarmRule) kind() model.DeviationKind { return model.KindDeviceAlarm }

func (deviceAlarmRule) evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	if f.Has&model.HasAlarm == 0 {
		return out
	}
	e := env.engine
	st := &v.rs.Alarm
	word := f.Alarm & e.cfg.DeviceAlarmMask
	var prev uint32
	if st.Known {
		prev = st.Word
	}
	st.Word, st.Known = word, true
	rising, falling := word&^prev, prev&^word
	if rising == 0 && falling == 0 {
		return out
	}

	end := endPoint{at: f.Time, lat: f.Lat, lon: f.Lon, stamp: env.stamp}
	for _, b := range alarmBits {
		mask := uint32(1) << b.bit
		key := trackerKey{Kind: model.KindDeviceAlarm, Subject: "bit" + strconv.Itoa(b.bit)}
		switch {
		case rising&mask != 0:
			ep := newEpisode(v, key, f.Time, f.Lat, f.Lon, b.severity)
			ep.Bit = b.bit
			out = append(out, e.openedDeviation(v, key, ep, env.stamp))
			if !b.latched {
				out = append(out, e.closedDeviation(v, key, ep, end))
				continue
			}
			if st.Open == nil {
				st.Open = make(map[int]*episode)
			}
			st.Open[b.bit] = ep
		case falling&mask != 0 && b.latched:
			if ep := st.Open[b.bit]; ep != nil {
				out = append(out, e.closedDeviation(v, key, ep, end))
				delete(st.Open, b.bit)
			}
		}
	}
	return out
}

// sortedEpisodeKeys returns the keys of m in ascending order.
func sortedEpisodeKeys[K int | string](m map[K]*episode) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
