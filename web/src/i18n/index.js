// Message catalogues. Simplified Chinese is the default; the choice is
// stored in localStorage so it survives a reload.
import zhCN from "./zh-CN.json";
import en from "./en.json";

const catalogues = { "zh-CN": zhCN, en };
const STORAGE_KEY = "hwtrack.lang";
let lang = "zh-CN";
const listeners = [];

export const languages = Object.keys(catalogues);

// initLanguage picks the stored language, else the server's default.
export function initLanguage(serverDefault) {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored && catalogues[stored]) {
    lang = stored;
  } else if (serverDefault && catalogues[serverDefault]) {
    lang = serverDefault;
  }
  document.documentElement.lang = lang;
}

// hasStoredLanguage reports whether the user chose a language earlier.
export function hasStoredLanguage() {
  return Boolean(catalogues[localStorage.getItem(STORAGE_KEY)]);
}

export function currentLanguage() {
  return lang;
}

export function setLanguage(next) {
  if (!catalogues[next] || next === lang) {
    return;
  }
  lang = next;
  localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next;
  for (const fn of listeners) {
    fn(next);
  }
}

export function onLanguageChange(fn) {
  listeners.push(fn);
}

// t returns the message for key in the current language with {name}
// placeholders filled from params. A missing key shows as the key itself so
// the gap is visible on screen.
export function t(key, params) {
  const msg = catalogues[lang][key] ?? catalogues["zh-CN"][key] ?? key;
  if (!params) {
    return msg;
  }
  return msg.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

// hasMessage reports whether key is in the catalogue, so a caller can show
// a raw value (such as an audit action added to the server later) instead.
export function hasMessage(key) {
  return key in catalogues[lang] || key in catalogues["zh-CN"];
}

// translatePage fills every element marked data-i18n (text content) or
// data-i18n-placeholder / data-i18n-title (attributes) under root.
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.title = t(el.dataset.i18nTitle);
  }
}

// formatTime shows an RFC 3339 time in the browser's time zone.
export function formatTime(iso) {
  if (!iso) {
    return "";
  }
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return "";
  }
  return d.toLocaleString(lang, { hour12: false });
}
