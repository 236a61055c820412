// The speech playground: voices from GET /v1/voices, knob ranges from SpeechStyle's schema,
// audio from POST /v1/audio/speech. A knob the voice's engine does not list is disabled, not sent.
const KNOBS = ["speed", "exaggeration", "cfg_weight", "temperature"];
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const stats = (window.playgroundStats = { voices: 0, syntheses: 0, lastRequest: null, decodedSeconds: null, errors: [] });
let details = {};
let lastUrl = null;

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
  if (error) stats.errors.push(text);
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.error?.message || JSON.stringify(body);
  } catch {
    return `HTTP ${response.status}`;
  }
}

function range(schema, name) {
  const field = schema.properties[name];
  const number = (field.anyOf || [field]).find((option) => option.type === "number") || field;
  return { min: number.minimum, max: number.maximum, title: field.title || name };
}

function buildKnobs(schema) {
  for (const name of KNOBS) {
    const { min, max, title } = range(schema, name);
    const row = document.createElement("div");
    row.className = "knob";
    row.innerHTML = `<label for="knob-${name}">${title}</label>
      <input id="knob-${name}" type="range" min="${min}" max="${max}" step="0.05">
      <output id="value-${name}"></output>`;
    $("knobs").append(row);
    const input = row.querySelector("input");
    input.addEventListener("input", () => ($(`value-${name}`).textContent = input.value));
  }
}

function showVoice() {
  const voice = details[$("voice").value];
  if (!voice) return;
  $("voice-info").textContent = `${voice.backend}${voice.language ? ", " + voice.language : ""}${voice.clone ? ", cloned" : ""}`;
  for (const name of KNOBS) {
    const input = $(`knob-${name}`);
    const usable = voice.knobs.includes(name);
    input.disabled = !usable;
    input.closest(".knob").classList.toggle("disabled", !usable);
    input.title = usable ? "" : `${voice.backend} cannot honour ${name}`;
    const initial = voice.style[name] ?? (name === "speed" ? 1 : (Number(input.min) + Number(input.max)) / 2);
    input.value = initial;
    $(`value-${name}`).textContent = usable ? input.value : "—";
  }
  $("seed").disabled = !voice.knobs.includes("seed");
}

async function load() {
  const [schemaResponse, voicesResponse] = await Promise.all([
    fetch("playground/style.json"),
    fetch("v1/voices", { headers }),
  ]);
  if (!voicesResponse.ok) return status(`could not list voices: ${await errorText(voicesResponse)}`, true);
  buildKnobs(await schemaResponse.json());
  const listing = await voicesResponse.json();
  details = Object.fromEntries(listing.details.map((voice) => [voice.name, voice]));
  for (const voice of listing.details) $("voice").append(new Option(voice.name, voice.name));
  stats.voices = listing.details.length;
  $("voice").addEventListener("change", showVoice);
  showVoice();
  $("speak").disabled = false;
  status(`${stats.voices} voices`);
}

async function speak() {
  const voice = details[$("voice").value];
  const format = $("format").value;
  const request = { model: "parley", input: $("text").value, voice: voice.name, response_format: format };
  for (const name of KNOBS) if (!$(`knob-${name}`).disabled) request[name] = Number($(`knob-${name}`).value);
  if ($("seed").value !== "" && !$("seed").disabled) request.seed = Number($("seed").value);
  stats.lastRequest = request;
  $("speak").disabled = true;
  status("synthesizing…");
  try {
    const response = await fetch("v1/audio/speech", {
      method: "POST", headers: { ...headers, "Content-Type": "application/json" }, body: JSON.stringify(request),
    });
    if (!response.ok) return status(await errorText(response), true);
    const blob = await response.blob();
    if (lastUrl) URL.revokeObjectURL(lastUrl);
    lastUrl = URL.createObjectURL(blob);
    $("audio").src = lastUrl;
    Object.assign($("download"), { href: lastUrl, download: `speech.${format}`, hidden: false });
    // Decoded here too, so what played is known to be audio, not just bytes.
    const context = new AudioContext();
    const decoded = await context.decodeAudioData(await blob.arrayBuffer());
    await context.close();
    stats.decodedSeconds = decoded.duration;
    stats.syntheses += 1;
    status(`${decoded.duration.toFixed(2)} s of ${format}`);
    $("audio").play().catch(() => {}); // autoplay may be refused; the controls are there
  } catch (error) {
    status(`failed: ${error}`, true);
  } finally {
    $("speak").disabled = false;
  }
}

$("speak").addEventListener("click", speak);
load().catch((error) => status(`failed: ${error}`, true));
