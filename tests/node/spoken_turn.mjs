// One spoken turn through the openai npm package's Realtime WebSocket client (OpenAIRealtimeWS),
// pointed at Parley only by baseURL. Usage: node spoken_turn.mjs <baseURL> <speech.pcm (pcm16 24 kHz)>
// Prints one JSON line: what the client received.
import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const [baseURL, speechPath] = process.argv.slice(2);
const client = new OpenAI({ apiKey: "sk-local", baseURL });
const rt = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);
const seen = { types: [], transcript: null, audioBytes: 0, reply: null, status: null, errors: [] };

rt.on("error", (error) => { seen.errors.push(String(error.message ?? error)); });
rt.on("event", (event) => { seen.types.push(event.type); });
rt.on("conversation.item.input_audio_transcription.completed", (event) => { seen.transcript = event.transcript; });
rt.on("response.output_audio.delta", (event) => { seen.audioBytes += Buffer.from(event.delta, "base64").length; });
rt.on("response.done", (event) => {
  seen.status = event.response.status;
  seen.reply = event.response.output.find((item) => item.type === "message")?.content[0]?.transcript ?? null;
  console.log(JSON.stringify(seen));
  rt.close();
});

rt.socket.on("open", () => {
  rt.send({ type: "session.update", session: { type: "realtime", output_modalities: ["audio"],
    audio: { input: { format: { type: "audio/pcm", rate: 24000 }, transcription: { model: "whisper-1" },
                      turn_detection: { type: "server_vad", silence_duration_ms: 500 } },
             output: { format: { type: "audio/pcm", rate: 24000 } } } } });
  const speech = readFileSync(speechPath);
  const chunk = 24000 * 2 / 25; // 40 ms, as a microphone sends
  for (let start = 0; start < speech.length; start += chunk) {
    rt.send({ type: "input_audio_buffer.append", audio: speech.subarray(start, start + chunk).toString("base64") });
  }
});
