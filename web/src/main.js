// Console entry point: sign-in, the view switcher and start-up of the
// live feed once a user is signed in.
import "leaflet/dist/leaflet.css";
import "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css";
import "./style.css";

import { ApiError, get, post, del, setCsrfToken } from "./api.js";
import { $, setOptions } from "./dom.js";
import { t, initLanguage, hasStoredLanguage, setLanguage, currentLanguage, languages, translatePage, onLanguageChange } from "./i18n/index.js";
import { createMap, getMap } from "./map.js";
import { state, hasRole } from "./state.js";
import { startLive, stopLive, showLiveLayer } from "./live.js";
import { initDetails } from "./details.js";
import { closeCameras } from "./camera.js";
import { initAlarms } from "./alarms.js";
import { initPlayback, showPlayback } from "./playback.js";
import { initZones } from "./zones.js";
import { initAdmin, loadAudit, loadUsers } from "./admin.js";
import { unlockAudio } from "./sound.js";

const VIEWS = ["live", "playback", "zones", "audit", "users"];
let started = false;

function fillLanguageSelects() {
  for (const select of document.querySelectorAll(".lang-select")) {
    setOptions(select, languages.map((l) => [l, t(`lang.${l}`)]));
    select.value = currentLanguage();
  }
}

function showLogin(message) {
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  const error = $("login-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("login-username").focus();
}

async function onLogin(e) {
  e.preventDefault();
  unlockAudio();
  const button = $("login-submit");
  button.disabled = true;
  try {
    const session = await post("/api/v1/session", {
      username: $("login-username").value.trim(),
      password: $("login-password").value,
    });
    $("login-password").value = "";
    await enter(session);
  } catch (err) {
    if (err instanceof ApiError && err.status === 429) {
      showLogin(t("login.tooMany", { seconds: err.retryAfter || 60 }));
    } else if (err instanceof ApiError && err.status === 401) {
      showLogin(t("login.failed"));
    } else {
      showLogin(t("error.load", { message: err.message }));
    }
  } finally {
    button.disabled = false;
  }
}

async function onLogout() {
  try {
    // Leave the camera streams while the session still authorizes it.
    await closeCameras();
    await del("/api/v1/session");
  } finally {
    stopLive();
    window.location.hash = "";
    window.location.reload();
  }
}

function applyRoles() {
  for (const node of document.querySelectorAll("[data-roles]")) {
    node.hidden = !hasRole(...node.dataset.roles.split(" "));
  }
}

function currentView() {
  const view = window.location.hash.replace(/^#/, "");
  if (!VIEWS.includes(view)) {
    return "live";
  }
  const link = document.querySelector(`#nav [data-view="${view}"]`);
  return link && link.hidden ? "live" : view;
}

function switchView() {
  const view = currentView();
  for (const link of document.querySelectorAll("#nav [data-view]")) {
    link.classList.toggle("active", link.dataset.view === view);
  }
  for (const panel of document.querySelectorAll("[data-panel]")) {
    panel.hidden = panel.dataset.panel !== view;
  }
  document.body.dataset.view = view;
  showLiveLayer(view !== "playback");
  showPlayback(view === "playback");
  if (view === "audit") loadAudit();
  if (view === "users") loadUsers();
  getMap().invalidateSize();
}

async function enter(session) {
  state.user = session.user;
  setCsrfToken(session.csrf_token);
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  const u = session.user;
  $("current-user").textContent = `${u.display_name || u.username} · ${t(`role.${u.role}`)}`;
  applyRoles();
  if (started) {
    return;
  }
  started = true;
  state.config = await get("/api/v1/console/config");
  if (!hasStoredLanguage() && state.config.default_language) {
    initLanguage(state.config.default_language);
    translatePage();
    fillLanguageSelects();
  }
  createMap($("map"), state.config);
  initDetails();
  initAlarms();
  initPlayback();
  initAdmin();
  window.addEventListener("hashchange", switchView);
  switchView();
  await Promise.all([startLive(), initZones()]);
  document.body.dataset.ready = "true";
}

async function boot() {
  initLanguage("zh-CN");
  translatePage();
  fillLanguageSelects();
  for (const select of document.querySelectorAll(".lang-select")) {
    select.addEventListener("change", (e) => setLanguage(e.target.value));
  }
  onLanguageChange(() => {
    translatePage();
    fillLanguageSelects();
    if (state.user) {
      $("current-user").textContent = `${state.user.display_name || state.user.username} · ${t(`role.${state.user.role}`)}`;
    }
  });
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);

  let session = null;
  try {
    session = await get("/api/v1/session");
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) {
      showLogin(t("error.load", { message: err.message }));
      return;
    }
  }
  if (!session) {
    showLogin("");
    return;
  }
  try {
    await enter(session);
  } catch (err) {
    showLogin(t("error.load", { message: err.message }));
  }
}

boot();
