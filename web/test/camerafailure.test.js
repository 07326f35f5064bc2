import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  describeWhepResponse, summarizeIceStats, formatCandidate, splitRelayCandidate,
  FAILURE_REASONS, ERROR_CODES, PAIR_STATES,
} from "../src/camerafailure.js";

const catalogue = (name) => JSON.parse(readFileSync(new URL(`../src/i18n/${name}.json`, import.meta.url), "utf8"));

test("ICE failure keeps the reason and the relay's candidates", () => {
  const body = JSON.stringify({ error: {
    code: "stream_unavailable",
    message: "camera channel 2 of T1: camera stream failed (ice_failed): not established within 8s",
    failure: { reason: "ice_failed", message: "not established within 8s",
      candidates: ["local udp 127.0.0.1:8189 host", "remote udp 10.20.0.7:50000 host"], at: "2026-12-04T08:31:10Z" },
  } });
  const d = describeWhepResponse(503, "application/json; charset=utf-8", body);
  assert.equal(d.key, "camera.reason.ice_failed");
  assert.deepEqual(d.candidates, ["local udp 127.0.0.1:8189 host", "remote udp 10.20.0.7:50000 host"]);
  assert.match(d.detail, /ice_failed/);
});

test("vehicle error passes the unit's own message", () => {
  const body = JSON.stringify({ error: { code: "stream_unavailable", message: "x",
    failure: { reason: "vehicle_error", message: "camera 3 is not connected" } } });
  const d = describeWhepResponse(503, "application/json", body);
  assert.equal(d.key, "camera.reason.vehicle_error");
  assert.equal(d.params.message, "camera 3 is not connected");
  assert.deepEqual(d.candidates, []);
});

test("error codes without a failure map to their message", () => {
  for (const [status, code] of [[404, "not_found"], [409, "vehicle_offline"], [400, "invalid_sdp"], [403, "csrf"]]) {
    const d = describeWhepResponse(status, "application/json", JSON.stringify({ error: { code, message: "m" } }));
    assert.equal(d.key, `camera.error.${code}`, `status ${status}`);
  }
});

test("unknown code shows the status and the server's message", () => {
  const d = describeWhepResponse(500, "application/json", JSON.stringify({ error: { code: "internal", message: "database is locked" } }));
  assert.equal(d.key, "camera.error.http");
  assert.deepEqual(d.params, { status: 500, message: "database is locked" });
});

test("text body is shown shortened", () => {
  const d = describeWhepResponse(502, "text/plain", "Bad Gateway\n" + "x".repeat(500));
  assert.equal(d.key, "camera.error.http");
  assert.equal(d.params.status, 502);
  assert.ok(d.params.message.startsWith("Bad Gateway"));
  assert.equal(d.params.message.length, 200);
});

test("JSON content type with a broken body falls back to text", () => {
  const d = describeWhepResponse(503, "application/json", "{not json");
  assert.equal(d.key, "camera.error.http");
  assert.equal(d.params.message, "{not json");
});

test("ICE stats become pairs with their candidates", () => {
  const reports = [
    { id: "T01", type: "transport" },
    { id: "L1", type: "local-candidate", candidateType: "host", protocol: "udp", address: "127.0.0.1", port: 50123 },
    { id: "L2", type: "local-candidate", candidateType: "relay", protocol: "udp", relayProtocol: "tcp", address: "198.51.100.4", port: 3478 },
    { id: "R1", type: "remote-candidate", candidateType: "host", protocol: "udp", address: "127.0.0.1", port: 8189 },
    { id: "P1", type: "candidate-pair", localCandidateId: "L2", remoteCandidateId: "R1", state: "waiting" },
    { id: "P2", type: "candidate-pair", localCandidateId: "L1", remoteCandidateId: "R1", state: "failed", nominated: false },
    { id: "P3", type: "candidate-pair", localCandidateId: "L9", remoteCandidateId: "R1", state: "frozen" },
  ];
  const s = summarizeIceStats(reports);
  assert.equal(s.local.length, 2);
  assert.equal(s.remote.length, 1);
  assert.deepEqual(s.pairs.map((p) => p.state), ["failed", "waiting", "frozen"]);
  assert.equal(formatCandidate(s.pairs[0].local), "host udp 127.0.0.1:50123");
  assert.equal(formatCandidate(s.pairs[0].remote), "host udp 127.0.0.1:8189");
  assert.equal(formatCandidate(s.pairs[1].local), "relay udp/tcp 198.51.100.4:3478");
  assert.equal(s.pairs[2].local, null, "a pair whose candidate is missing keeps a null side");
  assert.equal(formatCandidate(s.pairs[2].local), "?");
});

test("candidate without an address or with IPv6", () => {
  assert.equal(formatCandidate({ type: "host", protocol: "udp", address: "", port: 9 }), "host udp ?:9");
  assert.equal(formatCandidate({ type: "host", protocol: "tcp", address: "::1", port: 8189 }), "host tcp [::1]:8189");
  assert.equal(formatCandidate({ type: "srflx", protocol: "udp", address: "203.0.113.5", port: "" }), "srflx udp 203.0.113.5");
});

test("relay candidate summaries split by side", () => {
  assert.deepEqual(splitRelayCandidate("local udp 127.0.0.1:8189 host"), { side: "local", rest: "udp 127.0.0.1:8189 host" });
  assert.deepEqual(splitRelayCandidate("remote tcp 10.0.0.7:9 host"), { side: "remote", rest: "tcp 10.0.0.7:9 host" });
  assert.deepEqual(splitRelayCandidate("candidate:1 1 udp"), { side: "", rest: "candidate:1 1 udp" });
});

test("every reason, code and pair state has a message in both languages", () => {
  for (const name of ["zh-CN", "en"]) {
    const messages = catalogue(name);
    const keys = [
      ...FAILURE_REASONS.map((r) => `camera.reason.${r}`),
      ...ERROR_CODES.map((c) => `camera.error.${c}`),
      ...PAIR_STATES.map((s) => `camera.pairState.${s}`),
      "camera.error.http", "camera.error.network", "camera.error.browser",
      "camera.browserIce.failed", "camera.browserIce.timeout",
    ];
    for (const key of keys) {
      assert.ok(messages[key], `${name}.json has no ${key}`);
    }
  }
});
