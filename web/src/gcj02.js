// WGS-84 to GCJ-02 conversion for display on GCJ-02 tiles (AMap and
// similar). The server stores every position in WGS-84, so the console
// converts overlays only when it draws them and converts drawn shapes back
// by sending them with the property crs: "gcj02".
//
// The forward formula is the public one on the Krasovsky 1940 ellipsoid.
// The server's Go version (geofence.WGS84ToGCJ02) uses the same constants,
// and the browser tests compare the two.

const KRASOVSKY_A = 6378245.0;
const KRASOVSKY_EE = 0.00669342162296594323;

// outsideChina reports whether a point lies outside the rectangle where
// the GCJ-02 shift applies. Outside it, GCJ-02 equals WGS-84.
export function outsideChina(lat, lon) {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function shiftLat(x, y) {
  let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320.0 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return r;
}

function shiftLon(x, y) {
  let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return r;
}

// wgs84ToGcj02 converts a WGS-84 point to GCJ-02. Arguments and result are
// degrees, the result as [lat, lon].
export function wgs84ToGcj02(lat, lon) {
  if (outsideChina(lat, lon)) {
    return [lat, lon];
  }
  let dLat = shiftLat(lon - 105.0, lat - 35.0);
  let dLon = shiftLon(lon - 105.0, lat - 35.0);
  const radLat = (lat / 180.0) * Math.PI;
  let magic = Math.sin(radLat);
  magic = 1 - KRASOVSKY_EE * magic * magic;
  const sqrtMagic = Math.sqrt(magic);
  dLat = (dLat * 180.0) / (((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sqrtMagic)) * Math.PI);
  dLon = (dLon * 180.0) / ((KRASOVSKY_A / sqrtMagic) * Math.cos(radLat) * Math.PI);
  return [lat + dLat, lon + dLon];
}

// gcj02ToWgs84 inverts the forward formula by iteration: shift a guess
// forward and move it by the remaining difference, until the forward image
// is within about 0.1 mm of the target (3 to 5 steps in China).
export function gcj02ToWgs84(lat, lon) {
  if (outsideChina(lat, lon)) {
    return [lat, lon];
  }
  let wLat = lat;
  let wLon = lon;
  for (let i = 0; i < 30; i++) {
    const [gLat, gLon] = wgs84ToGcj02(wLat, wLon);
    const dLat = gLat - lat;
    const dLon = gLon - lon;
    wLat -= dLat;
    wLon -= dLon;
    if (Math.abs(dLat) < 1e-9 && Math.abs(dLon) < 1e-9) {
      break;
    }
  }
  return [wLat, wLon];
}
