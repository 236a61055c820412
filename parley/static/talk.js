// The talk page: microphone -> WS /v1/realtime (OpenAI Realtime API, GA events) -> the bot's voice, with barge-in.
const RATE = 24000; // pcm16 mono, as in the Realtime API

const $ = (id) => document.getElementById(id);
const stats = { sentChunks: 0, audioDeltas: 0, playedSeconds: 0, responses: 0, transcripts: [], replies: [], errors: [] };
window.parleyStats = stats; // read by the end-to-end test

let ws = null;
let context = null;
let mic = null;
let nextPlay = 0;
let playing = [];
let botLine = null;
// The reply item being played and when each of its buffers plays, to tell the server what was heard.
let playingItem = null;

function setStatus(state) {
  $("status").textContent = state;
  $("status").dataset.state = state;
}

function line(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = text;
  $("transcript").appendChild(li);
  return li;
}

function toBase64(buffer) {
  let binary = "";
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function play(itemId, base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const pcm = new Int16Array(bytes.buffer, 0, bytes.length >> 1);
  const buffer = context.createBuffer(1, pcm.length, RATE);
  const samples = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 0x8000;
  const source = context.createBufferSource();
  source.buffer = buffer;
  source.connect(context.destination);
  nextPlay = Math.max(nextPlay, context.currentTime + 0.05);
  source.start(nextPlay);
  if (!playingItem || playingItem.id !== itemId) playingItem = { id: itemId, buffers: [] };
  playingItem.buffers.push({ start: nextPlay, duration: buffer.duration });
  nextPlay += buffer.duration;
  stats.playedSeconds += buffer.duration;
  playing.push(source);
  source.onended = () => { playing = playing.filter((s) => s !== source); };
  setStatus("speaking");
}

function heardMs(item) {
  const now = context.currentTime;
  const seconds = item.buffers.reduce((sum, b) => sum + Math.min(b.duration, Math.max(0, now - b.start)), 0);
  return Math.floor(seconds * 1000);
}

function stopPlayback({ tellServer = false } = {}) {
  // Barge-in: the server heard the user speak over the bot; drop what is still queued and tell
  // the server how much of the reply was heard, so the bot remembers saying only that.
  if (tellServer && playingItem && playing.length && ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: "conversation.item.truncate", item_id: playingItem.id, content_index: 0,
                             audio_end_ms: heardMs(playingItem) }));
  }
  for (const source of playing) { try { source.stop(); } catch (e) { /* already ended */ } }
  playing = [];
  playingItem = null;
  nextPlay = 0;
}

function onEvent(event) {
  switch (event.type) {
    case "input_audio_buffer.speech_started":
      stopPlayback({ tellServer: true });
      setStatus("listening");
      break;
    case "conversation.item.input_audio_transcription.completed":
      stats.transcripts.push(event.transcript);
      line("user", event.transcript);
      break;
    case "response.output_audio_transcript.delta":
      if (!botLine) botLine = line("bot", "");
      botLine.textContent += event.delta;
      break;
    case "response.output_audio.delta":
      stats.audioDeltas++;
      play(event.item_id, event.delta);
      break;
    case "response.done": {
      stats.responses++;
      const response = event.response;
      const message = response.output.find((item) => item.type === "message");
      const text = message?.content[0]?.transcript ?? "";
      stats.replies.push(text);
      if (!botLine && !text) break; // interrupted before it said anything
      if (!botLine) botLine = line("bot", text);
      if (response.status === "cancelled") {
        // What it had started to say when it was interrupted.
        botLine.textContent = (text || botLine.textContent) + " (interrupted)";
        botLine.classList.add("cancelled");
      }
      const ms = response.metadata?.voice_to_voice_ms;
      if (ms) {
        const span = document.createElement("span");
        span.className = "latency";
        span.textContent = `${Math.round(Number(ms))} ms`;
        botLine.appendChild(span);
        $("latency").textContent = `last reply: ${Math.round(Number(ms))} ms from the end of your speech to its voice`;
      }
      botLine = null;
      break;
    }
    case "error":
      stats.errors.push(event.error.message);
      console.warn("parley:", event.error.message);
      break;
  }
}

async function start() {
  $("start").disabled = true;
  setStatus("connecting");
  context = new AudioContext({ sampleRate: RATE });
  await context.audioWorklet.addModule("static/mic-worklet.js");
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  mic = { stream, source: context.createMediaStreamSource(stream), node: new AudioWorkletNode(context, "mic-capture") };
  const token = new URLSearchParams(location.search).get("token");
  const url = new URL("v1/realtime", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("model", "parley");
  if (token) url.searchParams.set("token", token);
  ws = new WebSocket(url);
  ws.onmessage = (message) => onEvent(JSON.parse(message.data));
  ws.onclose = () => { setStatus("disconnected"); stop(); };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  mic.node.port.onmessage = (message) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: "input_audio_buffer.append", audio: toBase64(message.data) }));
    stats.sentChunks++;
  };
  mic.source.connect(mic.node);
  $("stop").disabled = false;
  setStatus("listening");
}

function stop() {
  if (mic) { mic.source.disconnect(); mic.stream.getTracks().forEach((t) => t.stop()); mic = null; }
  if (ws && ws.readyState === WebSocket.OPEN) ws.close();
  stopPlayback();
  $("start").disabled = false;
  $("stop").disabled = true;
}

$("start").onclick = () => start().catch((error) => { stats.errors.push(String(error)); setStatus("error: " + error.message); $("start").disabled = false; });
$("stop").onclick = stop;
