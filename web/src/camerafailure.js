// Turns camera failures into message keys with parameters: a WHEP response
// other than 201, and the ICE candidate statistics of a browser connection
// that did not connect. The module touches neither the DOM nor the message
// catalogues, so Node's test runner checks it directly.

// Stream failure reasons the relay reports in error.failure.reason. Each
// has a camera.reason.* message.
export const FAILURE_REASONS = [
  "offline", "no_offer", "vehicle_error", "bad_offer", "ice_failed",
  "no_media", "disconnected", "rtp_timeout", "relay_error",
];

// Error codes of the WHEP endpoint without a failure object. Each has a
// camera.error.* message.
export const ERROR_CODES = [
  "not_found", "vehicle_offline", "stream_unavailable", "invalid_sdp",
  "unsupported_media_type", "too_large", "unauthorized", "forbidden", "csrf", "rate_limited",
];

// ICE candidate pair states of the WebRTC statistics API. Each has a
// camera.pairState.* message.
export const PAIR_STATES = ["frozen", "waiting", "in-progress", "failed", "succeeded"];

// MAX_TEXT is how much of a plain-text error body the panel shows.
const MAX_TEXT = 200;

// describeWhepResponse returns {key, params, detail, candidates} for a WHEP
// response that was not 201. key and params select the message the panel
// shows in the user's language. detail is the server's own English message
// and candidates the relay's ICE candidates towards the vehicle, when the
// body has them.
export function describeWhepResponse(status, contentType, bodyText) {
  const text = (bodyText || "").trim();
  let error = null;
  if ((contentType || "").includes("json")) {
    try {
      error = JSON.parse(text).error || null;
    } catch {
      error = null;
    }
  }
  if (!error) {
    return {
      key: "camera.error.http",
      params: { status, message: text.slice(0, MAX_TEXT) || "—" },
      detail: text.slice(0, MAX_TEXT),
      candidates: [],
    };
  }

  const failure = error.failure || null;
  const detail = error.message || "";
  if (failure && FAILURE_REASONS.includes(failure.reason)) {
    return {
      key: `camera.reason.${failure.reason}`,
      params: { message: failure.message || "" },
      detail,
      candidates: Array.isArray(failure.candidates) ? failure.candidates : [],
    };
  }
  if (ERROR_CODES.includes(error.code)) {
    return { key: `camera.error.${error.code}`, params: { message: detail }, detail, candidates: [] };
  }
  return {
    key: "camera.error.http",
    params: { status, message: detail || error.code || "—" },
    detail,
    candidates: [],
  };
}

// summarizeIceStats picks the ICE candidates and candidate pairs out of
// the reports of RTCPeerConnection.getStats(). It returns
// {pairs: [{local, remote, state, nominated}], local: [...], remote: [...]}
// where each candidate is {type, protocol, address, port, relayProtocol}.
// Pairs come first by state, so succeeded and failed checks lead the list.
export function summarizeIceStats(reports) {
  const candidates = new Map();
  const local = [];
  const remote = [];
  const rawPairs = [];
  for (const r of reports) {
    if (r.type === "local-candidate" || r.type === "remote-candidate") {
      const c = {
        type: r.candidateType || "",
        protocol: r.protocol || "",
        // Chromium names the field address; older versions used ip.
        address: r.address || r.ip || "",
        port: r.port ?? "",
        relayProtocol: r.relayProtocol || "",
      };
      candidates.set(r.id, c);
      (r.type === "local-candidate" ? local : remote).push(c);
    } else if (r.type === "candidate-pair") {
      rawPairs.push(r);
    }
  }

  const order = ["succeeded", "in-progress", "failed", "waiting", "frozen"];
  const rank = (state) => {
    const i = order.indexOf(state);
    return i < 0 ? order.length : i;
  };
  const pairs = rawPairs
    .map((p) => ({
      local: candidates.get(p.localCandidateId) || null,
      remote: candidates.get(p.remoteCandidateId) || null,
      state: p.state || "",
      nominated: Boolean(p.nominated),
    }))
    .sort((a, b) => rank(a.state) - rank(b.state));
  return { pairs, local, remote };
}

// formatCandidate writes a candidate the way the relay does in its
// failures: type, protocol, then address and port, such as
// "host udp 127.0.0.1:8189". A browser that hides its address behind mDNS
// reports none, which shows as "?".
export function formatCandidate(c) {
  if (!c) {
    return "?";
  }
  const protocol = c.relayProtocol ? `${c.protocol}/${c.relayProtocol}` : c.protocol;
  let host = "?";
  if (c.address) {
    host = c.address.includes(":") ? `[${c.address}]` : c.address;
  }
  const port = c.port === "" ? "" : `:${c.port}`;
  return [c.type, protocol, `${host}${port}`].filter(Boolean).join(" ");
}

// splitRelayCandidate splits one of the relay's candidate summaries,
// "local udp 127.0.0.1:8189 host" or "remote udp 10.0.0.7:50000 host",
// into the side (local is the relay, remote the vehicle) and the rest.
// A summary without a known side keeps its whole text in rest.
export function splitRelayCandidate(summary) {
  const text = String(summary);
  const space = text.indexOf(" ");
  const side = space > 0 ? text.slice(0, space) : "";
  if (side === "local" || side === "remote") {
    return { side, rest: text.slice(space + 1) };
  }
  return { side: "", rest: text };
}
