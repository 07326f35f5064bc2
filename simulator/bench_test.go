package simulator

import (
	"os"
	"testing"
	"time"
)

// readBenchData reads a sample file for a benchmark, skipping when absent.
func readBenchData(b *testing.B, rel string) []byte {
	b.Helper()
	data, err := os.ReadFile(sharedData(b, rel))
	if err != nil {
		b.Fatalf("read: %v", err)
	}
	return data
}

func benchmarkDecode(b *testing.B, rel string, format Format) {
	data := readBenchData(b, rel)
	b.SetBytes(int64(len(data)))
	var fixes int
	for b.Loop() {
		out, _, err := DecodeTrack(rel, format, data)
		if err != nil {
			b.Fatalf("decode: %v", err)
		}
		fixes = len(out)
	}
	b.ReportMetric(float64(fixes*b.N)/b.Elapsed().Seconds(), "fixes/s")
}

func BenchmarkDecodeGPX(b *testing.B) {
	benchmarkDecode(b, "trajectories/gpsbabel/dg100.gpx", FormatGPX)
}

func BenchmarkDecodePLT(b *testing.B) {
	benchmarkDecode(b, "trajectories/geolife/010/20070905163053.plt", FormatPLT)
}

func BenchmarkDecodeNMEA(b *testing.B) {
	benchmarkDecode(b, "nmea/gpsbabel/gpsbabel_track_nmea.nmea", FormatNMEA)
}

func BenchmarkDecodeNMEAUTF16(b *testing.B) {
	benchmarkDecode(b, "nmea/gpsbabel/nmea_utf16le.nmea", FormatNMEA)
}

func BenchmarkDecodeOwnTracksRec(b *testing.B) {
	benchmarkDecode(b, "owntracks/demo-iphone.rec", FormatOwnTracks)
}

func BenchmarkRetime(b *testing.B) {
	fixes, _, _, err := ReadTrack(sharedData(b, "trajectories/gpsbabel/dg100.gpx"))
	if err != nil {
		b.Fatalf("read: %v", err)
	}
	end := time.Now()
	for b.Loop() {
		Retime(fixes, end, DefaultMaxGap)
	}
}

func benchmarkInject(b *testing.B, rel string) {
	fixes, _, _, err := ReadTrack(sharedData(b, rel))
	if err != nil {
		b.Fatalf("read: %v", err)
	}
	fixes = Retime(fixes, time.Now(), DefaultMaxGap)
	route := PlannedRoute(fixes)
	for b.Loop() {
		if _, _, err := InjectRouteDeviation(fixes, route); err != nil {
			b.Fatalf("inject: %v", err)
		}
	}
}

func BenchmarkInjectGeoLife(b *testing.B) {
	benchmarkInject(b, "trajectories/geolife/008/20081024132624.plt")
}

func BenchmarkInjectDG100(b *testing.B) {
	benchmarkInject(b, "trajectories/gpsbabel/dg100.gpx")
}

func BenchmarkPlannedRoute(b *testing.B) {
	fixes, _, _, err := ReadTrack(sharedData(b, "trajectories/gpsbabel/dg100.gpx"))
	if err != nil {
		b.Fatalf("read: %v", err)
	}
	for b.Loop() {
		PlannedRoute(fixes)
	}
}

func BenchmarkDriveAlong(b *testing.B) {
	start := time.Now()
	for b.Loop() {
		DriveAlong(yongkangRoute, start, 40, time.Second, WithNoise(5, 1))
	}
}
