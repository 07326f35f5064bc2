package geofence

import (
	"fmt"
	"math"
	"strings"
)

// CRS is the coordinate reference system a shape was drawn in.
type CRS uint8

const (
	CRSUnknown CRS = iota
	// CRSWGS84 is WGS-84 as GNSS receivers and Tianditu use it.
	CRSWGS84
	// CRSGCJ02 is the obfuscated datum of AMap/Gaode and Tencent maps.
	CRSGCJ02
	// CRSBD09 is Baidu's datum, a further shift of GCJ-02.
	CRSBD09
)

func (c CRS) String() string {
	switch c {
	case CRSWGS84:
		return "wgs84"
	case CRSGCJ02:
		return "gcj02"
	case CRSBD09:
		return "bd09"
	default:
		return "unknown"
	}
}

// ParseCRS maps "wgs84", "gcj02" or "bd09" (case-insensitive; hyphens and
// underscores ignored, so "GCJ-02" works) to a CRS.
func ParseCRS(s string) (CRS, error) {
	norm := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(strings.TrimSpace(s)))
	switch norm {
	case "wgs84":
		return CRSWGS84, nil
	case "gcj02":
		return CRSGCJ02, nil
	case "bd09":
		return CRSBD09, nil
	}
	return CRSUnknown, fmt.Errorf("unknown crs %q: expected wgs84, gcj02 or bd09", s)
}

// Constants of the public WGS-84 to GCJ-02 formula, which uses the
// Krasovsky 1940 ellipsoid.
const (
	krasovskyA  = 6378245.0
	krasovskyEE = 0.00669342162296594323
	// bdXPi is the angular factor of the GCJ-02 to BD-09 formula.
	bdXPi = math.Pi * 3000.0 / 180.0
)

// inverseTolDeg is the convergence tolerance of the iterative inverses,
// about 0.1 mm; they converge in 3 to 5 steps.
const (
	inverseTolDeg  = 1e-9
	inverseMaxIter = 30
)

// outsideChina reports whether the point lies outside the rectangle where
// the GCJ-02 shift applies. Outside it, GCJ-02 equals WGS-84.
func outsideChina(lat, lon float64) bool {
	return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271
}

func gcjShiftLat(x, y float64) float64 {
	r := -100.0 + 2.0*x + 3.0*y + 0.2*y*y + 0.1*x*y + 0.2*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(y*math.Pi) + 40.0*math.Sin(y/3.0*math.Pi)) * 2.0 / 3.0
	r += (160.0*math.Sin(y/12.0*math.Pi) + 320.0*math.Sin(y*math.Pi/30.0)) * 2.0 / 3.0
	return r
}

func gcjShiftLon(x, y float64) float64 {
	r := 300.0 + x + 2.0*y + 0.1*x*x + 0.1*x*y + 0.1*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(x*math.Pi) + 40.0*math.Sin(x/3.0*math.Pi)) * 2.0 / 3.0
	r += (150.0*math.Sin(x/12.0*math.Pi) + 300.0*math.Sin(x/30.0*math.Pi)) * 2.0 / 3.0
	return r
}

// WGS84ToGCJ02 converts a WGS-84 point to GCJ-02 with the public forward
// formula. Arguments and results are (lat, lon) in degrees. Points outside
// China are returned unchanged.
func WGS84ToGCJ02(lat, lon float64) (gcjLat, gcjLon float64) {
	if outsideChina(lat, lon) {
		return lat, lon
	}
	dLat := gcjShiftLat(lon-105.0, lat-35.0)
	dLon := gcjShiftLon(lon-105.0, lat-35.0)
	radLat := lat / 180.0 * math.Pi
	magic := math.Sin(radLat)
	magic = 1 - krasovskyEE*magic*magic
	sqrtMagic := math.Sqrt(magic)
	dLat = (dLat * 180.0) / ((krasovskyA * (1 - krasovskyEE)) / (magic * sqrtMagic) * math.Pi)
	dLon = (dLon * 180.0) / (krasovskyA / sqrtMagic * math.Cos(radLat) * math.Pi)
	return lat + dLat, lon + dLon
}

// GCJ02ToWGS84 converts a GCJ-02 point back to WGS-84. Arguments and results
// are (lat, lon) in degrees. The forward formula has no closed inverse, so
// this iterates: guess w, shift it forward, and move w by the difference to
// the target until the forward image matches to about 0.1 mm. The residual
// is far below the 0.5 m the one-step approximation leaves.
func GCJ02ToWGS84(lat, lon float64) (wgsLat, wgsLon float64) {
	if outsideChina(lat, lon) {
		return lat, lon
	}
	wLat, wLon := lat, lon
	for range inverseMaxIter {
		gLat, gLon := WGS84ToGCJ02(wLat, wLon)
		dLat, dLon := gLat-lat, gLon-lon
		wLat -= dLat
		wLon -= dLon
		if math.Abs(dLat) < inverseTolDeg && math.Abs(dLon) < inverseTolDeg {
			break
		}
	}
	return wLat, wLon
}

// GCJ02ToBD09 converts a GCJ-02 point to BD-09 with Baidu's public formula.
// Arguments and results are (lat, lon) in degrees.
func GCJ02ToBD09(lat, lon float64) (bdLat, bdLon float64) {
	z := math.Sqrt(lon*lon+lat*lat) + 0.00002*math.Sin(lat*bdXPi)
	theta := math.Atan2(lat, lon) + 0.000003*math.Cos(lon*bdXPi)
	return z*math.Sin(theta) + 0.006, z*math.Cos(theta) + 0.0065
}

// BD09ToGCJ02 converts a BD-09 point to GCJ-02. Arguments and results are
// (lat, lon) in degrees. It starts from the usual closed-form approximation
// and refines it by iterating GCJ02ToBD09, like GCJ02ToWGS84 does.
func BD09ToGCJ02(lat, lon float64) (gcjLat, gcjLon float64) {
	x, y := lon-0.0065, lat-0.006
	z := math.Sqrt(x*x+y*y) - 0.00002*math.Sin(y*bdXPi)
	theta := math.Atan2(y, x) - 0.000003*math.Cos(x*bdXPi)
	gLat, gLon := z*math.Sin(theta), z*math.Cos(theta)
	for range inverseMaxIter {
		bLat, bLon := GCJ02ToBD09(gLat, gLon)
		dLat, dLon := bLat-lat, bLon-lon
		gLat -= dLat
		gLon -= dLon
		if math.Abs(dLat) < inverseTolDeg && math.Abs(dLon) < inverseTolDeg {
			break
		}
	}
	return gLat, gLon
}

// ToWGS84 converts a (lat, lon) point in degrees drawn in crs to WGS-84
// with the iterative inverses above. WGS-84 and unknown input come back
// unchanged.
func ToWGS84(crs CRS, lat, lon float64) (wgsLat, wgsLon float64) {
	return toWGS84(crs, lat, lon)
}

// toWGS84 converts a (lat, lon) point drawn in crs to WGS-84.
func toWGS84(crs CRS, lat, lon float64) (float64, float64) {
	switch crs {
	case CRSGCJ02:
		return GCJ02ToWGS84(lat, lon)
	case CRSBD09:
		return GCJ02ToWGS84(BD09ToGCJ02(lat, lon))
	default:
		return lat, lon
	}
}
