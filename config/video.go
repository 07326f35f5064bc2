package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Video configures the camera relay: which channels vehicles have, how
// streams start and stop, and how peers reach the relay over ICE.
type Video struct {
	// Channels are the JT/T 1078 camera channels (1 driver, 2 road ahead,
	// 3 cargo/tank, 10 rear) of every vehicle not in VehicleChannels.
	Channels []int `yaml:"channels"`
	// VehicleChannels overrides Channels for single vehicles.
	VehicleChannels []VehicleChannels `yaml:"vehicle_channels"`
	// StartTimeout bounds the wait from the start command until video
	// arrives; a stream not up by then has failed.
	StartTimeout Duration `yaml:"start_timeout"`
	// StopGrace is how long a stream outlives its last viewer.
	StopGrace Duration `yaml:"stop_grace"`
	// RTPTimeout is the silence after which a live stream counts as lost.
	RTPTimeout Duration `yaml:"rtp_timeout"`

	// UDPAddr is the single UDP address all WebRTC sessions share.
	UDPAddr string `yaml:"udp_addr"`
	// TCPAddr is the ICE-TCP fallback for peers without UDP; empty
	// disables it.
	TCPAddr string `yaml:"tcp_addr"`
	// HostAddresses are the IP addresses peers reach this server at, put
	// into candidates in place of the interface addresses (NAT 1:1).
	HostAddresses []string `yaml:"host_addresses"`
	// STUNURLs and TURNURLs are ICE servers (stun:host:port,
	// turn:host:port?transport=udp) used by the relay and handed to the
	// vehicles with each start command.
	STUNURLs     []string `yaml:"stun_urls"`
	TURNURLs     []string `yaml:"turn_urls"`
	TURNUsername string   `yaml:"turn_username"`
	TURNPassword string   `yaml:"turn_password"`
}

// VehicleChannels are one vehicle's camera channels.
type VehicleChannels struct {
	Terminal string `yaml:"terminal"`
	Channels []int  `yaml:"channels"`
}

// DefaultVideo returns the video defaults: the four usual JT/T 1078
// channels, and UDP and TCP port 8189 on every interface.
func DefaultVideo() Video {
	return Video{
		Channels:     []int{1, 2, 3, 10},
		StartTimeout: Duration(8 * time.Second),
		StopGrace:    Duration(10 * time.Second),
		RTPTimeout:   Duration(5 * time.Second),
		UDPAddr:      ":8189",
		TCPAddr:      ":8189",
	}
}

// ChannelsOf returns the camera channels of a vehicle.
func (v Video) ChannelsOf(terminal string) []int {
	for _, vc := range v.VehicleChannels {
		if vc.Terminal == terminal {
			return vc.Channels
		}
	}
	return v.Channels
}

func checkVideo(v Video, problems *Error) {
	checkChannels("video.channels", v.Channels, problems)
	seen := map[string]bool{}
	for i, vc := range v.VehicleChannels {
		key := fmt.Sprintf("video.vehicle_channels[%d]", i)
		if vc.Terminal == "" {
			problems.add("%s.terminal: must not be empty", key)
		} else if seen[vc.Terminal] {
			problems.add("%s.terminal: %q is listed twice", key, vc.Terminal)
		}
		seen[vc.Terminal] = true
		checkChannels(key+".channels", vc.Channels, problems)
	}
	checkDuration("video.start_timeout", v.StartTimeout, time.Second, 2*time.Minute, problems)
	checkDuration("video.stop_grace", v.StopGrace, time.Second, time.Hour, problems)
	checkDuration("video.rtp_timeout", v.RTPTimeout, time.Second, time.Minute, problems)

	checkAddr("video.udp_addr", v.UDPAddr, false, problems)
	checkAddr("video.tcp_addr", v.TCPAddr, true, problems)
	for i, a := range v.HostAddresses {
		if net.ParseIP(a) == nil {
			problems.add("video.host_addresses[%d]: %q is not an IP address", i, a)
		}
	}
	for i, u := range v.STUNURLs {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") {
			problems.add("video.stun_urls[%d]: %q must start with stun: or stuns:", i, u)
		}
	}
	for i, u := range v.TURNURLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			problems.add("video.turn_urls[%d]: %q must start with turn: or turns:", i, u)
		}
	}
	if len(v.TURNURLs) > 0 && (v.TURNUsername == "" || v.TURNPassword == "") {
		problems.add("video.turn_username, video.turn_password: required when video.turn_urls is set")
	}
}

func checkChannels(key string, channels []int, problems *Error) {
	if len(channels) == 0 {
		problems.add("%s: list at least one channel, e.g. [1, 2, 3, 10]", key)
	}
	for i, ch := range channels {
		if ch < 1 || ch > 255 {
			problems.add("%s[%d]: channel %d is outside 1..255", key, i, ch)
		} else if slices.Index(channels, ch) != i {
			problems.add("%s[%d]: channel %d is listed twice", key, i, ch)
		}
	}
}
