// The editor page (templates/editor/edit.html): the transcript as the timeline, a preview that
// plays the edit at once (skipping what is cut), the waveform with its removed parts, suggestions,
// undo and redo, and every change saved to edit.json as it is made.
// Built for a 1-hour talk of 10,000 words: the word elements are made once, and a change touches
// only the words, shades and list rows whose state changed.
"use strict";

// --- Range arithmetic: the same as jobs/edit.py, which checks every edit the server is sent. ---
// A range is [start, end] in seconds of the source recording; an edit keeps a sorted list of them.
const Ranges = {
  SHORTEST: 0.01, // a stretch shorter than this is a rounding leftover, not a decision

  merge(ranges) {
    const merged = [];
    for (const [a, b] of [...ranges].sort((x, y) => x[0] - y[0] || x[1] - y[1])) {
      const last = merged[merged.length - 1];
      if (last && a <= last[1] + 1e-9) last[1] = Math.max(last[1], b);
      else merged.push([a, b]);
    }
    return merged;
  },

  // As Python's round(): halves go to the even neighbour, so a time half way between two frames
  // lands on the same frame here as on the server.
  snap(t, frame) {
    const frames = t / frame, nearest = Math.round(frames);
    const even = frames - Math.floor(frames) === 0.5 && nearest % 2 ? nearest - 1 : nearest;
    return Math.round(even * frame * 1e6) / 1e6;
  },

  // What the server stores for `keep`: clipped, on whole frames, merged, no slivers.
  normalize(keep, duration, frame) {
    const ranges = [];
    for (let [a, b] of keep) {
      a = Math.max(0, a);
      b = Math.min(duration, b);
      // An end within a frame of the recording's end is the end (which is rarely on the frame grid).
      if (frame) [a, b] = [this.snap(a, frame), duration - b < frame ? duration : Math.min(this.snap(b, frame), duration)];
      if (b - a >= this.SHORTEST) ranges.push([a, b]);
    }
    return this.merge(ranges);
  },

  cut(keep, spans) {
    let result = keep;
    for (const [lo, hi] of this.merge(spans)) {
      const pieces = [];
      for (const [a, b] of result) {
        if (b <= lo || a >= hi) { pieces.push([a, b]); continue; }
        if (a < lo) pieces.push([a, lo]);
        if (b > hi) pieces.push([hi, b]);
      }
      result = pieces;
    }
    return result.filter(([a, b]) => b - a >= this.SHORTEST);
  },

  restore(keep, spans, duration) {
    const clipped = spans.filter(([a, b]) => b > a).map(([a, b]) => [Math.max(0, a), Math.min(duration, b)]);
    return this.merge([...keep, ...clipped]);
  },

  removed(keep, duration) {
    const gaps = [];
    let cursor = 0;
    for (const [a, b] of keep) {
      if (a - cursor >= this.SHORTEST) gaps.push([cursor, a]);
      cursor = b;
    }
    if (duration - cursor >= this.SHORTEST) gaps.push([cursor, duration]);
    return gaps;
  },

  keptLength(keep) {
    return keep.reduce((sum, [a, b]) => sum + b - a, 0);
  },

  // Index of the last range that starts at or before `t` (-1 if none).
  indexAt(keep, t) {
    let lo = 0, hi = keep.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keep[mid][0] <= t) lo = mid + 1; else hi = mid;
    }
    return lo - 1;
  },

  // Seconds of [a, b] that `keep` keeps.
  keptWithin(keep, a, b) {
    return keep.reduce((sum, [x, y]) => sum + Math.max(0, Math.min(b, y) - Math.max(a, x)), 0);
  },

  isKept(keep, t) {
    const i = this.indexAt(keep, t);
    return i >= 0 && t < keep[i][1];
  },

  // What to cut from `pause` so that `length` of it stays, half each side; null if it is that short.
  shorten([start, end], length) {
    if (end - start <= length + this.SHORTEST) return null;
    return [start + length / 2, end - length / 2];
  },

  same(x, y) {
    return x.length === y.length && x.every(([a, b], i) => a === y[i][0] && b === y[i][1]);
  },
};

// --- Texts the person reads ---
const TEXTS = {
  conflict: "This edit was changed in another tab; the newer version is loaded.",
  saving: "Saving…",
  saved: "Saved",
  version: "Version",
  play: "Play",
  pause: "Pause",
  unsaved: "Not saved: ",
  offline: "the server could not be reached.",
  loadFailed: "The edit could not be loaded. Reload the page to try again.",
  leaving: "Your last change is not saved yet.",
  accept: "Accept",
  accepted: "Accepted ✓",
  noSuggestions: "No suggestions: no long pauses, filler words or retakes were found.",
  fadesOff: "The preview skips what is cut, as the rendered file will (this browser cannot fade the sound at the joins, so you may hear a click there that the render will not have).",
  fadesOn: "The preview skips what is cut, as the rendered file will, with a short fade at each join.",
};
const KINDS = {
  pause: { heading: "Pauses", one: "pause" },
  filler: { heading: "Filler words", one: "filler" },
  retake: { heading: "Retakes", one: "retake" },
};
// The preview jumps a join this long before it is reached: a display frame at 60 Hz, so the
// removed sound after it is never heard.
const LOOKAHEAD = 0.02;
const SOON = 0.25; // a join closer than this gets a timer too

function clock(seconds) {
  const s = Math.round(Math.max(0, seconds) * 10) / 10; // 59.96 s is 1:00.0, not 0:60.0
  const m = Math.floor(s / 60);
  const rest = (s - m * 60).toFixed(1).padStart(4, "0");
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function element(tag, attributes = {}, text = "") {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) el.setAttribute(name, value);
  if (text) el.textContent = text;
  return el;
}

// Replace the part of `container`'s children that differs between `before` and `after` (lists
// of keys, in order), keeping the shared head and tail: a change touches only its own rows.
function patchChildren(container, before, after, make) {
  let head = 0;
  while (head < before.length && head < after.length && before[head] === after[head]) head++;
  let tail = 0;
  while (tail < before.length - head && tail < after.length - head &&
         before[before.length - 1 - tail] === after[after.length - 1 - tail]) tail++;
  const nodes = container.children;
  for (let i = before.length - tail - 1; i >= head; i--) nodes[i].remove();
  const fresh = document.createDocumentFragment();
  for (let i = head; i < after.length - tail; i++) fresh.append(make(i));
  container.insertBefore(fresh, nodes[head] || null);
}

class Editor {
  constructor(root) {
    this.root = root;
    this.url = root.dataset.jsonUrl;
    this.csrf = document.querySelector("meta[name=csrf-token]").content;
    this.media = root.querySelector("#preview");
    this.$ = (name) => root.querySelector(`[data-${name}]`);
    this.keep = [];
    this.words = [];
    this.cutFlags = new Uint8Array(0);
    this.undoStack = [];
    this.redoStack = [];
    this.anchor = this.focus = -1;
    this.selected = [0, -1];
    this.current = -1;
    this.jumping = null; // where the preview is about to jump to, while its sound fades out
    this.ticking = false;
    this.removedKeys = [];
    this.saving = null;
    this.dirty = false;
    this.rejected = new Set(JSON.parse(localStorage.getItem(this.rejectedKey()) || "[]"));
  }

  rejectedKey() {
    return `cutroom-rejected-${this.root.dataset.item}`;
  }

  async start() {
    const response = await fetch(this.url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(TEXTS.loadFailed);
    this.load(await response.json());
    this.showSaveState(`${TEXTS.version} ${this.version}`);
    this.listen();
  }

  // --- The edit from the server: on opening, and after another tab's change. ---
  load(edit) {
    this.edit = edit;
    this.version = edit.version;
    this.duration = edit.duration;
    this.frame = edit.frame;
    this.automatic = edit.automatic; // what "Reset to automatic cut" returns to
    if (!this.words.length && edit.words.length) this.buildWords(edit.words);
    this.buildSuggestions(edit.suggestions || [], edit.pause_length);
    this.undoStack = [];
    this.redoStack = [];
    this.apply(edit.keep);
  }

  // --- Changes: each one an undo step, shown at once, saved in the background. ---
  change(keep) {
    const next = Ranges.normalize(keep, this.duration, this.frame);
    if (!next.length || Ranges.same(next, this.keep)) return false;
    this.undoStack.push(this.keep);
    this.redoStack = [];
    this.apply(next);
    this.save();
    return true;
  }

  undo() {
    if (!this.undoStack.length) return;
    this.redoStack.push(this.keep);
    this.apply(this.undoStack.pop());
    this.save();
  }

  redo() {
    if (!this.redoStack.length) return;
    this.undoStack.push(this.keep);
    this.apply(this.redoStack.pop());
    this.save();
  }

  apply(keep) {
    this.keep = keep;
    this.updateWords();
    this.updateRemoved();
    this.updateSuggestions();
    this.updateFacts();
    this.$("undo").disabled = !this.undoStack.length;
    this.$("redo").disabled = !this.redoStack.length;
  }

  // --- Saving: one PUT at a time, each with the version the last one returned. ---
  save() {
    this.dirty = true;
    if (!this.saving) this.saving = this.sendChanges().finally(() => { this.saving = null; });
    return this.saving;
  }

  // Resolves once every change so far is saved (or saving failed): before Render or Reset.
  async settled() {
    while (this.saving) await this.saving;
  }

  async sendChanges() {
    while (this.dirty) {
      this.dirty = false;
      const sent = this.keep;
      this.showSaveState(TEXTS.saving);
      let response;
      try {
        response = await fetch(this.url, {
          method: "PUT",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "If-Match": `"${this.version}"`,
            "X-CSRFToken": this.csrf,
          },
          body: JSON.stringify({ keep: sent }),
        });
      } catch {
        return this.saveFailed(TEXTS.offline);
      }
      const body = await response.json().catch(() => ({}));
      if (response.status === 409) return this.reloadAfterConflict(body.error);
      if (!response.ok) return this.saveFailed(body.error || `error ${response.status}.`);
      this.version = body.version;
      this.$("problem").hidden = true; // an earlier conflict's message is past once a change is saved
      // The server's copy is the same edit, normalized; take it unless there is a newer change.
      if (this.keep === sent && !this.dirty && !Ranges.same(body.keep, sent)) this.apply(body.keep);
      this.showSaveState(`${TEXTS.saved} · ${TEXTS.version.toLowerCase()} ${this.version}`);
      this.refreshRenderBox();
    }
  }

  // A finished render is out of date once the edit changes: the render box says so (debounced,
  // and never while it polls a running render itself).
  refreshRenderBox() {
    clearTimeout(this.renderBoxTimer);
    this.renderBoxTimer = setTimeout(() => {
      const box = document.getElementById("render-status");
      if (!box || box.hasAttribute("hx-trigger") || !window.htmx) return;
      htmx.ajax("GET", this.root.dataset.statusUrl, { target: box, swap: "outerHTML" });
    }, 1000);
  }

  saveFailed(reason) {
    this.dirty = true;
    this.showSaveState(TEXTS.unsaved + reason, true);
  }

  async reloadAfterConflict(message) {
    this.dirty = false;
    this.showProblem(message || TEXTS.conflict);
    const response = await fetch(this.url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) return this.saveFailed(TEXTS.loadFailed);
    this.load(await response.json());
    this.showSaveState(`${TEXTS.version} ${this.version}`);
    this.refreshRenderBox(); // the newer version may make the last render out of date
  }

  showSaveState(text, failed = false) {
    const state = this.$("save-state");
    state.textContent = text;
    state.classList.toggle("error", failed);
    this.$("retry").hidden = !failed;
  }

  showProblem(text) {
    const problem = this.$("problem");
    problem.textContent = text;
    problem.hidden = false;
  }

  updateFacts() {
    const kept = Ranges.keptLength(this.keep);
    this.$("kept").textContent = `Keeps ${clock(kept)} of ${clock(this.duration)}` +
      (Array.isArray(this.automatic) && Ranges.same(this.keep, this.automatic) ? " · the automatic cut" : "");
    // Where each kept range starts in the edited result, for the preview's clock.
    this.keptBefore = [];
    let total = 0;
    for (const [a, b] of this.keep) { this.keptBefore.push(total); total += b - a; }
    this.keptTotal = total;
    this.showTime();
  }

  // --- The transcript: one element per word, made once. ---
  buildWords(words) {
    this.words = words;
    this.mids = Float64Array.from(words, (w) => (w.start + w.end) / 2);
    this.starts = Float64Array.from(words, (w) => w.start);
    this.cutFlags = new Uint8Array(words.length);
    const list = this.$("words");
    const fresh = document.createDocumentFragment();
    let paragraph = null;
    this.wordEls = words.map((word, i) => {
      if (!paragraph || word.para) {
        paragraph = element("p", { role: "group", "aria-label": clock(word.start) });
        fresh.append(paragraph);
      } else {
        paragraph.append(" ");
      }
      const el = element("span", { class: "word", id: `word-${i}`, role: "option", "aria-selected": "false" }, word.text);
      el.dataset.i = i;
      paragraph.append(el);
      return el;
    });
    list.append(fresh);
  }

  // A word is cut when its middle is outside every kept range (as jobs/edit.py reads an edit).
  updateWords() {
    for (let i = 0; i < this.words.length; i++) {
      const cut = Ranges.isKept(this.keep, this.mids[i]) ? 0 : 1;
      if (cut === this.cutFlags[i]) continue;
      this.cutFlags[i] = cut;
      const el = this.wordEls[i];
      el.classList.toggle("cut", cut === 1);
      if (cut) el.setAttribute("aria-label", `${this.words[i].text}, cut`);
      else el.removeAttribute("aria-label");
    }
  }

  // `reveal`: scroll the focused word into view (for the keyboard; a pointer is already on it).
  select(anchor, focus, reveal = true) {
    if (!this.words.length) return;
    const last = this.words.length - 1;
    this.anchor = Math.max(0, Math.min(last, anchor));
    this.focus = Math.max(0, Math.min(last, focus));
    const [from, to] = [Math.min(this.anchor, this.focus), Math.max(this.anchor, this.focus)];
    const [oldFrom, oldTo] = this.selected;
    for (let i = oldFrom; i <= oldTo; i++) {
      if (i < from || i > to) this.markSelected(i, false);
    }
    for (let i = from; i <= to; i++) {
      if (i < oldFrom || i > oldTo) this.markSelected(i, true);
    }
    this.selected = [from, to];
    const list = this.$("words");
    list.setAttribute("aria-activedescendant", `word-${this.focus}`);
    this.root.querySelector(".word.active")?.classList.remove("active");
    this.wordEls[this.focus].classList.add("active");
    if (reveal) this.wordEls[this.focus].scrollIntoView({ block: "nearest" });
    const count = to - from + 1;
    const start = this.words[from].span[0], end = this.words[to].span[1];
    this.$("selection-note").textContent = `${count} word${count === 1 ? "" : "s"} selected, ${clock(start)}–${clock(end)}`;
    const shade = this.$("selection-shade");
    shade.setAttribute("x", (start / this.duration) * 1000);
    shade.setAttribute("width", ((end - start) / this.duration) * 1000);
  }

  markSelected(i, on) {
    this.wordEls[i].classList.toggle("selected", on);
    this.wordEls[i].setAttribute("aria-selected", on ? "true" : "false");
  }

  // The selection as one range, from its first word's span to its last's: the pauses between
  // its words go (or come back) with them, not slivers of them (a word's span takes at most
  // 0.12 s of the gap either side: jobs/edit.py PAD).
  selectedSpans() {
    const [from, to] = this.selected;
    return [[this.words[from].span[0], this.words[to].span[1]]];
  }

  cutSelection() {
    if (this.selected[1] >= 0) this.change(Ranges.cut(this.keep, this.selectedSpans()));
  }

  keepSelection() {
    if (this.selected[1] >= 0) this.change(Ranges.restore(this.keep, this.selectedSpans(), this.duration));
  }

  // --- The waveform's shades and the list of removed parts. ---
  updateRemoved() {
    const removed = Ranges.removed(this.keep, this.duration);
    const keys = removed.map(([a, b]) => `${a}-${b}`);
    const scale = 1000 / this.duration;
    patchChildren(this.$("removed-shades"), this.removedKeys, keys, (i) => {
      const [a, b] = removed[i];
      const shade = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      for (const [name, value] of Object.entries({ class: "removed", x: a * scale, y: 0, width: (b - a) * scale, height: 100 })) {
        shade.setAttribute(name, value);
      }
      return shade;
    });
    patchChildren(this.$("removed-list"), this.removedKeys, keys, (i) => this.removedRow(removed[i]));
    this.removedKeys = keys;
    this.$("removed-count").textContent = `(${removed.length})`;
  }

  removedRow([a, b]) {
    const row = element("li");
    row.dataset.start = a;
    row.dataset.end = b;
    const when = element("button", { type: "button", class: "timestamp", "data-seek-to": a, "aria-label": `Play from ${clock(a)}` }, `${clock(a)}–${clock(b)}`);
    const length = element("span", { class: "muted" }, ` ${(b - a).toFixed(2)} s `);
    const restore = element("button", { type: "button", class: "secondary small", "data-restore": "" }, "Restore");
    restore.setAttribute("aria-label", `Restore ${clock(a)}–${clock(b)}`);
    const nudges = element("span", { class: "nudges" });
    for (const [edge, label] of [["start", "Start"], ["end", "End"]]) {
      const group = element("span", { class: "nudge", role: "group", "aria-label": `${label} of ${clock(a)}–${clock(b)}` }, `${label} `);
      group.append(
        element("button", { type: "button", class: "secondary small", "data-nudge": `${edge}:-1`, "aria-label": `${label} one frame earlier` }, "◂"),
        element("button", { type: "button", class: "secondary small", "data-nudge": `${edge}:1`, "aria-label": `${label} one frame later` }, "▸"),
      );
      nudges.append(group);
    }
    row.append(when, length, restore, nudges);
    return row;
  }

  // Moving an edge of a removed part by a frame cuts or restores that frame.
  nudge(a, b, edge, step) {
    const frame = this.frame || 0.04;
    if (edge === "start") {
      this.change(step < 0 ? Ranges.cut(this.keep, [[a - frame, a]]) : Ranges.restore(this.keep, [[a, a + frame]], this.duration));
    } else {
      this.change(step > 0 ? Ranges.cut(this.keep, [[b, b + frame]]) : Ranges.restore(this.keep, [[b - frame, b]], this.duration));
    }
  }

  // --- Suggestions: made once; their accepted state is read from the edit. ---
  buildSuggestions(suggestions, pauseLength) {
    this.suggestions = suggestions;
    const box = this.$("suggestions");
    box.replaceChildren();
    this.suggestionRows = [];
    if (!suggestions.length) {
      box.append(element("p", { class: "hint" }, TEXTS.noSuggestions));
      return;
    }
    for (const [kind, names] of Object.entries(KINDS)) {
      const found = suggestions.filter((s) => s.kind === kind);
      if (!found.length) continue;
      const group = element("section", { class: "suggestion-group", "data-kind": kind, "aria-label": names.heading });
      const head = element("div", { class: "suggestion-head" });
      head.append(
        element("h3", {}, `${names.heading} (${found.length})`),
        element("button", { type: "button", class: "secondary small", "data-accept-all": kind }, "Accept all"),
        element("button", { type: "button", class: "secondary small", "data-reject-all": kind }, "Reject all"),
      );
      group.append(head);
      if (kind === "pause") group.append(this.pauseChoice(pauseLength));
      const list = element("ol", { class: "suggestion-list" });
      for (const suggestion of found) list.append(this.suggestionRow(suggestion));
      group.append(list);
      box.append(group);
    }
  }

  pauseChoice(pauseLength) {
    const form = element("div", { class: "pause-choice", role: "radiogroup", "aria-label": "Accepting a pause" });
    const cut = element("label");
    cut.append(element("input", { type: "radio", name: "pause-mode", value: "cut" }), " Cut it");
    const shorten = element("label");
    const length = element("input", { type: "number", id: "pause-length", min: "0", max: "5", step: "0.05", value: pauseLength ?? 0.3, "aria-label": "Seconds of each pause to keep" });
    shorten.append(element("input", { type: "radio", name: "pause-mode", value: "shorten", checked: "" }), " Shorten it to ", length, " s");
    form.append(cut, shorten);
    this.pauseMode = () => form.querySelector("input[name=pause-mode]:checked").value;
    this.pauseLength = () => Math.max(0, parseFloat(length.value) || 0);
    // Whether a pause counts as accepted depends on the choice: show it again when that changes.
    form.addEventListener("input", () => this.updateSuggestions());
    return form;
  }

  suggestionRow(suggestion) {
    const row = element("li", { class: "suggestion", "data-suggestion": suggestion.id });
    const length = suggestion.end - suggestion.start;
    const quoted = suggestion.text.startsWith("(") ? suggestion.text : `“${suggestion.text}”`;
    const text = suggestion.kind === "pause" ? `${length.toFixed(1)} s` : quoted;
    const name = `${KINDS[suggestion.kind].one} at ${clock(suggestion.start)}`;
    row.append(
      element("button", { type: "button", class: "timestamp", "data-seek-to": Math.max(0, suggestion.start - 1), "aria-label": `Play the ${name}` }, `▶ ${clock(suggestion.start)}`),
      element("span", { class: "suggestion-text" }, text),
      element("button", { type: "button", class: "secondary small", "data-accept": suggestion.id, "aria-pressed": "false", "aria-label": `Accept the ${name}` }, "Accept"),
      element("button", { type: "button", class: "secondary small", "data-reject": suggestion.id, "aria-pressed": "false", "aria-label": `Reject the ${name}` }, "Reject"),
    );
    this.suggestionRows.push({ suggestion, row, accepted: null, rejected: null });
    return row;
  }

  updateSuggestions() {
    for (const entry of this.suggestionRows) {
      const accepted = this.isAccepted(entry.suggestion);
      const rejected = !accepted && this.rejected.has(entry.suggestion.id);
      if (accepted === entry.accepted && rejected === entry.rejected) continue;
      entry.accepted = accepted;
      entry.rejected = rejected;
      entry.row.classList.toggle("accepted", accepted);
      entry.row.classList.toggle("rejected", rejected);
      const button = entry.row.querySelector("[data-accept]");
      button.setAttribute("aria-pressed", String(accepted));
      button.textContent = accepted ? TEXTS.accepted : TEXTS.accept;
      entry.row.querySelector("[data-reject]").setAttribute("aria-pressed", String(rejected));
    }
  }

  // Accepted: the edit already does what accepting it would. A pause that silence removal cut
  // with its margins is not yet "shortened to 0.3 s": what is kept of it must be that length.
  isAccepted(suggestion) {
    const cut = this.suggestionCut(suggestion);
    if (!cut) return true; // a pause no longer than the length asked for
    if (Ranges.isKept(this.keep, (cut[0] + cut[1]) / 2)) return false;
    if (suggestion.kind !== "pause" || this.pauseMode() === "cut") return true;
    const kept = Ranges.keptWithin(this.keep, suggestion.start, suggestion.end);
    return Math.abs(kept - this.pauseLength()) <= 2 * (this.frame || 0.04);
  }

  // What accepting a suggestion cuts: for a pause, all of it or all but the chosen length.
  suggestionCut(suggestion) {
    if (suggestion.kind !== "pause" || this.pauseMode() === "cut") return suggestion.cut;
    return Ranges.shorten([suggestion.start, suggestion.end], this.pauseLength());
  }

  accept(entries) {
    // A pause is first kept whole, so that accepting applies the choice made now (shortened to
    // the length asked) to a pause an earlier cut took with other margins.
    const pauses = entries.filter((e) => e.suggestion.kind === "pause").map((e) => [e.suggestion.start, e.suggestion.end]);
    const spans = entries.map((e) => this.suggestionCut(e.suggestion)).filter(Boolean);
    entries.forEach((e) => this.rejected.delete(e.suggestion.id));
    this.saveRejected();
    if (!this.change(Ranges.cut(Ranges.restore(this.keep, pauses, this.duration), spans))) this.updateSuggestions();
  }

  unaccept(entry) {
    this.change(Ranges.restore(this.keep, [entry.suggestion.cut], this.duration));
  }

  reject(entries, on = true) {
    entries.forEach((e) => (on ? this.rejected.add(e.suggestion.id) : this.rejected.delete(e.suggestion.id)));
    this.saveRejected();
    this.updateSuggestions();
  }

  saveRejected() {
    localStorage.setItem(this.rejectedKey(), JSON.stringify([...this.rejected]));
  }

  entry(id) {
    return this.suggestionRows.find((e) => e.suggestion.id === id);
  }

  pending(kind) {
    return this.suggestionRows.filter((e) => e.suggestion.kind === kind && !e.accepted && !e.rejected);
  }

  // --- The preview: plays the source, jumping over every removed part as it comes. ---
  play() {
    this.media.paused ? this.media.play() : this.media.pause();
  }

  seek(t) {
    this.media.currentTime = t;
    this.showTime(t);
  }

  // Called on every display frame while the preview plays (`frame`), and by the join timer.
  tick(frame = true) {
    if (this.media.paused) {
      if (frame) this.ticking = false;
      return;
    }
    const t = this.media.currentTime;
    const i = Ranges.indexAt(this.keep, t);
    const inside = i >= 0 && t < this.keep[i][1];
    const left = inside ? (this.keep[i][1] - t) / this.media.playbackRate : 0;
    if (this.jumping === null && left <= LOOKAHEAD) {
      if (i + 1 < this.keep.length) this.jump(this.keep[i + 1][0]);
      else if (!inside || this.keep[i][1] < this.duration - LOOKAHEAD) this.media.pause();
    } else if (left < SOON && !this.joinTimer) {
      // A display frame can come late on a busy machine: a timer is set for the join as well.
      this.joinTimer = setTimeout(() => { this.joinTimer = null; this.tick(false); }, (left - LOOKAHEAD) * 1000);
    }
    if (!frame) return;
    this.showTime(t);
    this.markCurrentWord(t);
    requestAnimationFrame(() => this.tick());
  }

  // Down to silence, jump (the fade is shorter than LOOKAHEAD, so no removed sound is heard),
  // and up again once the new place plays.
  jump(to) {
    if (!this.gain) { this.media.currentTime = to; return; }
    const now = this.audio.currentTime, fade = this.fadeLength();
    this.gain.gain.cancelScheduledValues(now);
    this.gain.gain.setValueAtTime(this.gain.gain.value, now);
    this.gain.gain.linearRampToValueAtTime(0, now + fade);
    this.fadeInPending = true;
    this.jumping = to;
    setTimeout(() => { this.media.currentTime = to; this.jumping = null; }, fade * 1000);
  }

  fadeLength() {
    return Math.min(Math.max(this.edit.fade || 0, 0.004), LOOKAHEAD / 2);
  }

  fadeIn() {
    if (!this.gain || !this.fadeInPending) return;
    this.fadeInPending = false;
    const now = this.audio.currentTime, fade = this.fadeLength();
    this.gain.gain.cancelScheduledValues(now);
    this.gain.gain.setValueAtTime(0, now);
    this.gain.gain.linearRampToValueAtTime(1, now + fade);
  }

  // The sound goes through Web Audio for the fades. A context may only start after a gesture,
  // and a media element routed into a stopped context is silent: route it only once it runs.
  async startFades() {
    if (this.audio || !window.AudioContext) return;
    try {
      this.audio = new AudioContext();
      await this.audio.resume();
      if (this.audio.state !== "running") throw new Error("audio context not running");
      this.gain = this.audio.createGain();
      this.audio.createMediaElementSource(this.media).connect(this.gain).connect(this.audio.destination);
      this.$("fades").textContent = TEXTS.fadesOn;
    } catch {
      this.gain = null;
      this.$("fades").textContent = TEXTS.fadesOff;
    }
  }

  showTime(t = this.media.currentTime) {
    if (!this.keptBefore) return;
    const i = Ranges.indexAt(this.keep, t);
    const edited = i < 0 ? 0 : this.keptBefore[i] + Math.min(t, this.keep[i][1]) - this.keep[i][0];
    this.$("time").textContent = `${clock(edited)} / ${clock(this.keptTotal)}`;
    const x = (t / this.duration) * 1000;
    const line = this.$("playhead");
    line.setAttribute("x1", x);
    line.setAttribute("x2", x);
  }

  markCurrentWord(t) {
    if (!this.words.length) return;
    let lo = 0, hi = this.starts.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.starts[mid] <= t) lo = mid + 1; else hi = mid; }
    const i = lo - 1;
    if (i === this.current) return;
    if (this.current >= 0) this.wordEls[this.current].classList.remove("current");
    if (i >= 0) this.wordEls[i].classList.add("current");
    this.current = i;
    if (i >= 0 && !this.media.paused) this.follow(this.wordEls[i]);
  }

  // While the preview plays, the words box scrolls along (the page itself stays where it is).
  follow(el) {
    const box = this.$("words");
    const top = el.offsetTop - box.offsetTop;
    if (top < box.scrollTop || top > box.scrollTop + box.clientHeight - el.offsetHeight) {
      box.scrollTop = top - box.clientHeight / 3;
    }
  }

  // --- Input ---
  listen() {
    const words = this.$("words");
    if (words) this.listenToWords(words);
    this.root.addEventListener("click", (event) => this.onClick(event));
    document.addEventListener("keydown", (event) => this.onKey(event));
    this.$("play").addEventListener("click", () => this.play());
    this.$("undo").addEventListener("click", () => this.undo());
    this.$("redo").addEventListener("click", () => this.redo());
    this.$("retry").addEventListener("click", () => this.save());
    this.media.addEventListener("play", () => {
      this.startFades();
      // Play after the last kept part starts again from the first.
      const t = this.media.currentTime;
      if (!Ranges.isKept(this.keep, t) && Ranges.indexAt(this.keep, t) + 1 >= this.keep.length) this.seek(this.keep[0][0]);
      this.$("play").textContent = TEXTS.pause;
      if (!this.ticking) { this.ticking = true; requestAnimationFrame(() => this.tick()); }
    });
    this.media.addEventListener("pause", () => { this.$("play").textContent = TEXTS.play; });
    this.media.addEventListener("seeked", () => { this.fadeIn(); this.showTime(); this.markCurrentWord(this.media.currentTime); });
    this.$("waveform").addEventListener("click", (event) => {
      const box = event.currentTarget.getBoundingClientRect();
      this.seek(((event.clientX - box.left) / box.width) * this.duration);
    });
    // Render, Reset and the phrases go to the server only once every change is saved.
    // (The render form is in a fragment htmx replaces: its requests are caught on their way up.)
    this.root.addEventListener("htmx:confirm", (event) => {
      if (event.detail.verb !== "post" || !this.saving) return;
      event.preventDefault();
      this.settled().then(() => event.detail.issueRequest(true));
    });
    this.root.querySelectorAll("form[data-after-save]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!this.saving) return;
        event.preventDefault();
        this.settled().then(() => form.submit());
      });
    });
    window.addEventListener("beforeunload", (event) => {
      if (this.saving || this.dirty) { event.preventDefault(); event.returnValue = TEXTS.leaving; }
    });
  }

  listenToWords(words) {
    let dragging = false, tapped = false, pointing = false;
    words.addEventListener("pointerdown", (event) => {
      const i = this.wordAt(event.target);
      if (i < 0 || event.button !== 0) return;
      pointing = true; // the focus that follows is not the keyboard's
      words.focus({ preventScroll: true });
      pointing = false;
      tapped = event.pointerType === "touch";
      if (tapped) return; // a tap is a click; a drag on a phone scrolls
      event.preventDefault(); // no text selection while selecting words
      dragging = true;
      this.select(event.shiftKey && this.anchor >= 0 ? this.anchor : i, i, false);
    });
    words.addEventListener("pointermove", (event) => {
      if (!dragging) return;
      const i = this.wordAt(document.elementFromPoint(event.clientX, event.clientY));
      if (i >= 0 && i !== this.focus) this.select(this.anchor, i, false);
    });
    const endDrag = () => {
      if (!dragging) return;
      dragging = false;
      this.seek(this.words[this.selected[0]].start);
    };
    document.addEventListener("pointerup", endDrag);
    document.addEventListener("pointercancel", endDrag);
    words.addEventListener("click", (event) => {
      const i = this.wordAt(event.target);
      if (i < 0 || !tapped) return;
      // A phone: the first tap selects a word and plays from it, a second tap cuts or keeps it.
      const [from, to] = this.selected;
      if (from === i && to === i) this.cutFlags[i] ? this.keepSelection() : this.cutSelection();
      else { this.select(i, i, false); this.seek(this.words[i].start); }
    });
    words.addEventListener("focus", () => { if (this.focus < 0 && !pointing) this.select(0, 0); });
    words.addEventListener("keydown", (event) => this.onWordKey(event));
    this.$("cut").addEventListener("click", () => this.cutSelection());
    this.$("keep").addEventListener("click", () => this.keepSelection());
  }

  wordAt(target) {
    const el = target?.closest?.(".word");
    return el ? Number(el.dataset.i) : -1;
  }

  onWordKey(event) {
    const moves = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 };
    if (event.key in moves || event.key === "Home" || event.key === "End") {
      event.preventDefault();
      const to = event.key === "Home" ? 0 : event.key === "End" ? this.words.length - 1 : this.focus + moves[event.key];
      this.select(event.shiftKey ? this.anchor : to, to);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      this.cutSelection();
    } else if (event.key === "Enter") {
      event.preventDefault();
      this.seek(this.words[this.selected[0]].start);
      this.media.play();
    } else if (event.key === "Escape") {
      this.select(this.focus, this.focus);
    } else if (event.key.toLowerCase() === "a" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      this.select(0, this.words.length - 1);
    }
  }

  onKey(event) {
    const typing = event.target.closest?.("input, textarea, select, [contenteditable]");
    if (typing) return;
    const command = event.ctrlKey || event.metaKey;
    if (command && event.key.toLowerCase() === "z") {
      event.preventDefault();
      event.shiftKey ? this.redo() : this.undo();
    } else if (command && event.key.toLowerCase() === "y") {
      event.preventDefault();
      this.redo();
    } else if (event.key === " " && !event.target.closest("button, a, summary, video, audio")) {
      event.preventDefault();
      this.play();
    }
  }

  onClick(event) {
    const target = event.target.closest("button");
    if (!target) return;
    const { seekTo, restore, nudge, accept, reject, acceptAll, rejectAll } = target.dataset;
    if (seekTo !== undefined) {
      this.seek(parseFloat(seekTo));
      this.media.play();
    } else if (restore !== undefined || nudge !== undefined) {
      const row = target.closest("li");
      const [a, b] = [parseFloat(row.dataset.start), parseFloat(row.dataset.end)];
      if (restore !== undefined) this.change(Ranges.restore(this.keep, [[a, b]], this.duration));
      else this.nudge(a, b, ...nudge.split(":").map((part, i) => (i ? Number(part) : part)));
    } else if (accept !== undefined) {
      const entry = this.entry(accept);
      entry.accepted ? this.unaccept(entry) : this.accept([entry]);
    } else if (reject !== undefined) {
      const entry = this.entry(reject);
      if (entry.accepted) this.unaccept(entry);
      this.reject([entry], !entry.rejected);
    } else if (acceptAll !== undefined) {
      this.accept(this.pending(acceptAll));
    } else if (rejectAll !== undefined) {
      this.reject(this.pending(rejectAll));
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("editor");
  if (!root) return;
  const editor = new Editor(root);
  window.cutroomEditor = editor; // for the browser tests, and for poking at it from the console
  editor.start().catch((error) => editor.showProblem(error.message));
});
