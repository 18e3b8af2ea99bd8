// Cutroom's few lines of plain JS, for what htmx cannot do alone:
// upload progress with speed and time left, cancel, the server's refusal shown in place,
// resumable uploads (tus) of one file or a batch, drag-and-drop onto the file fields, and seeking
// a player from a transcript timestamp.
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

  if (form.dataset.tus && window.fetch && window.localStorage) setupResumable(form);
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
    const files = [...input.files];
    const total = files.reduce((sum, file) => sum + file.size, 0);
    note.textContent = files.length > 1 ? `${files.length} files · ${formatBytes(total)}, uploaded as one batch`
      : files.length ? `${files[0].name} · ${formatBytes(files[0].size)}` : "";
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

// --- Resumable uploads (issue 15): the upload page sends its Media files with tus 1.0 ---
// Each file is its own upload (and becomes its own item, with the jobs ticked for all): created by a
// POST that carries the choices, then sent in chunks by PATCH. After a network error or a 5xx it
// waits (longer each time), asks the server how much it has (HEAD) and goes on from there. The
// upload's URL is kept in localStorage under the file's name, size and date, so choosing the same
// file after a reload resumes it. Several files share a batch id. With an External audio chosen,
// the form goes the plain way (one request with both files), as it does without JavaScript.
const TUS_CHUNK = 8 * 1024 * 1024;
const TUS_RETRIES = [1, 2, 4, 8, 15, 30, 30, 30, 60, 60]; // seconds to wait before each new try

class UploadRefused extends Error {}

function base64Text(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

// The reason in a refusal's body: a problem's `detail`, or an error page's message (CSRF, login).
function refusalText(body, status) {
  try {
    const detail = JSON.parse(body).detail;
    if (detail) return detail;
  } catch { /* not JSON: an error page */ }
  const message = new DOMParser().parseFromString(body, "text/html").querySelector(".error-page .message");
  return message ? message.textContent.trim() : `The server refused the upload (error ${status}).`;
}

function setupResumable(form) {
  const input = form.elements.media;
  const external = form.elements.external;
  const status = form.querySelector("[data-upload-status]");
  const bar = form.querySelector("[data-upload-bar]");
  const text = form.querySelector("[data-upload-text]");
  const error = form.querySelector("[data-upload-error]");
  const submit = form.querySelector("[data-upload-submit]");
  const list = document.createElement("ul");
  list.className = "upload-files";
  list.hidden = true;
  status.before(list);
  input.multiple = true;
  const hint = input.closest(".field")?.querySelector(".hint");
  if (hint) hint.textContent += " Several files at once are uploaded as one batch, each its own item.";
  let run = null; // the uploads under way: {cancelled, xhr, urls}

  form.querySelector("[data-upload-cancel]").addEventListener("click", () => {
    if (!run) return;
    run.cancelled = true;
    run.xhr?.abort();
  });
  // Before htmx sees the submit (a capture listener on the target runs first), once the browser
  // has checked the form.
  form.addEventListener("submit", (event) => {
    if (external?.files.length || !input.files.length || run) return; // the plain way
    event.preventDefault();
    event.stopImmediatePropagation();
    uploadAll([...input.files]);
  }, true);

  async function uploadAll(files) {
    run = { cancelled: false, xhr: null, sent: 0, started: performance.now() };
    const total = files.reduce((sum, file) => sum + file.size, 0);
    const batch = files.length > 1
      ? Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("")
      : null;
    const rows = files.map((file) => fileRow(file));
    list.replaceChildren(...rows.map((row) => row.li));
    list.hidden = false;
    error.hidden = true;
    status.hidden = false;
    submit.disabled = true;
    bar.value = 0;
    text.textContent = "Starting upload…";
    let done = 0, failed = 0;
    for (const [i, file] of files.entries()) {
      const row = rows[i];
      try {
        await uploadFile(file, batch, row, (loaded) => progress(done + loaded, total));
        row.done("Uploaded; its jobs are queued.");
      } catch (problem) {
        failed++;
        row.fail(run.cancelled ? "Cancelled: nothing of it was stored." : problem.message);
      }
      done += file.size;
    }
    submit.disabled = false;
    status.hidden = true;
    const cancelled = run.cancelled;
    run = null;
    if (!failed) {
      window.location.assign(form.dataset.tusDone);
    } else if (cancelled) {
      showError("The upload was cancelled. Files not uploaded completely were not stored.");
    } else if (failed < files.length) {
      showError(`${files.length - failed} of ${files.length} files are uploaded; the others were refused (see why above). `);
      const library = document.createElement("a");
      library.href = form.dataset.tusDone;
      library.textContent = "See them in your library.";
      error.append(library);
    }
  }

  function progress(loaded, total) {
    const seconds = (performance.now() - run.started) / 1000;
    const speed = run.sent / Math.max(seconds, 0.001);
    const percent = Math.min(100, (loaded / total) * 100);
    bar.value = percent;
    text.textContent = loaded >= total
      ? "Uploaded. Checking the file…"
      : `${percent.toFixed(0)} % · ${formatBytes(loaded)} of ${formatBytes(total)} · ` +
        `${formatBytes(speed)}/s · ${formatSeconds((total - loaded) / speed)}`;
  }

  function fileRow(file) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "upload-file-name";
    name.textContent = `${file.name} · ${formatBytes(file.size)}`;
    const fileBar = document.createElement("progress");
    fileBar.max = 100;
    fileBar.value = 0;
    fileBar.setAttribute("aria-label", `Upload of ${file.name}`);
    const note = document.createElement("p");
    note.className = "upload-file-note";
    note.setAttribute("aria-live", "polite");
    note.textContent = "Waiting…";
    li.append(name, fileBar, note);
    return {
      li,
      show(offset) { fileBar.value = (offset / file.size) * 100; note.textContent = `${fileBar.value.toFixed(0)} %`; },
      say(message) { note.textContent = message; },
      done(message) { fileBar.value = 100; note.textContent = message; li.classList.add("done"); },
      fail(message) { note.textContent = message; note.classList.add("upload-error"); li.classList.add("failed"); },
    };
  }

  function headers(more) {
    return { "Tus-Resumable": "1.0.0", "X-CSRFToken": form.elements.csrf_token.value, ...more };
  }

  function metadata(file, batch) {
    const pairs = [["filename", file.name]];
    if (batch) pairs.push(["batch", batch]);
    for (const [name, value] of new FormData(form)) {
      if (typeof value === "string" && name !== "csrf_token") pairs.push([name, value]);
    }
    return pairs.map(([name, value]) => `${name} ${base64Text(value)}`).join(",");
  }

  async function uploadFile(file, batch, row, report) {
    const key = `cutroom-tus:${file.name}:${file.size}:${file.lastModified}`;
    let url = localStorage.getItem(key);
    let where = url ? await offsetOf(url) : null;
    let offset = where?.offset ?? null;
    if (offset === null) {
      const created = await fetch(form.dataset.tus, {
        method: "POST",
        headers: headers({ "Upload-Length": String(file.size), "Upload-Metadata": metadata(file, batch) }),
      });
      if (created.status !== 201) throw new UploadRefused(refusalText(await created.text(), created.status));
      url = new URL(created.headers.get("Location"), window.location.href).pathname;
      localStorage.setItem(key, url);
      offset = 0;
    } else {
      row.say(`Resuming at ${formatBytes(offset)}…`);
    }
    const chunk = Number(form.dataset.tusChunk) || TUS_CHUNK;
    let tries = 0;
    while (true) {
      if (where?.item) {
        // Every byte was in already: the answer to the last chunk was lost on the way.
        localStorage.removeItem(key);
        return where.item;
      }
      if (run.cancelled) {
        localStorage.removeItem(key);
        await fetch(url, { method: "DELETE", headers: headers() }).catch(() => {});
        throw new UploadRefused("Cancelled");
      }
      const answer = await sendChunk(url, file.slice(offset, offset + chunk), offset, (loaded) => {
        row.show(offset + loaded);
        report(offset + loaded);
      }).catch(() => null); // a network error: tried again below
      if (answer && answer.status === 204) {
        tries = 0;
        offset = Number(answer.getResponseHeader("Upload-Offset"));
        row.show(offset);
        if (offset >= file.size) {
          localStorage.removeItem(key);
          return answer.getResponseHeader("Location");
        }
      } else if (run.cancelled) {
        continue;
      } else if (!answer || answer.status >= 500 || answer.status === 409) {
        if (tries >= TUS_RETRIES.length) {
          throw new UploadRefused("The connection keeps breaking off. Choose the same file again later to go on where it stopped.");
        }
        row.say(`The connection broke off; trying again in ${TUS_RETRIES[tries]} s…`);
        await new Promise((resolve) => setTimeout(resolve, TUS_RETRIES[tries++] * 1000));
        where = await offsetOf(url);
        offset = where?.offset ?? null;
        if (offset === null) throw new UploadRefused("This upload is gone from the server (cancelled, or left too long). Upload the file again.");
      } else {
        localStorage.removeItem(key);
        throw new UploadRefused(refusalText(answer.responseText, answer.status));
      }
    }
  }

  async function offsetOf(url) {
    // Where the server is ({offset, and item once it has every byte}), or null when it no longer
    // has this upload.
    while (true) {
      try {
        const answer = await fetch(url, { method: "HEAD", headers: headers(), cache: "no-store" });
        if (answer.ok) {
          return { offset: Number(answer.headers.get("Upload-Offset")), item: answer.headers.get("Location") };
        }
        if (answer.status < 500) return null;
      } catch { /* the network is still away */ }
      if (run.cancelled) return null;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  function sendChunk(url, blob, offset, onProgress) {
    // XHR, not fetch: it reports upload progress.
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      run.xhr = xhr;
      xhr.open("PATCH", url);
      for (const [name, value] of Object.entries(headers({ "Upload-Offset": String(offset) }))) {
        xhr.setRequestHeader(name, value);
      }
      xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
      let counted = 0;
      xhr.upload.onprogress = (event) => {
        run.sent += event.loaded - counted;
        counted = event.loaded;
        onProgress(event.loaded);
      };
      xhr.onload = () => resolve(xhr);
      xhr.onerror = xhr.onabort = xhr.ontimeout = () => reject(new Error("network"));
      xhr.send(blob);
    });
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }
}
