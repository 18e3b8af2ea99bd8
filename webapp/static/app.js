// Cutroom's few lines of plain JS, for what htmx cannot do alone:
// upload progress with speed and time left, cancel, the server's refusal shown in place,
// drag-and-drop onto the file fields, and seeking a player from a transcript timestamp.
"use strict";

// As webapp/helpers.py filesize shows sizes: powers of 1024, the units quotas are set in.
function formatBytes(n) {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (Math.round(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${Math.trunc(n)} bytes` : `${n.toFixed(n < 100 ? 1 : 0)} ${units[i]}`;
}

function formatSeconds(s) {
  if (!isFinite(s)) return "";
  if (s < 60) return `${Math.ceil(s)} s left`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min left` : `${Math.floor(m / 60)} h ${m % 60} min left`;
}

function setupUpload(form) {
  const status = form.querySelector("[data-upload-status]");
  const bar = form.querySelector("[data-upload-bar]");
  const text = form.querySelector("[data-upload-text]");
  const error = form.querySelector("[data-upload-error]");
  const submit = form.querySelector("[data-upload-submit]");
  let started = 0;

  form.querySelector("[data-upload-cancel]").addEventListener("click", () => {
    htmx.trigger(form, "htmx:abort");
  });
  form.addEventListener("htmx:beforeRequest", () => {
    started = performance.now();
    error.hidden = true;
    status.hidden = false;
    submit.disabled = true;
    bar.value = 0;
    text.textContent = "Starting upload…";
  });
  form.addEventListener("htmx:xhr:progress", (event) => {
    const { loaded, total } = event.detail;
    if (!total) return;
    const seconds = (performance.now() - started) / 1000;
    const speed = loaded / Math.max(seconds, 0.001);
    const percent = Math.min(100, (loaded / total) * 100);
    bar.value = percent;
    text.textContent = loaded >= total
      ? "Uploaded. Checking the file…"
      : `${percent.toFixed(0)} % · ${formatBytes(loaded)} of ${formatBytes(total)} · ` +
        `${formatBytes(speed)}/s · ${formatSeconds((total - loaded) / speed)}`;
  });
  form.addEventListener("htmx:afterRequest", (event) => {
    submit.disabled = false;
    if (event.detail.successful) return; // the server answers with HX-Redirect
    status.hidden = true;
    const xhr = event.detail.xhr;
    if (!xhr || xhr.status === 0) {
      showError("The upload stopped before it finished (cancelled, or the connection dropped). Nothing was stored.");
      return;
    }
    const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    const newForm = page.querySelector("#upload-form");
    if (newForm) {
      // The form again, with the server's messages next to the fields.
      form.replaceWith(newForm);
      htmx.process(newForm);
      setupForms(newForm.parentElement);
      keepChosenFiles(form, newForm);
      newForm.querySelector(".has-error input, .error")?.scrollIntoView({ block: "center" });
      return;
    }
    const message = page.querySelector(".error-page .message");
    showError(message ? message.textContent.trim() : `The server refused the upload (error ${xhr.status}).`);
  });

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }
}

function setupDrop(zone) {
  const input = zone.querySelector("input[type=file]");
  if (!input) return;
  const note = document.createElement("p");
  note.className = "chosen";
  note.setAttribute("aria-live", "polite");
  zone.appendChild(note);
  const show = () => {
    const file = input.files[0];
    note.textContent = file ? `${file.name} · ${formatBytes(file.size)}` : "";
  };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
    }
  });
}

function setupForms(root) {
  root.querySelectorAll("form[data-upload]").forEach(setupUpload);
  root.querySelectorAll("[data-drop]").forEach(setupDrop);
  root.querySelectorAll("input[data-required-with]").forEach(setupRequiredWith);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-seek]");
  if (!button) return;
  const player = document.getElementById(button.dataset.player);
  if (!player) return;
  player.currentTime = parseFloat(button.dataset.seek);
  player.play();
  player.scrollIntoView({ block: "nearest" });
});

document.addEventListener("DOMContentLoaded", () => setupForms(document));

// --- Local times (library helper): the server writes times in UTC inside
// <time datetime="…Z" data-local>; they are shown in the browser's time zone instead, on load
// and in every fragment htmx swaps in (the library polls while jobs run).
function showLocalTimes(root) {
  const pad = (n) => String(n).padStart(2, "0");
  root.querySelectorAll("time[data-local]").forEach((el) => {
    const at = new Date(el.getAttribute("datetime"));
    if (isNaN(at)) return; // the UTC text stays
    if (!el.title) el.title = el.textContent; // the UTC time, on hover
    el.textContent = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ` +
      `${pad(at.getHours())}:${pad(at.getMinutes())}`;
  });
}
document.addEventListener("DOMContentLoaded", () => showLocalTimes(document));
document.addEventListener("htmx:afterSwap", () => showLocalTimes(document));

// --- upload (issue 10, item 6): choices checked before any byte is sent, and chosen files kept ---

// A file input with data-required-with="NAME" is required while the form's checkbox NAME is ticked
// (the External audio for "Sync external audio"): the browser then refuses to send the form and says
// why (data-required-message), so no upload starts that the server would refuse.
function setupRequiredWith(input) {
  const box = input.form?.elements[input.dataset.requiredWith];
  if (!box) return;
  const update = () => {
    input.required = box.checked;
    const missing = box.checked && !input.files.length;
    input.setCustomValidity(missing ? input.dataset.requiredMessage || "" : "");
  };
  box.addEventListener("change", update);
  input.addEventListener("change", update);
  update();
}

// The form the server sent back in place of a refused one would come with empty file inputs:
// give them the files the person chose, except where the server found the file itself at fault.
function keepChosenFiles(oldForm, newForm) {
  oldForm.querySelectorAll("input[type=file]").forEach((old) => {
    const input = newForm.elements[old.name];
    if (!old.files.length || !input || input.closest(".has-error")) return;
    input.files = old.files;
    input.dispatchEvent(new Event("change"));
  });
}

// A new file chosen where the server refused one: its old reason no longer applies.
document.addEventListener("change", (event) => {
  const field = event.target.type === "file" && event.target.closest(".field.has-error");
  if (!field) return;
  field.classList.remove("has-error");
  field.querySelectorAll(".error").forEach((message) => message.remove());
});

// --- Players that cannot play (issue 10, browser previews) ---
// Cutroom makes a browser preview of every file a browser cannot play; where there is none (an
// item prepared before that, a preview that failed) the player says why instead of staying black.
const PLAYER_PROBLEMS = {
  2: "This file could not be loaded: the connection broke off. Reload the page to try again.",
  3: "Your browser could not decode this file (it may be damaged, or in a format it cannot play).",
  4: "Your browser cannot play this file's format.",
  picture: "Your browser plays only the sound of this file, not its picture.",
};

function explainPlayer(player, problem) {
  let note = player.nextElementSibling;
  if (!note || !note.classList.contains("player-problem")) {
    note = document.createElement("p");
    note.className = "player-problem";
    note.setAttribute("role", "alert");
    player.after(note);
  }
  note.textContent = PLAYER_PROBLEMS[problem] + " ";
  if (problem === 2) return;
  // The downloads always give the real file, whatever the browser makes of it.
  const link = document.createElement("a");
  link.href = "#downloads";
  link.textContent = "Download it to watch it.";
  note.append(link);
}

function checkPlayer(player) {
  if (player.error && PLAYER_PROBLEMS[player.error.code]) {
    explainPlayer(player, player.error.code);
  } else if (player.tagName === "VIDEO" && player.readyState >= 1 && player.videoWidth === 0) {
    explainPlayer(player, "picture");
  }
}

// Media events do not bubble: catch them on their way down.
["error", "loadedmetadata"].forEach((name) => document.addEventListener(name, (event) => {
  if (event.target instanceof HTMLMediaElement) checkPlayer(event.target);
}, true));
document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("video, audio").forEach(checkPlayer));
