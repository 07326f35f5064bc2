package web_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/hwtrack/hwtrack/geofence"
)

// TestGCJ02MatchesServer runs the console's JavaScript WGS-84 to GCJ-02
// conversion under Node and compares it with the server's Go version on a
// grid over China and a few points outside it.
func TestGCJ02MatchesServer(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the console's GCJ-02 port is not compared with the server's")
	}
	var points [][2]float64
	for lat := 18.0; lat <= 53; lat += 5 {
		for lon := 74.0; lon <= 134; lon += 6 {
			points = append(points, [2]float64{lat, lon})
		}
	}
	points = append(points, [2]float64{28.88, 120.05}, [2]float64{48.8566, 2.3522}, [2]float64{-33.86, 151.21})
	input, _ := json.Marshal(points)
	script := fmt.Sprintf(`import("./src/gcj02.js").then((m) => {
  const out = %s.map(([lat, lon]) => m.wgs84ToGcj02(lat, lon));
  console.log(JSON.stringify(out));
});`, input)
	cmd := exec.Command(node, "--input-type=module", "-e", script)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got [][2]float64
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &got); err != nil {
		t.Fatalf("decode node output %q: %v", out, err)
	}
	if len(got) != len(points) {
		t.Fatalf("node returned %d points, want %d", len(got), len(points))
	}
	for i, p := range points {
		wantLat, wantLon := geofence.WGS84ToGCJ02(p[0], p[1])
		if math.Abs(got[i][0]-wantLat) > 1e-9 || math.Abs(got[i][1]-wantLon) > 1e-9 {
			t.Errorf("(%g, %g): JavaScript gives (%.10f, %.10f), Go gives (%.10f, %.10f)",
				p[0], p[1], got[i][0], got[i][1], wantLat, wantLon)
		}
	}
}
