// pix2pix-node control page: built from the node's OSCQuery tree, live over its WebSocket.
// Plain JS, no build step, no CDN: it must work on a show network with no internet.
"use strict";

const API = "oscquery";            // the OSCQuery API on this same server (same token, origin)
const PARAM_TYPES = new Set(["i", "f", "T", "F"]);
const READ_WRITE = 3;
const REFRESH_MS = 5000;           // preset and model lists: new files appear without a reload
const SILENCE_MS = 5000;           // no heartbeat for this long: the link is dead, open a new one
const MOVED_GROUPS = ["capture", "process", "predict", "model"];  // what a modulator may move
const BEAT_ADDRESSES = ["/tempo/beat", "/tempo/phase"];  // LISTENed to when the node has them
const LEARN_SHOW_MS = 2500;        // how long a learn button shows the control it just learned
const NETWORK_MS = 2000;           // how often the list of nodes on the show network is asked for
const NO_PAGE = "no page here: its page is off or on its own machine only";

const $ = (id) => document.getElementById(id);
const state = {
  info: null, prefix: "", ws: null, retryMs: 500, params: new Map(), lastBeat: 0,
  opens: 0, presets: [], models: [], model: null, beatListen: [], beats: 0,
  // MIDI learn: the node's /midi/learn, whether the page can use it; the address (no prefix)
  // this page armed; each row's learn button and the control mapped to each address
  midi: false, armed: null, learnButtons: new Map(), mapped: new Map(),
};

// ---- OSC: the subset the node speaks (i f s T F h d, bundles) -------------------------------

const enc = new TextEncoder();
const dec = new TextDecoder();

function oscString(text) {
  const bytes = enc.encode(text);
  const out = new Uint8Array((bytes.length + 4) & ~3);  // NUL-terminated, 4-byte aligned
  out.set(bytes);
  return out;
}

function encodeMessage(address, args) {
  const parts = [oscString(address), oscString("," + args.map((a) => a.t).join(""))];
  for (const arg of args) {
    if (arg.t === "i" || arg.t === "f") {
      const word = new DataView(new ArrayBuffer(4));
      if (arg.t === "i") word.setInt32(0, arg.v); else word.setFloat32(0, arg.v);
      parts.push(new Uint8Array(word.buffer));
    } else if (arg.t === "s") {
      parts.push(oscString(arg.v));
    }
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function readString(view, at) {
  let end = at;
  while (end < view.byteLength && view.getUint8(end) !== 0) end++;
  const text = dec.decode(new Uint8Array(view.buffer, view.byteOffset + at, end - at));
  return [text, (end + 4) & ~3];
}

function decodePacket(view, out = []) {
  const [head, afterHead] = readString(view, 0);
  if (head === "#bundle") {
    let at = afterHead + 8;  // the time tag
    while (at + 4 <= view.byteLength) {
      const size = view.getInt32(at);
      decodePacket(new DataView(view.buffer, view.byteOffset + at + 4, size), out);
      at += 4 + size;
    }
    return out;
  }
  let [tags, at] = readString(view, afterHead);
  const args = [];
  for (const tag of tags.slice(1)) {
    if (tag === "i") { args.push(view.getInt32(at)); at += 4; }
    else if (tag === "f") { args.push(view.getFloat32(at)); at += 4; }
    else if (tag === "h") { args.push(Number(view.getBigInt64(at))); at += 8; }
    else if (tag === "d") { args.push(view.getFloat64(at)); at += 8; }
    else if (tag === "s") { let text; [text, at] = readString(view, at); args.push(text); }
    else if (tag === "T") args.push(true);
    else if (tag === "F") args.push(false);
  }
  out.push({ address: head, args });
  return out;
}

function send(address, args = []) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
    toast("not connected to the node", true);
    return false;
  }
  state.ws.send(encodeMessage(address, args));
  return true;
}

// ---- the tree --------------------------------------------------------------------------------

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (response.status === 401) throw new Error("this page needs the node's token (?token=...)");
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function leaves(node, out = []) {
  for (const child of Object.values(node.CONTENTS || {})) {
    if (child.CONTENTS) leaves(child, out);
    if (child.TYPE !== undefined) out.push(child);
  }
  return out;
}

function groupsOf(tree) {
  // containers that hold parameters, in table order, with their parameters
  const groups = [];
  (function walk(node) {
    const params = Object.values(node.CONTENTS || {}).filter(
      (c) => isPicker(c) || isChoices(c) || isTarget(c)
        || (PARAM_TYPES.has(c.TYPE) && c.ACCESS === READ_WRITE && c.VALUE !== undefined));
    if (params.length) groups.push({ node, params });
    for (const child of Object.values(node.CONTENTS || {})) if (child.CONTENTS) walk(child);
  })(tree);
  return groups;
}

function nodeAt(tree, path) {
  let node = tree;
  for (const part of path.split("/").filter(Boolean)) {
    node = node && node.CONTENTS && node.CONTENTS[part];
  }
  return node || null;
}

const nodePath = (path) => state.prefix + path;

// ---- parameters ------------------------------------------------------------------------------

function numberText(param, value) {
  return param.type === "i" ? String(Math.round(value)) : Number(value).toFixed(3);
}

function showValue(param, value) {
  param.value = value;
  if (param.type === "menu" || param.type === "target") {
    const text = String(value);
    if (![...param.input.options].some((option) => option.value === text)) {
      // a number past the names, or a target this node lacks now (a model's control)
      param.input.append(new Option(param.type === "target" ? `${text} (not here now)` : text, text));
    }
    param.input.value = text;
    if (param.onShow) param.onShow(value);
    return;
  }
  if (param.type === "T" || param.type === "F") {
    param.input.checked = Boolean(value);
    if (param.onShow) param.onShow(Boolean(value));
    return;
  }
  param.input.value = String(value);
  const norm = param.max > param.min ? (value - param.min) / (param.max - param.min) : 0;
  param.out.innerHTML = "";
  param.out.append(numberText(param, value));
  const small = document.createElement("small");
  small.textContent = norm.toFixed(2);
  small.title = "/norm: the value scaled to 0..1";
  param.out.append(small);
}

function received(param, value) {
  if (param.held) { param.later = value; return; }  // the finger wins while it is down
  showValue(param, value);
}

function sendParam(param, value) {
  if (param.type === "T" || param.type === "F") {
    send(param.path, [{ t: value ? "T" : "F" }]);
  } else {
    send(param.path, [{ t: param.type === "i" ? "i" : "f", v: value }]);
  }
}

function floatStep(span) {
  // a power of ten near a thousandth of the range, so round values sit on a step
  // (120 BPM on 20..999 is a step of 0.1; a step of 0.979 would show it as 119.858)
  return span > 0 ? 10 ** Math.floor(Math.log10(span / 1000)) : 0.001;
}

function makeSlider(leaf, row) {
  const range = (leaf.RANGE && leaf.RANGE[0]) || {};
  const param = {
    path: leaf.FULL_PATH, type: leaf.TYPE, min: Number(range.MIN ?? 0),
    max: Number(range.MAX ?? 1), held: false, later: undefined, pending: undefined,
  };
  const input = document.createElement("input");
  input.type = "range";
  input.min = String(param.min);
  input.max = String(param.max);
  input.step = leaf.TYPE === "i" ? "1" : String(floatStep(param.max - param.min));
  input.dataset.address = leaf.FULL_PATH;
  input.id = "p" + leaf.FULL_PATH.replaceAll("/", "-");
  const out = document.createElement("span");
  out.className = "value";
  out.title = "tap to type a value";
  row.querySelector("label").htmlFor = input.id;
  row.append(out, input);
  param.input = input;
  param.out = out;
  let frame = 0;
  input.addEventListener("input", () => {
    const value = Number(input.value);
    showValue(param, value);
    param.pending = value;
    param.later = undefined;  // the finger's newer value wins over one that came meanwhile
    if (!frame) {  // at most one message per animation frame while dragging
      frame = requestAnimationFrame(() => { frame = 0; sendParam(param, param.pending); });
    }
  });
  const hold = (on) => {
    param.held = on;
    row.classList.toggle("held", on);
    if (!on && param.later !== undefined) { showValue(param, param.later); param.later = undefined; }
  };
  input.addEventListener("pointerdown", () => hold(true));
  for (const name of ["pointerup", "pointercancel", "blur"]) {
    input.addEventListener(name, () => hold(false));
  }
  out.addEventListener("click", () => {
    const text = prompt(`${leaf.FULL_PATH} (${param.min}..${param.max})`, String(param.value));
    if (text === null || text.trim() === "" || !Number.isFinite(Number(text))) return;
    const value = Math.min(param.max, Math.max(param.min, Number(text)));
    showValue(param, value);
    sendParam(param, value);
  });
  return param;
}

// a model's image control takes a picture's name: a menu of the style pictures (RANGE VALS)
const isPicker = (c) => c.TYPE === "s" && /\/model\/[^/]+_image$/.test(c.FULL_PATH || "")
  && c.RANGE && c.RANGE[0] && Array.isArray(c.RANGE[0].VALS);

function makeMenu(leaf, row, blankText, entries, toArg) {
  // a <select> that sends the chosen entry's value: [text, value] pairs after a blank entry
  const select = document.createElement("select");
  select.dataset.address = leaf.FULL_PATH;
  for (const [text, value] of [[blankText, ""], ...entries]) {
    const option = document.createElement("option");
    option.textContent = text;
    option.value = value;
    select.append(option);
  }
  select.addEventListener("change", () => {
    if (select.value) send(leaf.FULL_PATH, [toArg(select.value)]);
  });
  row.append(select);
}

function makePicker(leaf, row) {
  const names = leaf.RANGE[0].VALS.map((name) => [name, name]);
  makeMenu(leaf, row, "choose a picture", names, (v) => ({ t: "s", v }));
}

// a mix control (TAGS "pick"): a menu that picks one of its choices with one whole number
const isChoices = (c) => Array.isArray(c.TAGS) && c.TAGS[0] === "pick" && Array.isArray(c.VALUE);

function makeChoices(leaf, row) {
  const name = leaf.FULL_PATH.split("/").pop();
  const choices = leaf.VALUE.map((_, index) => [`${name} ${index}`, String(index)]);
  makeMenu(leaf, row, "a blend", choices, (v) => ({ t: "i", v: Number(v) }));
}

// a menu row (TAGS ["menu", name 0, name 1, ...], see node/control/tree.py): its names, sending
// the index; a modulator's target (a text row): "none" and every number a modulator can move
const isMenu = (c) => c.TYPE === "i" && Array.isArray(c.TAGS) && c.TAGS[0] === "menu";
const isTarget = (c) => c.TYPE === "s" && c.ACCESS === READ_WRITE && Array.isArray(c.VALUE)
  && /\/mod\d+\/target$/.test(c.FULL_PATH || "");

function makeSelectParam(leaf, row, type, options, toArg) {
  const select = document.createElement("select");
  select.dataset.address = leaf.FULL_PATH;
  select.id = "p" + leaf.FULL_PATH.replaceAll("/", "-");
  select.append(...options);
  row.classList.add("menu");
  row.querySelector("label").htmlFor = select.id;
  row.append(select);
  const param = { path: leaf.FULL_PATH, type, input: select, held: false };
  select.addEventListener("change", () => {
    const value = type === "menu" ? Number(select.value) : select.value;
    param.value = value;
    if (param.onShow) param.onShow(value);
    send(param.path, [toArg(value)]);
  });
  return param;
}

function makeMenuRow(leaf, row) {
  const options = leaf.TAGS.slice(1).map((name, index) => new Option(name, String(index)));
  return makeSelectParam(leaf, row, "menu", options, (v) => ({ t: "i", v }));
}

function targetsOf(tree) {
  // [group, address without the prefix] of every number a modulator can move
  const out = [];
  for (const group of MOVED_GROUPS) {
    const node = nodeAt(tree, nodePath("/" + group));
    for (const leaf of Object.values((node && node.CONTENTS) || {})) {
      if ((leaf.TYPE === "i" || leaf.TYPE === "f") && leaf.ACCESS === READ_WRITE
          && leaf.VALUE !== undefined && !isMenu(leaf)) {
        out.push([group, leaf.FULL_PATH.slice(state.prefix.length)]);
      }
    }
  }
  return out;
}

function makeTargetRow(leaf, row, targets) {
  const options = [new Option("none", "")];
  const groups = new Map();
  for (const [group, address] of targets) {
    if (!groups.has(group)) {
      const optgroup = document.createElement("optgroup");
      optgroup.label = group;
      groups.set(group, optgroup);
      options.push(optgroup);
    }
    groups.get(group).append(new Option(address, address));  // shown closed: the whole address
  }
  return makeSelectParam(leaf, row, "target", options, (v) => ({ t: "s", v }));
}

function makeToggle(leaf, row) {
  const input = document.createElement("input");
  input.type = "checkbox";
  input.setAttribute("role", "switch");
  input.dataset.address = leaf.FULL_PATH;
  input.id = "p" + leaf.FULL_PATH.replaceAll("/", "-");
  row.classList.add("toggle");
  row.querySelector("label").htmlFor = input.id;
  row.append(input);
  const param = { path: leaf.FULL_PATH, type: "T", input, held: false };
  input.addEventListener("change", () => { param.value = input.checked; sendParam(param, input.checked); });
  return param;
}

const isModGroup = (name) => /^mod\d+$/.test(name);

function buildParams(tree) {
  const holder = $("params");
  holder.innerHTML = "";
  state.params.clear();
  state.learnButtons.clear();
  state.midi = Boolean(nodeAt(tree, nodePath("/midi/learn")) && nodeAt(tree, nodePath("/midi/learned")));
  const targets = targetsOf(tree);
  state.beatListen = BEAT_ADDRESSES.map(nodePath).filter((path) => nodeAt(tree, path));
  for (const { node, params } of groupsOf(tree)) {
    const name = node.FULL_PATH.split("/").pop();
    const details = document.createElement("details");
    details.dataset.group = name;
    // the 16 modulators start folded (a wall of faders otherwise); the rest start open
    const fold = localStorage.getItem("fold " + name);
    details.open = isModGroup(name) ? fold === "open" : fold !== "closed";
    details.addEventListener("toggle", () =>
      localStorage.setItem("fold " + name, details.open ? "open" : "closed"));
    const summary = document.createElement("summary");
    summary.textContent = name;
    if (node.DESCRIPTION || isModGroup(name)) {
      const small = document.createElement("small");
      small.textContent = node.DESCRIPTION;
      summary.append(small);
    }
    details.append(summary);
    if (name === "tempo") details.append(makeTempoBar());
    if (isModGroup(name)) details.append(makeFireBar(name));
    for (const leaf of params) {
      const row = document.createElement("div");
      row.className = "param";
      row.dataset.address = leaf.FULL_PATH;
      row.title = leaf.DESCRIPTION || "";
      const label = document.createElement("label");
      label.textContent = leaf.FULL_PATH.split("/").pop();
      row.append(label);
      if (isPicker(leaf) || isChoices(leaf)) {
        (isPicker(leaf) ? makePicker : makeChoices)(leaf, row);
        details.append(row);
        continue;
      }
      let param;
      if (isMenu(leaf)) param = makeMenuRow(leaf, row);
      else if (isTarget(leaf)) param = makeTargetRow(leaf, row, targets);
      else if (leaf.TYPE === "i" || leaf.TYPE === "f") param = makeSlider(leaf, row);
      else param = makeToggle(leaf, row);
      state.params.set(leaf.FULL_PATH, param);
      showValue(param, leaf.VALUE[0]);
      if (state.midi && param.type !== "target") makeLearnButton(leaf, row);
      details.append(row);
    }
    if (isModGroup(name)) showModSummary(details, summary.querySelector("small"), node.FULL_PATH);
    holder.append(details);
  }
  const freeze = state.params.get(nodePath("/capture/freeze"));
  if (freeze) {
    freeze.onShow = (on) => $("freeze").setAttribute("aria-pressed", String(on));
    freeze.onShow(Boolean(freeze.value));
  }
  $("freeze").hidden = !freeze;
}

// ---- MIDI learn ------------------------------------------------------------------------------

const shortControl = (text) => text.replace(/\s*\(channel (\d+)\)/, " ch $1");  // "cc 7 ch 0"

function makeLearnButton(leaf, row) {
  // a small button beside the fader: click, move a control on the MIDI controller, and that
  // control drives this row (/midi/learn); click again while it waits to stop waiting
  const path = leaf.FULL_PATH.slice(state.prefix.length);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "learn";
  button.dataset.learn = path;
  button.addEventListener("click", () => {
    if (state.armed === path) {
      if (send(nodePath("/midi/learn"))) showArmed(null);
    } else if (send(nodePath("/midi/learn"), [{ t: "s", v: leaf.FULL_PATH }])) {
      showArmed(path);
    }
  });
  state.learnButtons.set(path, button);
  row.classList.add("learnable");
  row.append(button);
  showLearn(path);
}

function showLearn(path, text) {
  // the button's face: waiting, the control just learned (`text`), or at rest (mapped or not)
  const button = state.learnButtons.get(path);
  if (!button) return;
  const control = state.mapped.get(path);
  const armed = state.armed === path;
  clearTimeout(button.timer);
  button.timer = 0;
  button.classList.toggle("armed", armed);
  button.classList.toggle("mapped", Boolean(control));
  button.setAttribute("aria-pressed", String(armed));
  button.dataset.control = control || "";
  if (armed) {
    button.textContent = "waiting\u2026";
    button.title = `move a control on the MIDI controller: it will drive ${path} (click to stop)`;
    return;
  }
  button.textContent = text || "MIDI";
  button.title = control
    ? `MIDI: ${control} drives ${path} (click to learn another control)`
    : `MIDI learn: click, then move a control on the controller to drive ${path}`;
  if (text) button.timer = setTimeout(() => showLearn(path), LEARN_SHOW_MS);
}

function showArmed(path) {
  // the node waits for one address at a time: arming a row stops the one armed before
  const before = state.armed;
  state.armed = path;
  if (before) showLearn(before);
  if (path) showLearn(path);
}

function learned(address, control) {
  // /midi/learned: whoever armed it, the node waits for nothing more now
  state.mapped.set(address, control);
  const before = state.armed;
  state.armed = null;
  if (before && before !== address) showLearn(before);
  showLearn(address, shortControl(control));
  if (before === address) toast(`${control} drives ${address}`);
}

function showMappings(lines) {
  // /midi/mappings: "cc 7 (channel 0) -> /process/canny_t1 absolute", one a mapping
  const mapped = new Map();
  for (const line of lines) {
    const match = /^(.*?) -> (\S+)/.exec(String(line));
    if (match) mapped.set(match[2], match[1]);
  }
  const changed = new Set([...state.mapped.keys(), ...mapped.keys()]);
  state.mapped = mapped;
  for (const path of changed) {
    const button = state.learnButtons.get(path);
    if (button && !button.timer) showLearn(path);
  }
}

// ---- tempo and modulators ---------------------------------------------------------------------

function makeTempoBar() {
  // a big tap button (on the finger's touch, not its release: a tap's timing is the point)
  // and a light that flashes on each /tempo/beat, the beat in the bar in it
  const bar = document.createElement("div");
  bar.className = "tempo-bar";
  const tap = document.createElement("button");
  tap.id = "tap";
  tap.className = "big";
  tap.textContent = "Tap";
  tap.title = "tap the tempo (/tempo/tap): the beat follows your taps";
  const tapNow = () => {
    if (send(nodePath("/tempo/tap"))) tap.dataset.taps = String(Number(tap.dataset.taps || 0) + 1);
  };
  tap.addEventListener("pointerdown", (event) => { if (event.button === 0) tapNow(); });
  tap.addEventListener("click", (event) => { if (event.detail === 0) tapNow(); });  // a key
  const light = document.createElement("span");
  light.id = "beat-light";
  light.className = "beat-light";
  light.title = "the node's beat (/tempo/beat); brighter on the bar";
  light.dataset.beats = "0";
  bar.append(tap, light);
  return bar;
}

function flashBeat() {
  const light = $("beat-light");
  if (!light) return;
  state.beats += 1;
  light.dataset.beats = String(state.beats);
  light.classList.remove("flash");
  void light.offsetWidth;  // restart the animation
  light.classList.add("flash");
}

function showPhase(phase) {
  const light = $("beat-light");
  if (!light || !Number.isFinite(phase)) return;
  const inBar = Math.floor(phase);
  light.textContent = String(inBar + 1);
  light.classList.toggle("bar", inBar === 0);
}

function makeFireBar(name) {
  // the envelope's gate: held down it is open (/modN/fire 1), let go it closes (0)
  const bar = document.createElement("div");
  bar.className = "mod-bar";
  const fire = document.createElement("button");
  fire.className = "fire";
  fire.textContent = "Fire";
  fire.dataset.fire = name;
  fire.title = `fire the envelope (/${name}/fire): open while held`;
  const path = nodePath(`/${name}/fire`);
  let down = false;
  const gate = (on) => {
    if (on === down) return;
    down = on;
    fire.classList.toggle("down", on);
    send(path, [{ t: "i", v: on ? 1 : 0 }]);
  };
  fire.addEventListener("pointerdown", (event) => { if (event.button === 0) gate(true); });
  for (const type of ["pointerup", "pointerleave", "pointercancel", "blur"]) {
    fire.addEventListener(type, () => gate(false));
  }
  fire.addEventListener("click", (event) => { if (event.detail === 0) send(path); });  // a key: a hit
  fire.addEventListener("contextmenu", (event) => event.preventDefault());  // a long press
  bar.append(fire);
  return bar;
}

function showModSummary(details, small, groupPath) {
  // a folded modulator still says what it does: "sine -> /process/canny_t1"
  const shape = state.params.get(groupPath + "/shape");
  const target = state.params.get(groupPath + "/target");
  if (!shape || !target || !small) return;
  const show = () => {
    const option = shape.input.selectedOptions[0];
    const wave = option ? option.textContent : String(shape.value);
    const on = Number(shape.value) !== 0 && Boolean(target.value);
    small.textContent = Number(shape.value) === 0 ? "off"
      : `${wave} \u2192 ${target.value || "no target"}`;
    details.classList.toggle("active", on);
  };
  shape.onShow = show;
  target.onShow = show;
  show();
}

function updateValues(tree) {
  for (const leaf of leaves(tree)) {
    const param = state.params.get(leaf.FULL_PATH);
    if (param && leaf.VALUE) received(param, leaf.VALUE[0]);
  }
  showLists(tree);
}

// ---- model and presets -----------------------------------------------------------------------

function vals(node) {
  return (node && node.RANGE && node.RANGE[0] && node.RANGE[0].VALS) || [];
}

function showLists(tree) {
  const model = nodeAt(tree, nodePath("/node/model"));
  showModels(vals(model), model && model.VALUE ? model.VALUE[0] : null);
  const state_ = nodeAt(tree, nodePath("/node/model_state"));
  if (state_ && state_.VALUE) showModelState(state_.VALUE);
  showPresets(vals(nodeAt(tree, nodePath("/node/preset/recall"))));
}

function showModels(names, current) {
  const select = $("models");
  if (current !== null && current !== undefined) state.model = current;
  if (names.join("\n") !== state.models.join("\n")) {
    state.models = names;
    select.innerHTML = "";
    for (const name of names) select.append(new Option(name, name));
  }
  const model = state.model;
  if (model === null) return;
  if (![...select.options].some((option) => option.value === model)) {
    select.append(new Option(model, model));
  }
  select.value = model;
}

function showModelState([status, name, reason]) {
  const label = $("model-state");
  label.className = "state " + status;
  label.dataset.status = status;
  label.textContent = status === "error" ? `error: ${reason || name}` : `${status}: ${name}`;
  if (status === "ready") showModels(state.models, name);
}

function showPresets(names) {
  if (names.join("\n") === state.presets.join("\n")) return;
  state.presets = names;
  const list = $("preset-list");
  list.innerHTML = "";
  if (!names.length) {
    const empty = document.createElement("span");
    empty.className = "empty";
    empty.textContent = "no presets yet: save one below";
    list.append(empty);
  }
  names.forEach((name, index) => {
    const button = document.createElement("button");
    button.textContent = name.replaceAll("_", "_\u200b");  // long names wrap at their _
    button.title = `pad ${index}: ${name}`;
    button.dataset.preset = name;
    button.addEventListener("click", () => recall(name, button));
    list.append(button);
  });
}

function recall(name, button) {
  const seconds = Number($("morph-seconds").value);
  const ok = $("morph-on").checked && seconds > 0
    ? send(nodePath("/node/preset/morph"), [{ t: "s", v: name }, { t: "f", v: seconds }])
    : send(nodePath("/node/preset/recall"), [{ t: "s", v: name }]);
  if (!ok) return;
  for (const other of document.querySelectorAll(".pads button")) other.classList.remove("active");
  button.classList.add("active");
}

async function refreshLists() {
  if (document.hidden) return;
  try {
    const [presets, model] = await Promise.all([
      getJson(`${API}${nodePath("/node/preset/recall")}?RANGE`),
      getJson(`${API}${nodePath("/node/model")}?RANGE`),
    ]);
    showPresets(vals(presets));
    showModels(vals(model), null);
  } catch (err) { /* the WebSocket's state says whether the node is there */ }
}

// ---- the live link ---------------------------------------------------------------------------

function onMessage({ address, args }) {
  const param = state.params.get(address);
  if (param) { received(param, args[0]); return; }
  const path = address.slice(state.prefix.length);
  if (path === "/node/heartbeat") {
    $("fps").textContent = Number(args[0]).toFixed(1);
    $("latency").textContent = Math.round(args[1]);
    state.lastBeat = Date.now();
  } else if (path === "/node/model_state") {
    showModelState(args);
  } else if (path === "/node/model") {
    showModels(state.models, args[0]);
  } else if (path === "/node/presets") {
    showPresets(args.slice(1));
  } else if (path === "/midi/learned") {
    learned(String(args[0]), String(args[1]));
  } else if (path === "/midi/mappings") {
    showMappings(args.slice(1));
  } else if (path === "/tempo/beat") {
    flashBeat();
  } else if (path === "/tempo/phase") {
    showPhase(Number(args[0]));
  } else if (path === "/node/error") {
    toast(`${args[0]}: ${args[1]}`, true);
    refetch(String(args[0]));
  }
}

async function refetch(address) {
  // a refused value (a bad target, say): show the node's again, not the one chosen
  const param = state.params.get(address) || state.params.get(nodePath(address));
  if (!param) return;
  try {
    const body = await getJson(`${API}${param.path}?VALUE`);
    if (body && Array.isArray(body.VALUE)) received(param, body.VALUE[0]);
  } catch (err) { /* gone meanwhile */ }
}

function setLink(text, kind) {
  const link = $("link");
  link.textContent = text;
  link.className = "badge " + kind;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/${API}`);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onopen = async () => {
    state.retryMs = 500;
    state.lastBeat = Date.now();
    if (state.opens++ > 0) restartPreview();  // the stream may have died with the link
    const listen = [...state.params.keys(), ...["/node/model", "/node/model_state",
      "/node/heartbeat"].map(nodePath), ...state.beatListen];
    if (state.midi) listen.push(nodePath("/midi/learned"));
    for (const path of listen) ws.send(JSON.stringify({ COMMAND: "LISTEN", DATA: path }));
    if (state.midi) ws.send(encodeMessage(nodePath("/midi/mappings"), []));  // the rows' marks
    try {
      updateValues(await getJson(API));  // what changed while we were away
      setLink("live", "ok");
      document.body.dataset.state = "live";
    } catch (err) { setLink(err.message, "bad"); }
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") { onNamespaceChange(ws, event.data); return; }
    if (!(event.data instanceof ArrayBuffer)) return;
    try {
      for (const message of decodePacket(new DataView(event.data))) onMessage(message);
    } catch (err) { console.warn("bad OSC from the node", err); }
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.ws = null;
    document.body.dataset.state = "reconnecting";
    setLink("reconnecting...", "warn");
    setTimeout(connect, state.retryMs);
    state.retryMs = Math.min(5000, state.retryMs * 2);
  };
}

let rebuildTimer = 0;
function onNamespaceChange(ws, text) {
  // a swap brought or took a model's controls (PATH_ADDED / PATH_REMOVED): rebuild the faders
  // once the burst is over, and LISTEN to the new ones
  let command;
  try { command = JSON.parse(text); } catch (err) { return; }
  if (!command || !["PATH_ADDED", "PATH_REMOVED"].includes(command.COMMAND)) return;
  clearTimeout(rebuildTimer);
  rebuildTimer = setTimeout(async () => {
    try {
      buildParams(await getJson(API));
      for (const path of state.params.keys()) {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ COMMAND: "LISTEN", DATA: path }));
      }
      updateValues(await getJson(API));  // a value set before those LISTENs were in
    } catch (err) { setLink(err.message, "bad"); }
  }, 100);
}

function checkLink() {
  // a phone that slept or left the Wi-Fi can hold a socket that looks open and carries nothing
  const ws = state.ws;
  $("beat").classList.toggle("on", Date.now() - state.lastBeat < 2500);
  if (ws && ws.readyState === WebSocket.OPEN && Date.now() - state.lastBeat > SILENCE_MS) {
    ws.onclose();  // reconnect now: a half-open socket may take minutes to report its close
    ws.onclose = null;
    ws.close();
  }
}

// ---- the show network: the nodes this one lists; choosing one drives it from its own page -----
// Everything here comes from the network (names, models, errors may be anyone's text): it goes
// into the page as text (textContent, attributes), never as HTML.

const network = { timer: 0, off: false, busy: false, entries: new Map(), order: "" };

function pageUrl(entry) {
  // where to drive this entry from: an http(s) page only ("" : none)
  if (typeof entry.page !== "string" || !entry.page) return "";
  try {
    const url = new URL(entry.page, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : "";
  } catch (err) { return ""; }
}

const textOf = (value) => (typeof value === "string" ? value : "");

function describeEntry(entry, kind) {
  // what one row shows: its name, a line about it, and why it is not as it should be
  const url = kind === "self" ? "" : pageUrl(entry);
  const fps = Number(entry.fps);
  const info = kind === "device"
    ? `OSCQuery device · ${textOf(entry.host)}:${Number(entry.oscquery_port) || "?"}`
    : [textOf(entry.model) || "no model", Number.isFinite(fps) ? `${fps.toFixed(1)} fps` : ""]
      .filter(Boolean).join(" · ");
  const error = textOf(entry.error);
  let reach = "";  // what choosing it does, or why it cannot be chosen
  if (kind === "self") reach = "this node";
  else if (url) reach = "choose it to drive it from its own page";
  else reach = kind === "node" ? NO_PAGE : "no page to drive it from";
  const why = error || (url || kind === "device" ? "" : reach);
  const osc = Number(entry.osc_port) || "-";
  const where = kind === "self" ? "" : `${textOf(entry.host)} · OSC ${osc}`;
  const title = [
    textOf(entry.name), where, textOf(entry.source) && `source ${entry.source}`,
    textOf(entry.sinks) && `out ${entry.sinks}`, textOf(entry.ndi) && `NDI ${entry.ndi}`,
    textOf(entry.prefix) && `prefix ${entry.prefix}`, error, reach,
  ].filter(Boolean).join("\n");
  const name = textOf(entry.name) || "(no name)";
  return { kind, name, info, why, bad: Boolean(error), url, title };
}

function entryElement(row) {
  // a link where there is a page to go to; else a plain row (this node, or one without a page)
  const el = document.createElement(row.url ? "a" : "span");
  el.className = "node-entry";
  const name = document.createElement("span");
  name.className = "node-name";
  const info = document.createElement("small");
  info.className = "node-info";
  const why = document.createElement("small");
  why.className = "node-why";
  el.append(name, info, why);
  return el;
}

function fillEntry(el, row) {
  el.dataset.kind = row.kind;
  el.dataset.name = row.name;
  el.title = row.title;
  if (row.url) el.href = row.url;
  if (row.kind === "self") el.setAttribute("aria-current", "page");
  else el.removeAttribute("aria-current");
  if (!row.url && row.kind !== "self") el.setAttribute("aria-disabled", "true");
  el.querySelector(".node-name").textContent = row.name;
  el.querySelector(".node-info").textContent = row.info;
  const why = el.querySelector(".node-why");
  why.textContent = row.why;
  why.hidden = !row.why;
  why.classList.toggle("bad", row.bad);
}

function showNetwork(body) {
  // this node first, then the other nodes (oldest first), then other OSCQuery devices; rows are
  // kept and updated in place, so a finger on one is not lost to the next poll
  const listed = (Array.isArray(body.nodes) ? body.nodes : [])
    .filter((entry) => entry && typeof entry === "object");
  const rows = [["self", describeEntry(body.self || {}, "self")]];
  const seen = new Set();
  const key = (entry, kind) => {
    let k = `${kind} ${textOf(entry.instance)} ${textOf(entry.name)}`;
    while (seen.has(k)) k += "+";
    seen.add(k);
    return k;
  };
  const devices = listed.filter((entry) => entry.node === false);
  for (const entry of listed.filter((e) => e.node !== false)) {
    rows.push([key(entry, "node"), describeEntry(entry, "node")]);
  }
  if (devices.length) rows.push(["divider", null]);
  for (const entry of devices) rows.push([key(entry, "device"), describeEntry(entry, "device")]);
  const list = $("node-list");
  const keep = new Map();
  for (const [k, row] of rows) {
    let li = network.entries.get(k);
    if (k === "divider") {
      if (!li) {
        li = document.createElement("li");
        li.className = "nodes-divider";
        li.textContent = "other OSCQuery devices";
      }
    } else {
      const old = li && li.firstChild;
      if (!li || (old.tagName === "A") !== Boolean(row.url)) {  // a page came or went
        li = li || document.createElement("li");
        li.replaceChildren(entryElement(row));
      }
      fillEntry(li.firstChild, row);
    }
    keep.set(k, li);
  }
  network.entries = keep;
  const order = [...keep.keys()].join("\n");
  if (order !== network.order) {  // only a changed list is laid out again
    network.order = order;
    list.replaceChildren(...keep.values());
  }
  const others = rows.length - 1 - (devices.length ? 1 : 0);
  $("nodes-state").textContent = body.browsing === false
    ? `this node only: ${textOf(body.why_not) || "the show network is not browsed"}`
    : others ? "" : "no other node found yet";
  $("nodes").classList.remove("stale");
  $("nodes").hidden = false;
}

async function pollNetwork() {
  // one poll at a time (a slow answer is not overtaken by the next); a pocketed phone asks none
  if (document.hidden || network.off || network.busy) return;
  network.busy = true;
  try { await askNetwork(); } finally { network.busy = false; }
}

async function askNetwork() {
  let response;
  try {
    response = await fetch("network", { cache: "no-store" });
  } catch (err) {
    networkFailed("the node does not answer");
    return;
  }
  if (response.status === 404) {  // a node without the show network: no list at all
    network.off = true;
    clearInterval(network.timer);
    $("nodes").hidden = true;
    return;
  }
  if (!response.ok) { networkFailed(`HTTP ${response.status}`); return; }
  try {
    showNetwork(await response.json());
  } catch (err) { networkFailed("an answer that is not a list of nodes"); }
}

function networkFailed(why) {
  // the last list stays (a stage keeps what it knew), marked as not current
  if (!network.order) return;
  $("nodes").classList.add("stale");
  $("nodes-state").textContent = `not updated: ${why}`;
}

function startNetwork() {
  pollNetwork();
  network.timer = setInterval(pollNetwork, NETWORK_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) pollNetwork(); });
}

// ---- the rest of the page --------------------------------------------------------------------

let toastTimer = 0;
function toast(text, bad = false) {
  const el = $("toast");
  el.textContent = text;
  el.className = "show" + (bad ? " bad" : "");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = ""; }, 3500);
}

function showAccess(access) {
  const el = $("access");
  el.textContent = access.local_only
    ? "this machine only" + (access.token ? " · token" : "")
    : access.token ? "network · token" : "open to the network";
  el.className = "badge " + (access.local_only || access.token ? "ok" : "warn");
  el.title = access.text;
  el.dataset.token = String(access.token);
}

function startPreview(path) {
  const img = $("preview");
  if (!path) { img.hidden = true; $("no-preview").hidden = false; return; }
  img.onerror = () => setTimeout(restartPreview, 2000);
  img.src = path;
}

function restartPreview() {
  const path = state.info && state.info.preview;
  if (path) $("preview").src = `${path}?t=${Date.now()}`;
}

function wireButtons() {
  $("freeze").addEventListener("click", () => {
    const freeze = state.params.get(nodePath("/capture/freeze"));
    if (!freeze) return;
    const on = !freeze.value;
    showValue(freeze, on);
    sendParam(freeze, on);
  });
  let armed = 0;
  $("reset").addEventListener("click", () => {  // two taps: a stray touch resets nothing
    const button = $("reset");
    if (!armed) {
      button.classList.add("armed");
      button.textContent = "Tap again to reset";
      armed = setTimeout(() => { armed = 0; button.classList.remove("armed"); button.textContent = "Reset"; }, 3000);
      return;
    }
    clearTimeout(armed);
    armed = 0;
    button.classList.remove("armed");
    button.textContent = "Reset";
    if (send(nodePath("/node/reset"))) toast("every parameter back to its default");
  });
  $("models").addEventListener("change", (event) => {
    send(nodePath("/node/model"), [{ t: "s", v: event.target.value }]);
  });
  $("save-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("save-name").value.trim();
    if (!name) return;
    if (state.presets.includes(name) && !confirm(`Replace the preset "${name}"?`)) return;
    if (send(nodePath("/node/preset/save"), [{ t: "s", v: name }])) {
      $("save-name").value = "";
      toast(`saved ${name}`);
      setTimeout(() => send(nodePath("/node/presets")), 300);  // the reply lists them
    }
  });
  setInterval(checkLink, 500);
  document.addEventListener("visibilitychange", () => {  // a pocketed phone costs no JPEGs
    if (document.hidden) $("preview").removeAttribute("src"); else restartPreview();
  });
  setInterval(refreshLists, REFRESH_MS);
}

async function main() {
  if (new URLSearchParams(location.search).has("token")) {
    history.replaceState(null, "", location.pathname);  // the cookie keeps it from now on
  }
  try {
    state.info = await getJson("page.json");
    state.prefix = state.info.prefix || "";
    $("name").textContent = state.info.name;
    document.title = state.info.name;
    showAccess(state.info.access);
    startNetwork();  // the other nodes are listed even if this one's tree fails below
    startPreview(state.info.preview);
    const tree = await getJson(API);
    buildParams(tree);
    showLists(tree);
    wireButtons();
    connect();
  } catch (err) {
    setLink(err.message, "bad");
    document.body.dataset.state = "error";
  }
}

main();
