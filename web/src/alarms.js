// Alarm panel: deviations filtered by kind, vehicle, state and time. New
// open deviations from the live feed arrive highlighted with a short tone,
// and regulators acknowledge and handle them with a comment.
import { get, post, query } from "./api.js";
import { el, $, setOptions, localInputToISO } from "./dom.js";
import { t, formatTime, currentLanguage, onLanguageChange } from "./i18n/index.js";
import { state, on, emit, hasRole, plateOf } from "./state.js";
import { playAlarmTone } from "./sound.js";

export const KINDS = [
  "route_deviation", "restricted_zone", "overspeed", "long_stop",
  "signal_loss", "trip_overtime", "device_alarm", "video_loss",
];
const LIST_LIMIT = 200;

// listed contains the deviations that match the current filters, newest first.
let listed = [];
const highlighted = new Set();
// firstShown maps a deviation id to the time (ms since the epoch) the panel
// first listed it. The browser tests read it to measure alarm latency.
const firstShown = new Map();
let loadSeq = 0;

export function initAlarms() {
  fillFilters();
  for (const id of ["alarm-kind", "alarm-vehicle", "alarm-state", "alarm-from", "alarm-to"]) {
    $(id).addEventListener("change", () => load());
  }
  on("fleet", fillVehicleFilter);
  on("deviations-reloaded", () => load());
  on("deviation", ({ deviation, isNew }) => receive(deviation, isNew));
  onLanguageChange(() => {
    fillFilters();
    render();
  });
}

function fillFilters() {
  setOptions($("alarm-kind"), [["", t("filter.allKinds")], ...KINDS.map((k) => [k, t(`kind.${k}`)])]);
  const stateSelect = $("alarm-state");
  const firstFill = stateSelect.options.length === 0;
  setOptions(stateSelect, [["open", t("alarms.stateOpen")], ["", t("alarms.stateAll")], ["closed", t("alarms.stateClosed")]]);
  if (firstFill) {
    stateSelect.value = "open";
  }
  fillVehicleFilter();
}

function fillVehicleFilter() {
  const vehicles = [...state.vehicles.values()].sort((a, b) => a.terminal.localeCompare(b.terminal));
  setOptions($("alarm-vehicle"), [["", t("filter.allVehicles")], ...vehicles.map((v) => [v.terminal, v.plate || v.terminal])]);
}

function filters() {
  return {
    kind: $("alarm-kind").value,
    terminal: $("alarm-vehicle").value,
    state: $("alarm-state").value,
    from: localInputToISO($("alarm-from").value),
    to: localInputToISO($("alarm-to").value),
  };
}

function matches(d, f) {
  if (f.kind && d.kind !== f.kind) return false;
  if (f.terminal && d.terminal !== f.terminal) return false;
  if (f.state && d.state !== f.state) return false;
  if (f.from && Date.parse(d.started_at) < Date.parse(f.from)) return false;
  if (f.to && Date.parse(d.started_at) >= Date.parse(f.to)) return false;
  return true;
}

async function load() {
  const seq = ++loadSeq;
  try {
    const resp = await get("/api/v1/deviations" + query({ ...filters(), limit: LIST_LIMIT }));
    if (seq !== loadSeq) {
      return;
    }
    listed = resp.deviations || [];
    for (const d of listed) {
      if (d.state === "open") {
        state.deviations.set(d.id, d);
      }
    }
    render();
  } catch (err) {
    $("alarm-list").replaceChildren(el("li", { class: "error" }, t("error.load", { message: err.message })));
  }
}

// receive merges a deviation from the live feed or from an action's
// response into the list.
function receive(d, isNew) {
  const i = listed.findIndex((x) => x.id === d.id);
  if (i >= 0) {
    listed[i] = d;
  } else if (matches(d, filters())) {
    listed.unshift(d);
    listed.sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at));
    listed.length = Math.min(listed.length, LIST_LIMIT);
  } else if (d.state === "closed" && $("alarm-state").value === "open") {
    listed = listed.filter((x) => x.id !== d.id);
  }
  if (isNew && d.state === "open") {
    highlighted.add(d.id);
    playAlarmTone();
  }
  render();
}

function handlingOf(d) {
  return d.handling && d.handling.status ? d.handling : { status: "new" };
}

function render() {
  const list = $("alarm-list");
  const open = [...state.deviations.values()].filter((d) => d.state === "open").length;
  $("alarm-count").textContent = String(open);
  if (listed.length === 0) {
    list.replaceChildren(el("li", { class: "muted" }, t("alarms.empty")));
    return;
  }
  list.replaceChildren(...listed.map(item));
}

function item(d) {
  const h = handlingOf(d);
  const classes = ["alarm", `alarm-${d.state}`, `handling-${h.status}`];
  if (highlighted.has(d.id)) {
    classes.push("alarm-highlight");
  }
  if (!firstShown.has(d.id)) {
    firstShown.set(d.id, Date.now());
  }
  const node = el("li", { class: classes.join(" "), dataset: { id: d.id, kind: d.kind, terminal: d.terminal, shownAt: firstShown.get(d.id) } },
    el("div", { class: "alarm-head" },
      el("span", { class: `kind-tag kind-${d.kind}` }, t(`kind.${d.kind}`)),
      el("strong", { class: "alarm-plate" }, plateOf(d.terminal)),
      d.late ? el("span", { class: "late-tag", title: t("alarms.lateHelp") }, t("alarms.late")) : null,
      el("span", { class: `handling-tag handling-${h.status}` }, t(`handling.${h.status}`)),
    ),
    el("div", { class: "alarm-text" }, currentLanguage() === "en" ? d.text_en : d.text),
    el("div", { class: "alarm-time muted" },
      formatTime(d.started_at),
      d.ended_at ? ` – ${formatTime(d.ended_at)}` : ` · ${t("alarms.ongoing")}`),
    handlingNote(h),
    actions(d, h),
  );
  node.addEventListener("click", (e) => {
    if (e.target.closest("button, textarea, input, form")) {
      return;
    }
    highlighted.delete(d.id);
    node.classList.remove("alarm-highlight");
    emit("select-vehicle", d.terminal);
  });
  return node;
}

function handlingNote(h) {
  if (h.status === "new") {
    return null;
  }
  const parts = [];
  if (h.acked_by) parts.push(t("alarms.ackedBy", { user: h.acked_by, at: formatTime(h.acked_at) }));
  if (h.handled_by) parts.push(t("alarms.handledBy", { user: h.handled_by, at: formatTime(h.handled_at) }));
  if (h.result) parts.push(`${t("alarms.result")}: ${h.result}`);
  if (h.comment) parts.push(`${t("alarms.comment")}: ${h.comment}`);
  return el("div", { class: "alarm-handling muted" }, parts.join(" · "));
}

function actions(d, h) {
  if (!hasRole("regulator", "admin") || h.status === "handled") {
    return null;
  }
  const box = el("div", { class: "alarm-actions" });
  if (h.status === "new") {
    box.append(el("button", { type: "button", class: "ack-button", onclick: () => openForm(box, d, "ack") }, t("alarms.ack")));
  }
  box.append(el("button", { type: "button", class: "handle-button secondary", onclick: () => openForm(box, d, "handle") }, t("alarms.handle")));
  return box;
}

function openForm(box, d, action) {
  const comment = el("textarea", { class: "comment-input", rows: 2, maxlength: 1000, placeholder: t("alarms.commentPlaceholder") });
  const result = action === "handle"
    ? el("input", { class: "result-input", list: "handling-results", maxlength: 200, placeholder: t("alarms.resultPlaceholder"), required: true })
    : null;
  const error = el("p", { class: "error", hidden: true });
  const form = el("form", { class: "action-form" },
    result,
    el("datalist", { id: "handling-results" },
      el("option", { value: t("alarms.resultVerified") }), el("option", { value: t("alarms.resultFalse") })),
    comment,
    error,
    el("div", { class: "row" },
      el("button", { type: "submit", class: "confirm-button" }, action === "ack" ? t("alarms.confirmAck") : t("alarms.confirmHandle")),
      el("button", { type: "button", class: "secondary", onclick: () => render() }, t("common.cancel"))),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { comment: comment.value.trim() };
    if (result) {
      body.result = result.value.trim();
    }
    try {
      const updated = await post(`/api/v1/deviations/${encodeURIComponent(d.id)}/${action}`, body);
      highlighted.delete(d.id);
      if (updated.state === "open") {
        state.deviations.set(updated.id, updated);
      }
      receive(updated, false);
    } catch (err) {
      error.hidden = false;
      error.textContent = t("error.action", { message: err.message });
    }
  });
  box.replaceChildren(form);
  (result || comment).focus();
}
