// The livegate playground: an OpenAI Realtime client in the browser, talking to livegate with an
// ephemeral key (openai-realtime.md §7), over WebRTC (§8: the SDP offer posted to /v1/realtime/calls,
// audio on media tracks, events on the "oai-events" data channel) or over a WebSocket with the key in
// the browser subprotocol (§1.5). Nothing is fetched from anywhere but the gateway that served this page.

const $ = (id) => document.getElementById(id);
const RATE = 24000; // pcm16 (openai-realtime.md §9)
const LOG_LIMIT = 400;

const state = {
  ws: null,
  pc: null, // WebRTC: the peer connection, its channel and its microphone track
  channel: null,
  track: null,
  audio: null,
  mic: null,
  micNode: null,
  held: false,
  pushToTalk: false,
  playHead: 0,
  sources: new Set(),
  current: null, // the assistant item being played: {itemId, start, samples}
  responding: false, // between response.created and response.done
  lines: new Map(), // item id -> transcript entry
  prices: new Map(),
  model: "",
};

// What a test (or a curious person in the console) can read.
const stats = { transport: "", scheduledSamples: 0, playedSamples: 0, bargeIns: 0, playing: false, appended: 0, responses: 0, toolCalls: [], errors: [], buffer: [] };
window.livegatePlayground = { stats, transcript: () => [...$("transcript").children].map((li) => ({ role: li.dataset.role, text: li.querySelector(".text").textContent })) };

// ---- setup -------------------------------------------------------------------------------

async function loadModels() {
  const key = $("key").value.trim();
  const response = await fetch("/v1/models", { headers: key ? { Authorization: `Bearer ${key}` } : {} }).catch(() => null);
  if (!response || !response.ok) {
    if (!$("model").options.length) setStatus("Enter your API key to list the models", "idle");
    return;
  }
  const { data } = await response.json();
  const select = $("model");
  const chosen = select.value;
  select.replaceChildren(...data.map((m) => new Option(m.livegate ? `${m.id} (${m.livegate.upstream_model})` : m.id, m.id)));
  for (const m of data) state.prices.set(m.id, m.livegate && m.livegate.price);
  if (chosen && data.some((m) => m.id === chosen)) select.value = chosen;
  setStatus("Not connected", "idle");
}

function sessionConfig() {
  let tools = [];
  const toolText = $("tool").value.trim();
  if (toolText) {
    let tool;
    try {
      tool = JSON.parse(toolText);
    } catch (error) {
      throw new Error(`The tool is not valid JSON: ${error.message}`);
    }
    if (!tool || tool.type !== "function" || !tool.name) throw new Error('The tool needs "type": "function" and a "name".');
    tools = [tool];
  }
  state.pushToTalk = document.querySelector('input[name="turns"]:checked').value === "push_to_talk";
  return {
    type: "realtime",
    model: $("model").value,
    instructions: $("instructions").value,
    output_modalities: ["audio"],
    audio: {
      input: {
        format: { type: "audio/pcm", rate: RATE },
        turn_detection: state.pushToTalk ? null : { type: "server_vad", silence_duration_ms: 500 },
        transcription: $("transcription").checked ? { model: "gpt-4o-transcribe" } : null,
      },
      output: { format: { type: "audio/pcm", rate: RATE }, voice: $("voice").value },
    },
    tools,
    tool_choice: "auto",
  };
}

async function connect(event) {
  event.preventDefault();
  showError("");
  let session;
  try {
    session = sessionConfig();
  } catch (error) {
    showError(error.message);
    return;
  }
  if (!session.model) {
    showError("Choose a model first (enter your API key to list them).");
    return;
  }
  state.audio = state.audio || new AudioContext({ sampleRate: RATE });
  await state.audio.resume();
  const key = $("key").value.trim();
  setStatus("Asking for an ephemeral key…", "busy");
  let response;
  try {
    response = await fetch("/v1/realtime/client_secrets", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(key ? { Authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ expires_after: { anchor: "created_at", seconds: 60 }, session }),
    });
  } catch (error) {
    setStatus("Not connected", "error");
    showError(`The gateway could not be reached: ${error.message}`);
    return;
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    setStatus("Not connected", "error");
    showError(explainHttp(response.status, body));
    return;
  }
  $("key").value = ""; // the real key stays in the page no longer than this request
  state.model = session.model;
  stats.transport = $("transport").value;
  if (stats.transport === "webrtc") {
    await connectRtc(body.value, session.model);
    return;
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/v1/realtime?model=${encodeURIComponent(session.model)}`;
  const ws = new WebSocket(url, ["realtime", `openai-insecure-api-key.${body.value}`]);
  state.ws = ws;
  setStatus("Connecting…", "busy");
  ws.onopen = () => {
    setStatus(`Connected to ${session.model}`, "connected");
    setConnected(true);
  };
  ws.onmessage = (message) => receive(JSON.parse(message.data));
  ws.onclose = (close) => {
    if (state.ws === ws) disconnected(close);
  };
}

async function connectRtc(secret, model) {
  setStatus("Calling…", "busy");
  const pc = new RTCPeerConnection();
  state.pc = pc;
  try {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: $("echo").checked, noiseSuppression: true, autoGainControl: true } });
    state.mic = mic;
    state.track = mic.getAudioTracks()[0];
    state.track.enabled = false; // silent until "Start microphone"
    pc.addTrack(state.track, mic);
  } catch (error) {
    pc.close();
    state.pc = null;
    setStatus("Not connected", "error");
    showError(`A call needs the microphone: ${error.message}`);
    return;
  }
  pc.ontrack = (event) => {
    $("remote").srcObject = event.streams[0] || new MediaStream([event.track]);
  };
  const channel = pc.createDataChannel("oai-events");
  state.channel = channel;
  channel.onmessage = (message) => receive(JSON.parse(message.data));
  channel.onopen = () => {
    setStatus(`Connected to ${model} (WebRTC)`, "connected");
    setConnected(true);
  };
  channel.onclose = () => {
    if (state.channel === channel) disconnected({ code: 1000, reason: "" });
  };
  pc.onconnectionstatechange = () => {
    if (["failed", "closed"].includes(pc.connectionState) && state.pc === pc) disconnected({ code: 1006, reason: "the call was lost" });
  };
  await pc.setLocalDescription(await pc.createOffer());
  let response;
  try {
    response = await fetch("/v1/realtime/calls", { method: "POST", headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${secret}` }, body: pc.localDescription.sdp });
  } catch (error) {
    disconnected({ code: 1006, reason: error.message });
    return;
  }
  if (response.status !== 201) {
    const body = await response.json().catch(() => null);
    disconnected({ code: 1006, reason: "" });
    showError(explainHttp(response.status, body));
    return;
  }
  state.callId = (response.headers.get("Location") || "").split("/").pop();
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
}

async function audioEnergy() {
  // What the browser received on the call's track (RTCInboundRtpStreamStats.totalAudioEnergy).
  if (!state.pc) return 0;
  let energy = 0;
  (await state.pc.getStats()).forEach((report) => {
    if (report.type === "inbound-rtp" && report.kind === "audio") energy += report.totalAudioEnergy || 0;
  });
  return energy;
}
window.livegatePlayground.audioEnergy = audioEnergy;

function explainHttp(status, body) {
  const message = body && body.error && body.error.message ? body.error.message : "";
  const plain = {
    400: "The session settings were refused",
    401: "The key was not accepted",
    403: "This key may not use this model",
    404: "The gateway does not serve this model",
    429: "This key has reached a limit",
    503: "The gateway cannot take a session right now",
  }[status] || `The gateway answered ${status}`;
  return message ? `${plain}: ${message}` : `${plain}.`;
}

function disconnected(close) {
  stopMic();
  stopPlayback(false);
  setConnected(false);
  state.ws = null;
  if (state.pc) {
    const pc = state.pc;
    state.pc = state.channel = state.track = null;
    pc.close();
    if (state.mic) for (const track of state.mic.getTracks()) track.stop();
    state.mic = null;
  }
  const why = close.reason ? `: ${close.reason}` : "";
  if (close.code === 1000 || close.code === 1005) setStatus("Disconnected", "idle");
  else setStatus(`Disconnected (${close.code})${why}`, "error");
}

function setConnected(connected) {
  document.body.classList.toggle("connected", connected);
  for (const id of ["mic", "text", "send", "image", "camera", "disconnect"]) $(id).disabled = !connected;
  for (const id of ["connect", "model", "voice", "instructions", "tool", "transcription", "echo"]) $(id).disabled = connected;
  $("ptt").hidden = !state.pushToTalk;
  $("ptt").disabled = !connected;
}

// ---- events ------------------------------------------------------------------------------

function send(event) {
  const socket = state.channel || state.ws;
  if (!socket || socket.readyState !== (state.channel ? "open" : WebSocket.OPEN)) return;
  socket.send(JSON.stringify(event));
  if (event.type !== "input_audio_buffer.append") log("client", event);
}

function receive(event) {
  if (!(event.type === "response.output_audio.delta" && !$("log-audio").checked)) log("server", event);
  switch (event.type) {
    case "conversation.item.added":
    case "conversation.item.created": {
      const item = event.item;
      if (item.type === "message") {
        const text = (item.content || []).map((part) => part.text || part.transcript || { input_image: "[image]", input_audio: "…" }[part.type] || "").join(" ");
        line(item.id, item.role, text);
      }
      break;
    }
    case "conversation.item.input_audio_transcription.delta":
      append(event.item_id, "user", event.delta);
      break;
    case "conversation.item.input_audio_transcription.completed":
      line(event.item_id, "user", event.transcript, true);
      break;
    case "response.output_audio_transcript.delta":
    case "response.output_text.delta":
      append(event.item_id, "assistant", event.delta);
      break;
    case "response.output_audio.delta":
      play(event.delta, event.item_id);
      break;
    case "input_audio_buffer.speech_started":
      if (!state.pc) stopPlayback(true); // the user barges in: the reply stops at once (on WebRTC, the server stops it)
      break;
    case "output_audio_buffer.started":
    case "output_audio_buffer.stopped":
    case "output_audio_buffer.cleared":
      // WebRTC: the server says when its track plays (openai-realtime.md §5.4).
      stats.buffer.push(event.type.split(".").pop());
      setPlaying(event.type === "output_audio_buffer.started");
      if (event.type === "output_audio_buffer.cleared") {
        stats.bargeIns += 1;
        const entry = [...state.lines.values()].filter((e) => e.role === "assistant").pop();
        if (entry) entry.li.classList.add("interrupted");
      }
      break;
    case "response.function_call_arguments.done":
      showCall(event);
      break;
    case "response.created":
      state.responding = true;
      break;
    case "response.done":
      state.responding = false;
      usage(event.response);
      break;
    case "error":
      stats.errors.push(event.error);
      showError(event.error.message);
      break;
  }
}

// ---- transcript ----------------------------------------------------------------------------

function line(itemId, role, text, replace = false) {
  let entry = state.lines.get(itemId);
  if (!entry) {
    const li = document.createElement("li");
    li.className = role;
    li.dataset.role = role;
    li.dataset.item = itemId;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You" : "Assistant";
    const body = document.createElement("span");
    body.className = "text";
    li.append(who, body);
    $("transcript").append(li);
    entry = { li, body };
    state.lines.set(itemId, entry);
  }
  if (text && (replace || !entry.body.textContent)) entry.body.textContent = text;
  const list = $("transcript");
  list.scrollTop = list.scrollHeight; // the list scrolls, not the page
  return entry;
}

function append(itemId, role, delta) {
  const entry = line(itemId, role, "");
  if (entry.body.textContent === "…") entry.body.textContent = "";
  entry.body.textContent += delta;
}

// ---- playback ------------------------------------------------------------------------------

function play(base64, itemId) {
  const audio = state.audio;
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const pcm = new Int16Array(bytes.buffer, 0, bytes.length >> 1);
  const samples = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
  const buffer = audio.createBuffer(1, samples.length, RATE);
  buffer.copyToChannel(samples, 0);
  const source = audio.createBufferSource();
  source.buffer = buffer;
  source.connect(audio.destination);
  state.playHead = Math.max(state.playHead, audio.currentTime + 0.02);
  if (!state.current || state.current.itemId !== itemId) state.current = { itemId, start: state.playHead, samples: 0 };
  source.start(state.playHead);
  state.playHead += buffer.duration;
  state.current.samples += samples.length;
  stats.scheduledSamples += samples.length;
  state.sources.add(source);
  source.onended = () => {
    state.sources.delete(source);
    stats.playedSamples += samples.length;
    if (!state.sources.size) setPlaying(false);
  };
  setPlaying(true);
}

function stopPlayback(bargeIn) {
  if (!state.sources.size || !state.audio) return;
  const current = state.current;
  const playedMs = Math.max(0, Math.round((state.audio.currentTime - current.start) * 1000));
  for (const source of state.sources) {
    source.onended = null;
    source.stop();
  }
  state.sources.clear();
  state.playHead = 0;
  setPlaying(false);
  if (bargeIn) {
    stats.bargeIns += 1;
    // Tell the gateway how much was heard, so the conversation keeps only that (openai-realtime.md §5).
    send({ type: "conversation.item.truncate", item_id: current.itemId, content_index: 0, audio_end_ms: Math.min(playedMs, Math.floor(current.samples / (RATE / 1000))) });
    const entry = state.lines.get(current.itemId);
    if (entry) entry.li.classList.add("interrupted");
  }
}

function setPlaying(playing) {
  stats.playing = playing;
  $("playing").dataset.playing = String(playing);
  $("playing").textContent = playing ? "Speaking…" : "Silent";
}

// ---- microphone ----------------------------------------------------------------------------

async function toggleMic() {
  if (state.track) {
    // WebRTC: the microphone track is the call's; it is muted, not removed.
    state.track.enabled = !state.track.enabled;
    $("mic").setAttribute("aria-pressed", String(state.track.enabled));
    $("mic").textContent = state.track.enabled ? "Stop microphone" : "Start microphone";
    return;
  }
  if (state.mic) {
    stopMic();
    return;
  }
  try {
    state.mic = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: $("echo").checked, noiseSuppression: false, autoGainControl: false } });
  } catch (error) {
    showError(`The microphone is not available: ${error.message}`);
    return;
  }
  const audio = state.audio;
  await audio.audioWorklet.addModule("capture-worklet.js");
  const source = audio.createMediaStreamSource(state.mic);
  const node = new AudioWorkletNode(audio, "pcm16-capture");
  const mute = audio.createGain();
  mute.gain.value = 0;
  source.connect(node).connect(mute).connect(audio.destination);
  node.port.onmessage = (message) => {
    if (state.pushToTalk && !state.held) return;
    stats.appended += 1;
    send({ type: "input_audio_buffer.append", audio: toBase64(new Uint8Array(message.data)) });
  };
  state.micNode = node;
  $("mic").setAttribute("aria-pressed", "true");
  $("mic").textContent = "Stop microphone";
}

function stopMic() {
  if (state.micNode) {
    state.micNode.disconnect();
    send({ type: "input_audio_buffer.clear" }); // half a word is not a turn
  }
  if (state.mic) for (const track of state.mic.getTracks()) track.stop();
  state.mic = state.micNode = null;
  $("mic").setAttribute("aria-pressed", "false");
  $("mic").textContent = "Start microphone";
}

function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

async function pressTalk() {
  if (state.held) return;
  if (!state.mic) await toggleMic();
  state.held = true;
  $("ptt").classList.add("held");
  if (state.sources.size) {
    stopPlayback(true);
    send({ type: "response.cancel" });
  }
  send({ type: "input_audio_buffer.clear" });
}

function releaseTalk() {
  if (!state.held) return;
  state.held = false;
  $("ptt").classList.remove("held");
  send({ type: "input_audio_buffer.commit" });
  send({ type: "response.create" });
}

// ---- text, images, tools -------------------------------------------------------------------

function sendText(event) {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  stopPlayback(true);
  if (state.responding) send({ type: "response.cancel" }); // typing over the reply interrupts it, as speaking does
  send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } });
  send({ type: "response.create" });
}

function sendImage(dataUrl) {
  send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_image", image_url: dataUrl }] } });
}

function imageFile() {
  const file = $("image").files[0];
  if (!file) return;
  if (!["image/png", "image/jpeg"].includes(file.type)) {
    showError("Choose a PNG or JPEG image.");
    return;
  }
  const reader = new FileReader();
  reader.onload = () => sendImage(reader.result);
  reader.readAsDataURL(file);
  $("image").value = "";
}

async function cameraFrame() {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  } catch (error) {
    showError(`The camera is not available: ${error.message}`);
    return;
  }
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = stream;
  await video.play();
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 480;
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  for (const track of stream.getTracks()) track.stop();
  sendImage(canvas.toDataURL("image/jpeg", 0.8));
}

function showCall(event) {
  stats.toolCalls.push({ name: event.name, arguments: event.arguments, answered: false });
  const record = stats.toolCalls[stats.toolCalls.length - 1];
  const box = document.createElement("div");
  box.className = "call";
  box.dataset.callId = event.call_id;
  const title = document.createElement("p");
  title.innerHTML = "Tool call: <code></code>";
  title.querySelector("code").textContent = `${event.name}(${event.arguments})`;
  const label = document.createElement("label");
  label.textContent = "Result (JSON)";
  const output = document.createElement("textarea");
  output.rows = 2;
  output.value = JSON.stringify({ result: `sunny, 21 degrees` });
  output.id = `call-${event.call_id}`;
  label.htmlFor = output.id;
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Send result";
  button.className = "answer";
  button.onclick = () => {
    send({ type: "conversation.item.create", item: { type: "function_call_output", call_id: event.call_id, output: output.value } });
    send({ type: "response.create" });
    record.answered = true;
    button.disabled = output.disabled = true;
    button.textContent = "Sent";
  };
  box.append(title, label, output, button);
  $("calls").append(box);
}

function usage(response) {
  stats.responses += 1;
  const u = response.usage;
  if (!u) return;
  const row = document.createElement("tr");
  const price = state.prices.get(state.model);
  const cost = price ? costOf(u, price) : null;
  for (const value of [response.id.slice(-8), u.input_tokens, u.output_tokens, cost === null ? "unpriced" : `$${cost.toFixed(6)}`]) {
    const cell = document.createElement("td");
    cell.textContent = String(value);
    row.append(cell);
  }
  $("usage").tBodies[0].append(row);
}

function costOf(u, p) {
  const i = u.input_token_details || {}, o = u.output_token_details || {};
  const audioIn = p.input_cost_per_audio_token ?? p.input_cost_per_token;
  const imageIn = p.input_cost_per_image_token ?? p.input_cost_per_token;
  const audioOut = p.output_cost_per_audio_token ?? p.output_cost_per_token;
  return (i.text_tokens || 0) * p.input_cost_per_token + (i.audio_tokens || 0) * audioIn + (i.image_tokens || 0) * imageIn
    + (o.text_tokens || 0) * p.output_cost_per_token + (o.audio_tokens || 0) * audioOut;
}

// ---- status and log ------------------------------------------------------------------------

function setStatus(text, kind) {
  $("status").textContent = text;
  $("status").dataset.state = kind;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function log(direction, event) {
  const shown = JSON.stringify(event, (key, value) => (typeof value === "string" && value.length > 200 && (key === "audio" || key === "delta" || key === "image_url") ? `${value.slice(0, 40)}… (${value.length} characters)` : value), 2);
  const li = document.createElement("li");
  li.className = `${direction}${event.type === "error" ? " error" : ""}`;
  li.dataset.type = event.type;
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = event.type;
  const pre = document.createElement("pre");
  pre.textContent = shown;
  details.append(summary, pre);
  li.append(details);
  li.hidden = !matches(event.type);
  const list = $("log");
  list.prepend(li);
  while (list.children.length > LOG_LIMIT) list.lastChild.remove();
}

function matches(type) {
  const filter = $("log-filter").value.trim().toLowerCase();
  return !filter || type.toLowerCase().includes(filter);
}

function filterLog() {
  for (const li of $("log").children) li.hidden = !matches(li.dataset.type);
}

// ---- wiring --------------------------------------------------------------------------------

$("connect-form").addEventListener("submit", connect);
$("disconnect").addEventListener("click", () => {
  if (state.pc) disconnected({ code: 1000, reason: "" });
  else if (state.ws) state.ws.close(1000, "closed by the user");
});
$("key").addEventListener("change", loadModels);
$("mic").addEventListener("click", toggleMic);
$("ptt").addEventListener("pointerdown", pressTalk);
$("ptt").addEventListener("pointerup", releaseTalk);
$("ptt").addEventListener("pointerleave", releaseTalk);
$("ptt").addEventListener("keydown", (e) => (e.key === " " || e.key === "Enter") && !e.repeat && (e.preventDefault(), pressTalk()));
$("ptt").addEventListener("keyup", (e) => (e.key === " " || e.key === "Enter") && (e.preventDefault(), releaseTalk()));
$("text-form").addEventListener("submit", sendText);
$("image").addEventListener("change", imageFile);
$("camera").addEventListener("click", cameraFrame);
$("log-filter").addEventListener("input", filterLog);
$("log-clear").addEventListener("click", () => $("log").replaceChildren());
loadModels();
