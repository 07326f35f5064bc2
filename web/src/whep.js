// WHEP client for one camera channel: a receive-only peer connection whose
// offer is POSTed to the server, which returns the SDP answer once the
// vehicle's stream is live. The viewer resource from the Location header
// is deleted when the session stops, so the relay can stop the vehicle's
// upload.
import { csrfHeaders } from "./api.js";
import { describeWhepResponse, summarizeIceStats } from "./camerafailure.js";

// GATHER_TIMEOUT_MS bounds ICE gathering. The endpoint takes no trickled
// candidates, so the offer waits for gathering to complete. A browser
// that never completes (an unreachable STUN server, say) sends the
// candidates it has by then.
const GATHER_TIMEOUT_MS = 5000;

// CONNECT_TIMEOUT_MS bounds the wait from the server's SDP answer until
// the browser's connection to the relay is up. In the browser test,
// Chromium was still checking a pair to a silent port after 10 s, longer
// than a regulator waits for a picture.
const CONNECT_TIMEOUT_MS = 10000;

// CameraFailure is a session that failed: description is what
// describeWhepResponse returns (key, params, detail, candidates), and ice
// the summary of the browser's own candidate pairs when the browser could
// not reach the relay.
export class CameraFailure extends Error {
  constructor(description, ice) {
    super(description.detail || description.key);
    this.description = description;
    this.ice = ice || null;
  }
}

// WhepSession plays one channel into a video element. onState receives
// "connecting", "playing", "stopped" or "failed" (with a CameraFailure).
export class WhepSession {
  constructor(endpoint, video, onState) {
    this.endpoint = endpoint;
    this.video = video;
    this.onState = onState;
    this.pc = null;
    this.location = "";
    this.abort = new AbortController();
    this.connectTimer = 0;
    this.ended = false;
    this.onPlaying = () => this.emit("playing");
  }

  emit(state) {
    if (!this.ended) {
      this.onState(state);
    }
  }

  // start opens the session. Failures are reported through onState, not
  // thrown.
  async start() {
    this.emit("connecting");
    try {
      await this.negotiate();
    } catch (err) {
      if (this.ended) {
        return;
      }
      const failure = err instanceof CameraFailure
        ? err
        : new CameraFailure({ key: "camera.error.browser", params: { message: err.message || String(err) }, detail: String(err), candidates: [] });
      this.end("failed", failure);
    }
  }

  async negotiate() {
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = (e) => {
      this.video.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    };
    pc.onconnectionstatechange = () => this.connectionChanged();
    this.video.addEventListener("playing", this.onPlaying);

    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    if (this.ended) {
      return;
    }

    let resp;
    try {
      resp = await fetch(this.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", Accept: "application/sdp, application/json", ...csrfHeaders() },
        credentials: "same-origin",
        body: pc.localDescription.sdp,
        signal: this.abort.signal,
      });
    } catch (err) {
      if (this.ended) {
        return;
      }
      throw new CameraFailure({ key: "camera.error.network", params: { message: err.message }, detail: String(err), candidates: [] });
    }
    const body = await resp.text();
    if (resp.status !== 201) {
      throw new CameraFailure(describeWhepResponse(resp.status, resp.headers.get("Content-Type"), body));
    }
    this.location = resp.headers.get("Location") || "";
    if (this.ended) {
      // Stopped while the server was starting the stream: leave at once.
      this.deleteViewer();
      return;
    }
    await pc.setRemoteDescription({ type: "answer", sdp: body });
    if (pc.connectionState !== "connected") {
      this.connectTimer = setTimeout(() => this.iceFailed(), CONNECT_TIMEOUT_MS);
    }
  }

  connectionChanged() {
    const state = this.pc ? this.pc.connectionState : "closed";
    if (state === "connected") {
      clearTimeout(this.connectTimer);
    } else if (state === "failed") {
      this.iceFailed();
    }
  }

  // iceFailed ends the session with a summary of the candidate pairs the
  // browser tried, read before the peer connection closes.
  async iceFailed() {
    if (this.ended || !this.pc) {
      return;
    }
    let ice = { pairs: [], local: [], remote: [] };
    try {
      const stats = await this.pc.getStats();
      ice = summarizeIceStats([...stats.values()]);
    } catch {
      // A closed connection has no statistics; the summary stays empty.
    }
    if (this.ended) {
      return;
    }
    const outcome = this.pc.connectionState === "failed" ? "failed" : "timeout";
    const description = { key: `camera.browserIce.${outcome}`, params: { seconds: CONNECT_TIMEOUT_MS / 1000 }, detail: "", candidates: [] };
    this.end("failed", new CameraFailure(description, ice));
  }

  // stop ends the session on the user's request, or when the panel
  // closes or the page unloads. The promise settles when the WHEP DELETE
  // has its response.
  stop() {
    return this.end("stopped");
  }

  end(state, failure) {
    if (this.ended) {
      return Promise.resolve();
    }
    this.ended = true;
    clearTimeout(this.connectTimer);
    this.abort.abort();
    this.video.removeEventListener("playing", this.onPlaying);
    this.video.srcObject = null;
    if (this.pc) {
      this.pc.close();
    }
    const left = this.deleteViewer();
    this.onState(state, failure);
    return left;
  }

  // deleteViewer sends the WHEP DELETE. keepalive lets the request finish
  // when the page is unloading.
  deleteViewer() {
    if (!this.location) {
      return Promise.resolve();
    }
    const url = this.location;
    this.location = "";
    return fetch(url, { method: "DELETE", headers: csrfHeaders(), credentials: "same-origin", keepalive: true })
      .catch((err) => console.warn("camera: leaving the stream failed", url, err));
  }
}

function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
