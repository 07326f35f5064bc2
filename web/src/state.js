// Client-side state shared by the views: the signed-in user, the fleet and
// the deviations seen so far, with a tiny event bus between the views.

export const state = {
  user: null,
  config: null,
  // vehicles maps terminal to {terminal, plate, online, last_fix, trip_id}.
  vehicles: new Map(),
  // trips maps trip id to the trip as returned by GET /api/v1/trips.
  trips: new Map(),
  // deviations maps deviation id to the latest known deviation JSON.
  deviations: new Map(),
};

const handlers = new Map();

export function on(event, fn) {
  if (!handlers.has(event)) {
    handlers.set(event, []);
  }
  handlers.get(event).push(fn);
}

export function emit(event, payload) {
  for (const fn of handlers.get(event) || []) {
    fn(payload);
  }
}

export function hasRole(...roles) {
  return state.user !== null && roles.includes(state.user.role);
}

export function plateOf(terminal) {
  const v = state.vehicles.get(terminal);
  return v && v.plate ? v.plate : terminal;
}

// NO_SIGNAL_MS is how long an online vehicle may go without a fix before
// the map shows it as having no signal.
export const NO_SIGNAL_MS = 5 * 60 * 1000;

// vehicleStatus ranks the states so the most urgent one shows: an open
// deviation first, then offline, no signal, on trip, and idle.
export function vehicleStatus(v, now = Date.now()) {
  for (const d of state.deviations.values()) {
    if (d.terminal === v.terminal && d.state === "open") {
      return "deviation";
    }
  }
  if (!v.online) {
    return "offline";
  }
  const fixTime = v.last_fix ? Date.parse(v.last_fix.time) : NaN;
  if (!Number.isFinite(fixTime) || now - fixTime > NO_SIGNAL_MS) {
    return "no_signal";
  }
  if (v.trip_id) {
    return "on_trip";
  }
  return "idle";
}

export const STATUSES = ["on_trip", "deviation", "no_signal", "offline", "idle"];
