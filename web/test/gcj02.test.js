import { test } from "node:test";
import assert from "node:assert/strict";
import { wgs84ToGcj02, gcj02ToWgs84 } from "../src/gcj02.js";

test("shifts a Yongkang point by a few hundred metres", () => {
  const [lat, lon] = wgs84ToGcj02(28.85, 120.05);
  const dLat = (lat - 28.85) * 111320;
  const dLon = (lon - 120.05) * 111320 * Math.cos((28.85 * Math.PI) / 180);
  const shift = Math.hypot(dLat, dLon);
  assert.ok(shift > 200, `shift ${shift} m`);
  assert.ok(shift < 800, `shift ${shift} m`);
});

test("leaves a point outside China unchanged", () => {
  assert.deepEqual(wgs84ToGcj02(48.8566, 2.3522), [48.8566, 2.3522]);
});

test("inverse returns the original point", () => {
  const [gLat, gLon] = wgs84ToGcj02(28.9, 120.1);
  const [lat, lon] = gcj02ToWgs84(gLat, gLon);
  assert.ok(Math.abs(lat - 28.9) < 1e-8, `lat ${lat}`);
  assert.ok(Math.abs(lon - 120.1) < 1e-8, `lon ${lon}`);
});
