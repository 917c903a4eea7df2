// Drives the official TypeScript SDK, and an SSE parser independent of both the SDK
// and the Python tests, against the proxy. Prints one JSON object on stdout.
//
//   node ts_sdk.mjs <base-url> tool-stream | text-stream | strict
//
// "strict" reads a raw stream with eventsource-parser and reports every way it
// departs from the Anthropic event grammar, including what the SDK would forgive.
import Anthropic from "@anthropic-ai/sdk";
import { createParser } from "eventsource-parser";

const [baseURL, scenario] = process.argv.slice(2);
const client = new Anthropic({ baseURL, apiKey: "test-key", maxRetries: 0 });
const TOOLS = [
  { name: "get_weather", input_schema: { type: "object", properties: { city: { type: "string" } } } },
  { name: "get_time", input_schema: { type: "object", properties: { zone: { type: "string" } } } },
];
const ASK = [{ role: "user", content: "Weather in Oslo, and the time?" }];

async function toolStream() {
  const stream = client.messages.stream({ model: "claude-x", max_tokens: 200, tools: TOOLS, messages: ASK });
  const message = await stream.finalMessage();
  return { message };
}

async function textStream() {
  const stream = client.messages.stream({ model: "claude-x", max_tokens: 200, messages: ASK });
  const pieces = [];
  stream.on("text", (text) => pieces.push(text));
  const message = await stream.finalMessage();
  return { pieces, message };
}

const NAMES = new Set([
  "message_start", "content_block_start", "content_block_delta", "content_block_stop",
  "message_delta", "message_stop", "ping", "error",
]);
const DELTAS = { text: ["text_delta"], thinking: ["thinking_delta", "signature_delta"], tool_use: ["input_json_delta"] };
const STOP_REASONS = new Set(["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]);

class GrammarCheck {
  constructor() {
    this.violations = [];
    this.events = [];
    this.phase = "start"; // start -> message -> delta -> stopped
    this.open = null; // {index, type, signed, json}
    this.next = 0;
  }
  fail(why) {
    this.violations.push(`event ${this.events.length}: ${why}`);
  }
  event(name, data) {
    this.events.push(name);
    if (!name) return this.fail("event without an event: line (the Python SDK drops those)");
    if (!NAMES.has(name)) return this.fail(`unknown event name ${name}`);
    let payload;
    try {
      payload = JSON.parse(data);
    } catch {
      return this.fail(`data is not JSON: ${data.slice(0, 80)}`);
    }
    if (payload.type !== name) this.fail(`event ${name} carries type ${payload.type}`);
    if (this.phase === "stopped") return this.fail(`${name} after the stream ended`);
    if (name === "ping") return;
    if (name === "error") {
      if (!payload.error || typeof payload.error.type !== "string" || typeof payload.error.message !== "string")
        this.fail("error event without error.type and error.message");
      this.phase = "stopped";
      return;
    }
    if (this.phase === "start") {
      if (name !== "message_start") return this.fail(`${name} before message_start`);
      const m = payload.message;
      if (!m || m.type !== "message" || m.role !== "assistant" || !Array.isArray(m.content) || m.content.length)
        this.fail("message_start.message malformed");
      if (!m?.usage || !Number.isInteger(m.usage.input_tokens) || !Number.isInteger(m.usage.output_tokens))
        this.fail("message_start without integer usage");
      this.phase = "message";
      return;
    }
    const handler = this[name.replace(/_(.)/g, (_, c) => c.toUpperCase())];
    if (handler) handler.call(this, payload);
    else this.fail(`unexpected ${name}`);
  }
  messageStart() {
    this.fail("a second message_start");
  }
  contentBlockStart(p) {
    if (this.phase !== "message") return this.fail("block after message_delta");
    if (this.open) return this.fail(`block ${p.index} opened while ${this.open.index} is open`);
    if (p.index !== this.next) this.fail(`block index ${p.index}, expected ${this.next}`);
    const b = p.content_block ?? {};
    if (b.type === "text" && b.text !== "") this.fail("text block must start empty");
    if (b.type === "thinking" && (b.thinking !== "" || typeof b.signature !== "string")) this.fail("thinking start malformed");
    if (b.type === "tool_use" && (typeof b.id !== "string" || !b.id || typeof b.name !== "string" || !b.name ||
        JSON.stringify(b.input) !== "{}")) this.fail("tool_use start malformed");
    if (!DELTAS[b.type]) this.fail(`unknown block type ${b.type}`);
    this.open = { index: p.index, type: b.type, signed: false, json: "" };
  }
  contentBlockDelta(p) {
    if (!this.open || p.index !== this.open.index) return this.fail(`delta for block ${p.index}, which is not open`);
    const d = p.delta ?? {};
    if (!DELTAS[this.open.type]?.includes(d.type)) return this.fail(`${d.type} in a ${this.open.type} block`);
    if (this.open.signed) this.fail("delta after signature_delta");
    if (d.type === "signature_delta") this.open.signed = typeof d.signature === "string";
    if (d.type === "input_json_delta") this.open.json += d.partial_json;
    if (d.type === "text_delta" && typeof d.text !== "string") this.fail("text_delta without text");
  }
  contentBlockStop(p) {
    if (!this.open || p.index !== this.open.index) return this.fail(`stop for block ${p.index}, which is not open`);
    if (this.open.type === "thinking" && !this.open.signed) this.fail("thinking block closed without signature_delta");
    if (this.open.type === "tool_use" && this.open.json) {
      try {
        const input = JSON.parse(this.open.json);
        if (typeof input !== "object" || Array.isArray(input) || input === null) this.fail("tool input is not an object");
      } catch {
        this.fail(`tool input is not JSON: ${this.open.json.slice(0, 80)}`);
      }
    }
    this.open = null;
    this.next += 1;
  }
  messageDelta(p) {
    if (this.open) this.fail("message_delta with a block open");
    if (this.phase !== "message") this.fail("a second message_delta");
    if (!STOP_REASONS.has(p.delta?.stop_reason)) this.fail(`stop_reason ${p.delta?.stop_reason}`);
    if (!Number.isInteger(p.usage?.output_tokens)) this.fail("message_delta without integer usage.output_tokens");
    this.phase = "delta";
  }
  messageStop() {
    if (this.phase !== "delta") this.fail("message_stop before message_delta");
    this.phase = "stopped";
  }
  end() {
    if (this.phase !== "stopped") this.fail("stream ended without message_stop or error");
  }
}

async function strict() {
  const response = await fetch(`${baseURL}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": "test-key", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: "claude-x", max_tokens: 200, stream: true, tools: TOOLS, messages: ASK }),
  });
  const check = new GrammarCheck();
  const parser = createParser({
    onEvent: (event) => check.event(event.event, event.data),
    onError: (error) => check.fail(`SSE error: ${error.message}`),
  });
  const decoder = new TextDecoder();
  for await (const chunk of response.body) parser.feed(decoder.decode(chunk, { stream: true }));
  check.end();
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    events: check.events,
    violations: check.violations,
  };
}

const scenarios = { "tool-stream": toolStream, "text-stream": textStream, strict };
try {
  process.stdout.write(JSON.stringify(await scenarios[scenario]()) + "\n");
} catch (error) {
  process.stdout.write(JSON.stringify({ error: String(error), status: error.status ?? null }) + "\n");
  process.exitCode = 1;
}
