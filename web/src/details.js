// Vehicle details, shown when a marker is clicked: plate, driver, escort,
// the vehicle's cameras, the trip with its bookings (manifest numbers,
// waste codes, weights) and the vehicle's recent deviations.
import { get, query } from "./api.js";
import { cameraPanel, closeCameras, initCameras } from "./camera.js";
import { el, $ } from "./dom.js";
import { t, formatTime, currentLanguage } from "./i18n/index.js";
import { state, on, vehicleStatus } from "./state.js";
import { focusVehicle } from "./live.js";

let selected = "";
let loadSeq = 0;

export function initDetails() {
  initCameras();
  on("select-vehicle", (terminal) => {
    selected = terminal;
    focusVehicle(terminal);
    render();
  });
  on("position", (v) => {
    if (v.terminal === selected) {
      renderSummary();
    }
  });
}

function close() {
  selected = "";
  closeCameras();
  const box = $("vehicle-details");
  box.hidden = true;
  delete box.dataset.terminal;
}

async function render() {
  const box = $("vehicle-details");
  const v = state.vehicles.get(selected);
  if (!v) {
    close();
    return;
  }
  // A second click on the vehicle shown refreshes its trip and deviations
  // but keeps the camera panel in place: taking a playing video element
  // out of the page would pause it.
  if (box.hidden || box.dataset.terminal !== v.terminal) {
    box.hidden = false;
    box.dataset.terminal = v.terminal;
    box.replaceChildren(
      el("div", { class: "details-head" },
        el("h2", { id: "details-plate" }, v.plate || v.terminal),
        el("button", { type: "button", class: "link", onclick: close }, t("common.close"))),
      el("div", { id: "details-summary" }),
      cameraPanel(v.terminal),
      el("div", { id: "details-trip" }, t("common.loading")),
      el("div", { id: "details-deviations" }),
    );
  }
  renderSummary();

  const seq = ++loadSeq;
  try {
    const [trip, devs] = await Promise.all([
      v.trip_id ? get(`/api/v1/trips/${encodeURIComponent(v.trip_id)}`) : Promise.resolve(null),
      get("/api/v1/deviations" + query({ terminal: v.terminal, limit: 10 })),
    ]);
    if (seq !== loadSeq) {
      return;
    }
    $("details-trip").replaceChildren(tripSection(trip));
    $("details-deviations").replaceChildren(deviationSection(devs.deviations || []));
  } catch (err) {
    if (seq === loadSeq) {
      $("details-trip").replaceChildren(el("p", { class: "error" }, t("error.load", { message: err.message })));
    }
  }
}

function renderSummary() {
  const v = state.vehicles.get(selected);
  const box = $("details-summary");
  if (!v || !box) {
    return;
  }
  const fix = v.last_fix;
  const status = vehicleStatus(v);
  box.replaceChildren(
    el("dl", { class: "kv" },
      el("dt", {}, t("details.terminal")), el("dd", {}, v.terminal),
      el("dt", {}, t("details.status")), el("dd", {}, el("span", { class: `status-tag state-${status}` }, t(`status.${status}`))),
      el("dt", {}, t("details.lastFix")), el("dd", {}, fix ? formatTime(fix.time) : t("common.none")),
      el("dt", {}, t("details.speed")), el("dd", {}, fix && Number.isFinite(fix.speed) ? `${fix.speed.toFixed(1)} km/h` : "—"),
      el("dt", {}, t("details.position")), el("dd", {}, fix ? `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)}` : "—"),
    ),
  );
}

function tripSection(trip) {
  if (!trip) {
    return el("p", { class: "muted" }, t("details.noTrip"));
  }
  const bookings = trip.bookings || [];
  return el("div", { class: "trip" },
    el("h3", {}, t("details.trip")),
    el("dl", { class: "kv" },
      el("dt", {}, t("details.tripId")), el("dd", {}, trip.id),
      el("dt", {}, t("details.driver")), el("dd", { id: "details-driver" }, trip.driver),
      el("dt", {}, t("details.escort")), el("dd", { id: "details-escort" }, trip.escort),
      el("dt", {}, t("details.planned")), el("dd", {}, `${formatTime(trip.planned_start)} – ${formatTime(trip.planned_end)}`),
      el("dt", {}, t("details.corridor")), el("dd", {}, `${trip.corridor_m} m`),
    ),
    el("h3", {}, t("details.bookings", { count: bookings.length })),
    ...bookings.map(bookingBlock),
  );
}

function bookingBlock(b) {
  const wastes = b.wastes || [];
  return el("div", { class: "booking" },
    el("div", { class: "manifest" }, `${t("details.manifest")} `, el("strong", { class: "manifest-no" }, b.manifest_no)),
    el("div", { class: "shipper" }, b.shipper ? b.shipper.name : ""),
    el("table", { class: "table compact" },
      el("thead", {}, el("tr", {},
        el("th", {}, t("waste.code")), el("th", {}, t("waste.name")), el("th", {}, t("waste.form")),
        el("th", {}, t("waste.hazard")), el("th", {}, t("waste.packaging")), el("th", {}, t("waste.count")),
        el("th", {}, t("waste.weight")))),
      el("tbody", {}, ...wastes.map((w) => el("tr", {},
        el("td", { class: "waste-code" }, w.code), el("td", {}, w.name), el("td", {}, w.form),
        el("td", {}, w.hazard), el("td", {}, w.packaging), el("td", {}, String(w.count)),
        el("td", {}, Number(w.weight_kg).toFixed(1))))),
    ),
  );
}

function deviationSection(devs) {
  return el("div", {},
    el("h3", {}, t("details.recentDeviations")),
    devs.length === 0
      ? el("p", { class: "muted" }, t("common.none"))
      : el("ul", { class: "plain-list" }, ...devs.map((d) => el("li", {},
          el("span", { class: `kind-tag kind-${d.kind}` }, t(`kind.${d.kind}`)), " ",
          formatTime(d.started_at), " ",
          currentLanguage() === "en" ? d.text_en : d.text))),
  );
}
