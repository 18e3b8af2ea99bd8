// Cutroom's few lines of plain JS, for what htmx cannot do alone:
// upload progress with speed and time left, cancel, the server's refusal shown in place,
// drag-and-drop onto the file fields, and seeking a player from a transcript timestamp.
"use strict";

function formatBytes(n) {
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return i === 0 ? `${n} bytes` : `${n.toFixed(n < 100 ? 1 : 0)} ${units[i]}`;
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
