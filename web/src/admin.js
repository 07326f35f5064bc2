// Audit log (admin, regulator) and console users (admin).
import { get, post, query } from "./api.js";
import { el, $, setOptions, localInputToISO } from "./dom.js";
import { t, hasMessage, formatTime, onLanguageChange } from "./i18n/index.js";

const ROLES = ["regulator", "dispatcher", "admin"];
const AUDIT_LIMIT = 500;

export function initAdmin() {
  $("audit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    loadAudit();
  });
  setOptions($("user-role"), ROLES.map((r) => [r, t(`role.${r}`)]));
  onLanguageChange(() => setOptions($("user-role"), ROLES.map((r) => [r, t(`role.${r}`)])));
  $("user-form").addEventListener("submit", (e) => {
    e.preventDefault();
    createUser();
  });
}

export async function loadAudit() {
  const params = {
    from: localInputToISO($("audit-from").value),
    to: localInputToISO($("audit-to").value),
    limit: AUDIT_LIMIT,
  };
  const rows = $("audit-rows");
  try {
    const resp = await get("/api/v1/audit" + query(params));
    const entries = resp.entries || [];
    if (entries.length === 0) {
      rows.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, t("common.none"))));
      return;
    }
    rows.replaceChildren(...entries.map((e) => el("tr", { class: "audit-row", dataset: { action: e.action } },
      el("td", {}, formatTime(e.at)),
      el("td", {}, `${e.user} (${t(`role.${e.role}`)})`),
      el("td", {}, hasMessage(`action.${e.action}`) ? t(`action.${e.action}`) : e.action),
      el("td", {}, e.target || ""),
      el("td", {}, e.detail || ""),
    )));
  } catch (err) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "error" }, t("error.load", { message: err.message }))));
  }
}

export async function loadUsers() {
  const rows = $("user-rows");
  try {
    const resp = await get("/api/v1/users");
    rows.replaceChildren(...(resp.users || []).map((u) => el("tr", {},
      el("td", {}, u.username),
      el("td", {}, u.display_name || ""),
      el("td", {}, t(`role.${u.role}`)),
      el("td", {}, formatTime(u.created_at)),
    )));
  } catch (err) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "error" }, t("error.load", { message: err.message }))));
  }
}

async function createUser() {
  const status = $("user-status");
  const body = {
    username: $("user-username").value.trim(),
    password: $("user-password").value,
    role: $("user-role").value,
    display_name: $("user-display").value.trim(),
  };
  try {
    await post("/api/v1/users", body);
    status.classList.remove("error");
    status.textContent = t("users.created", { username: body.username });
    $("user-form").reset();
    await loadUsers();
  } catch (err) {
    status.classList.add("error");
    status.textContent = t("error.action", { message: err.message });
  }
}
