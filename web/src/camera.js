// Camera panel of the vehicle details: one row per camera channel with a
// play button, the video, the connection state and, on failure, the reason
// in the user's language. A stream starts only on a click, because every
// stream costs the truck cellular data.
import { get } from "./api.js";
import { el } from "./dom.js";
import { t, hasMessage, currentLanguage, onLanguageChange } from "./i18n/index.js";
import { WhepSession } from "./whep.js";
import { formatCandidate, splitRelayCandidate } from "./camerafailure.js";

// panel is the open camera panel: the vehicle, its root element, one view
// per channel and the timer of the status poll. Only one vehicle's panel
// exists at a time.
let panel = null;

// STATUS_POLL_MS is how often the panel reads the relay's channel states
// while a stream plays. When a vehicle's connection drops, the relay keeps
// the viewer connected while it starts the stream again. The picture then
// freezes without any event in the browser, so the panel learns why from
// the relay's channel state.
const STATUS_POLL_MS = 3000;

export function initCameras() {
  // Leave every stream when the page goes away, so the relay stops the
  // vehicle's upload after its grace period instead of waiting for the
  // connection to time out.
  window.addEventListener("pagehide", closeCameras);
  onLanguageChange(() => {
    if (panel) {
      for (const view of panel.views.values()) {
        renderChannel(view);
      }
      renderNotes();
    }
  });
}

// cameraPanel returns the camera panel of a vehicle. The panel of the
// vehicle already shown is returned as it is, with its streams playing;
// any other vehicle's panel is closed first.
export function cameraPanel(terminal) {
  if (panel && panel.terminal === terminal) {
    return panel.node;
  }
  closeCameras();
  const node = el("div", { class: "cameras", id: "details-cameras", dataset: { terminal } },
    el("h3", { "data-i18n": "camera.title" }, t("camera.title")),
    el("p", { class: "muted camera-note" }, t("common.loading")),
    el("div", { class: "camera-list" }));
  panel = { terminal, node, views: new Map(), online: true, loadError: null, pollTimer: 0 };
  loadChannels(panel);
  return node;
}

// closeCameras stops every stream of the open panel and drops the panel.
// The promise settles when the server has seen every viewer leave.
export function closeCameras() {
  if (!panel) {
    return Promise.resolve();
  }
  const left = [];
  for (const view of panel.views.values()) {
    if (view.session) {
      left.push(view.session.stop());
    }
  }
  clearInterval(panel.pollTimer);
  panel = null;
  return Promise.allSettled(left);
}

async function loadChannels(p) {
  let list;
  try {
    list = await get(`/api/v1/vehicles/${encodeURIComponent(p.terminal)}/cameras`);
  } catch (err) {
    if (panel === p) {
      p.loadError = err;
      renderNotes();
    }
    return;
  }
  if (panel !== p) {
    return;
  }
  p.online = Boolean(list.online);
  const listNode = p.node.querySelector(".camera-list");
  for (const info of list.channels || []) {
    const view = channelView(info);
    p.views.set(info.channel, view);
    listNode.append(view.node);
    renderChannel(view);
  }
  renderNotes();
}

// renderNotes shows the line under the heading: why no channels are
// listed, or that the vehicle is offline.
function renderNotes() {
  const note = panel.node.querySelector(".camera-note");
  let text = "";
  if (panel.loadError) {
    text = panel.loadError.status === 404 ? t("camera.unavailable") : t("error.load", { message: panel.loadError.message });
  } else if (panel.views.size === 0) {
    text = t("camera.none");
  } else if (!panel.online) {
    text = t("camera.offline");
  } else {
    text = t("camera.hint");
  }
  note.textContent = text;
}

function channelView(info) {
  const video = el("video", { class: "camera-video", hidden: true });
  // Muted video may play without a user gesture, and a camera has no
  // sound track anyway.
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  const view = {
    channel: info.channel,
    info,
    state: "idle",
    failure: null,
    // interruption is the relay's last failure while it starts a playing
    // stream again, or null.
    interruption: null,
    session: null,
    name: el("span", { class: "camera-name" }),
    stateTag: el("span", { class: "camera-state" }),
    button: el("button", { type: "button", class: "camera-play secondary" }),
    video,
    reason: el("div", { class: "camera-reason", hidden: true }),
  };
  view.button.addEventListener("click", () => toggle(view));
  video.addEventListener("resize", () => renderChannel(view));
  view.node = el("div", { class: "camera", dataset: { channel: String(info.channel) } },
    el("div", { class: "camera-head" }, view.name, view.stateTag, view.button),
    video,
    view.reason);
  return view;
}

function toggle(view) {
  if (view.session) {
    view.session.stop();
    return;
  }
  const endpoint = `/api/v1/video/${encodeURIComponent(panel.terminal)}/${view.channel}/whep`;
  const session = new WhepSession(endpoint, view.video, (state, failure) => {
    if (view.session !== session) {
      return;
    }
    view.state = state;
    view.failure = failure || null;
    if (state === "stopped" || state === "failed") {
      view.session = null;
      view.interruption = null;
    }
    renderChannel(view);
    updatePolling();
  });
  view.session = session;
  view.failure = null;
  session.start();
}

// updatePolling runs the status poll while any channel plays.
function updatePolling() {
  const playing = [...panel.views.values()].some((v) => v.state === "playing");
  if (playing && !panel.pollTimer) {
    panel.pollTimer = setInterval(() => pollStatus(panel), STATUS_POLL_MS);
  } else if (!playing && panel.pollTimer) {
    clearInterval(panel.pollTimer);
    panel.pollTimer = 0;
  }
}

// pollStatus marks each playing channel whose stream the relay is
// starting again, with the reason it dropped.
async function pollStatus(p) {
  let list;
  try {
    list = await get(`/api/v1/vehicles/${encodeURIComponent(p.terminal)}/cameras`);
  } catch (err) {
    console.warn("camera: reading the channel states failed", err);
    return;
  }
  if (panel !== p) {
    return;
  }
  p.online = Boolean(list.online);
  for (const info of list.channels || []) {
    const view = p.views.get(info.channel);
    if (!view) {
      continue;
    }
    view.info = info;
    const restarting = view.state === "playing" && (info.state === "retrying" || info.state === "starting");
    view.interruption = restarting ? (info.last_failure || { reason: "", message: "" }) : null;
    renderChannel(view);
  }
  renderNotes();
}

function channelName(info) {
  const key = `camera.channel.${info.channel}`;
  if (hasMessage(key)) {
    return t(key);
  }
  return currentLanguage() === "en" ? info.name : info.name_zh;
}

function renderChannel(view) {
  const shownState = view.interruption ? "reconnecting" : view.state;
  view.node.dataset.state = shownState;
  view.name.textContent = `${view.channel} · ${channelName(view.info)}`;
  let stateText = t(`camera.state.${shownState}`);
  if (shownState === "playing" && view.video.videoWidth > 0) {
    stateText += ` · ${view.video.videoWidth}×${view.video.videoHeight}`;
  }
  view.stateTag.textContent = stateText;
  const active = view.state === "connecting" || view.state === "playing";
  view.button.textContent = active ? t("camera.stop") : t("camera.play");
  view.button.classList.toggle("secondary", !active);
  view.video.hidden = !active;

  if (view.failure) {
    view.node.dataset.reason = view.failure.description.key;
  } else {
    delete view.node.dataset.reason;
  }
  view.reason.hidden = !view.failure && !view.interruption;
  if (view.failure) {
    view.reason.replaceChildren(...failureNodes(view.failure));
  } else if (view.interruption) {
    view.reason.replaceChildren(el("p", { class: "camera-warning" }, interruptionText(view.interruption)));
  } else {
    view.reason.replaceChildren();
  }
  view.reason.title = view.failure ? view.failure.description.detail : (view.interruption?.message || "");
}

// interruptionText returns the notice of a playing channel whose stream
// the relay is starting again, with the reason it dropped.
function interruptionText(f) {
  const key = `camera.reason.${f.reason}`;
  const reason = f.reason && hasMessage(key) ? t(key, { message: f.message }) : f.message;
  return reason ? t("camera.reconnecting", { reason }) : t("camera.reconnectingNoReason");
}

// failureNodes writes a failure in plain words: the reason, then the
// candidates the relay and the vehicle offered, then the pairs the browser
// tried when it could not reach the relay.
function failureNodes(failure) {
  const d = failure.description;
  const nodes = [el("p", { class: "error camera-reason-text" }, t(d.key, d.params))];
  if (d.candidates.length > 0) {
    nodes.push(el("p", { class: "muted" }, t("camera.relayCandidates")));
    nodes.push(el("ul", { class: "camera-candidates" }, ...d.candidates.map((c) => {
      const { side, rest } = splitRelayCandidate(c);
      return el("li", {}, side ? `${t(`camera.side.${side}`)} ${rest}` : rest);
    })));
  }
  const ice = failure.ice;
  if (ice) {
    if (ice.pairs.length > 0) {
      nodes.push(el("p", { class: "muted" }, t("camera.browserPairs")));
      nodes.push(el("ul", { class: "camera-candidates camera-pairs" }, ...ice.pairs.map((p) => el("li", {},
        t("camera.pair", {
          local: formatCandidate(p.local),
          remote: formatCandidate(p.remote),
          state: hasMessage(`camera.pairState.${p.state}`) ? t(`camera.pairState.${p.state}`) : p.state,
        })))));
    } else {
      nodes.push(el("p", { class: "muted" }, t("camera.noPairs")));
    }
    nodes.push(el("p", { class: "muted" }, t("camera.browserCandidates", {
      local: ice.local.map(formatCandidate).join(", ") || t("common.none"),
      remote: ice.remote.map(formatCandidate).join(", ") || t("common.none"),
    })));
  }
  return nodes;
}
