// Audible alarm cue made with the Web Audio API, so no sound file is
// needed. Browsers start an AudioContext only after a user gesture, so the
// console unlocks it on the first click or key press (the sign-in counts).
let ctx = null;

export function unlockAudio() {
  const Ctor = window.AudioContext || window.webkitAudioContext;
  if (!Ctor) {
    return;
  }
  if (!ctx) {
    ctx = new Ctor();
  }
  if (ctx.state === "suspended") {
    ctx.resume().catch(() => {});
  }
}

// playAlarmTone plays two short beeps. It does nothing until audio has been
// unlocked.
export function playAlarmTone() {
  if (!ctx || ctx.state !== "running") {
    return;
  }
  const start = ctx.currentTime;
  for (const offset of [0, 0.25]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.2, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start + offset);
    osc.stop(start + offset + 0.2);
  }
  document.body.dataset.lastAlarmTone = String(Date.now());
}
