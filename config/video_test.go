package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestExampleVideoMatchesDefaults(t *testing.T) {
	cfg, err := Load("../configs/hwtrack.example.yaml", nil, Flags{})
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	got, want := cfg.Video, DefaultVideo()
	// The example lists empty lists where the defaults have nil ones.
	if len(got.VehicleChannels) == 0 && len(got.HostAddresses) == 0 && len(got.STUNURLs) == 0 && len(got.TURNURLs) == 0 {
		got.VehicleChannels, got.HostAddresses, got.STUNURLs, got.TURNURLs = nil, nil, nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("example video settings differ from defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestVideoChannelsPerVehicle(t *testing.T) {
	path := writeFile(t, "video:\n  vehicle_channels:\n    - terminal: \"013300784001\"\n      channels: [1, 2]\n")
	cfg, err := Load(path, []string{"HWTRACK_VIDEO_CHANNELS=2, 10"}, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Video.ChannelsOf("013300784001"); !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("listed vehicle channels = %v, want [1 2]", got)
	}
	if got := cfg.Video.ChannelsOf("other"); !reflect.DeepEqual(got, []int{2, 10}) {
		t.Errorf("default channels from the environment = %v, want [2 10]", got)
	}
}

func TestVideoBadKeysNamed(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string
	}{
		{"channel zero", "video:\n  channels: [0, 2]\n", "video.channels[0]"},
		{"duplicate channel", "video:\n  channels: [2, 2]\n", "video.channels[1]"},
		{"no channels", "video:\n  channels: []\n", "video.channels"},
		{"vehicle without terminal", "video:\n  vehicle_channels:\n    - channels: [1]\n", "video.vehicle_channels[0].terminal"},
		{"bad udp addr", "video:\n  udp_addr: \"8189\"\n", "video.udp_addr"},
		{"bad host address", "video:\n  host_addresses: [\"example.net\"]\n", "video.host_addresses[0]"},
		{"turn without credentials", "video:\n  turn_urls: [\"turn:turn.example:3478\"]\n", "video.turn_username"},
		{"stun scheme", "video:\n  stun_urls: [\"http://stun.example\"]\n", "video.stun_urls[0]"},
		{"short start timeout", "video:\n  start_timeout: 100ms\n", "video.start_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.yaml), nil, Flags{})
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %v does not name %s", err, tc.key)
			}
		})
	}
}

func TestVideoStructListNotFromEnvironment(t *testing.T) {
	_, err := Load("", []string{"HWTRACK_VIDEO_VEHICLE_CHANNELS=1,2"}, Flags{})
	if err == nil || !strings.Contains(err.Error(), "HWTRACK_VIDEO_VEHICLE_CHANNELS") {
		t.Fatalf("error %v does not name HWTRACK_VIDEO_VEHICLE_CHANNELS", err)
	}
}
