// Drive the original ws-promise 2.0.5 client against a wsrpc_typed server.
//
//   node v2_client.mjs ws://127.0.0.1:PORT msgpack|json
//
// Runs every scenario below and prints ONE line of JSON to stdout:
//   {"mode", "scenarios": {name: observations | {"error": ...}}, "frames": [...], "errors": [...]}
// Observations are raw (values, error messages, frame contents); the Python
// test (test_ws_promise.py) makes the assertions. The exit code is 0 only if no
// scenario hit an unexpected exception or a timeout.
//
// The server side this expects (set up by test_ws_promise.py):
//   * the router of tests/helpers/apps.py (add, echo, sleep, fail, withdraw...);
//   * per-connection seed handlers "computePrimes2" (replies with every prime
//     <= n, one value each) and "greetMe" (replies "ok", then the server calls
//     this client's "greet" twice).
//
// Quirks of the original client this script lives with (seed-protocol.md §2, §3.4):
//   * Node 20 has no global WebSocket: the engine (ws@7) must be passed in.
//   * JSON mode needs encode/decode on the client and binaryType undefined.
//   * The proxy (client.add(...)) returns only the first reply value and
//     raises RemoteError only for {error, message, stack} all truthy; the
//     low-level client.send() returns [reply, ...values] and never raises,
//     and sends no SYN_ACK by itself.
//   * The original client has no call timeouts: every await is bounded here.

import { isDeepStrictEqual } from "node:util";

import WebSocket from "ws";
import Client from "ws-promise/Client.mjs";
import { SYN } from "ws-promise/Instruction.mjs";
import Message from "ws-promise/Message.mjs";
import RemoteError from "ws-promise/RemoteError.mjs";

const STEP_MS = 5_000; // any single await
const HARD_MS = 20_000; // the whole run
const EXPECTED_GREETS = 2; // calls the server makes to "greet"

const [url, mode] = process.argv.slice(2);
if (!url || !["msgpack", "json"].includes(mode)) {
  process.stderr.write("usage: node v2_client.mjs ws://HOST:PORT msgpack|json\n");
  process.exit(2);
}

const report = { mode, scenarios: {}, frames: [], errors: [] };
let finished = false;

function finish(code) {
  if (finished) return;
  finished = true;
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(code));
}

// Errors, and the ErrorEvent a failed connection gives, as text.
function describe(error) {
  return String(error?.stack ?? error?.message ?? error);
}

function fatal(kind, error) {
  report.errors.push(`${kind}: ${describe(error)}`);
  finish(1);
}

process.on("uncaughtException", (error) => fatal("uncaughtException", error));
process.on("unhandledRejection", (error) => fatal("unhandledRejection", error));
setTimeout(() => fatal("hard timeout", `the run took over ${HARD_MS} ms`), HARD_MS).unref();

function within(promise, label, ms = STEP_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function scenario(name, body) {
  try {
    report.scenarios[name] = await body();
  } catch (error) {
    report.scenarios[name] = { error: describe(error) };
    report.errors.push(`${name}: ${error?.message ?? describe(error)}`);
  }
}

// A call expected to fail: RemoteError is an observation, anything else (a
// timeout included) is unexpected and fails the scenario.
async function remoteError(label, call) {
  try {
    return { threw: false, value: await within(call(), label) };
  } catch (error) {
    if (!(error instanceof RemoteError)) throw error;
    return {
      threw: true,
      remoteError: true,
      message: error.message,
      remoteStack: error.remoteStack,
    };
  }
}

const options =
  mode === "json"
    ? {
        engine: WebSocket,
        autoReconnect: false,
        encode: JSON.stringify,
        decode: JSON.parse,
        binaryType: undefined,
      }
    : { engine: WebSocket, autoReconnect: false };
const client = new Client(url, options);
const codec = { encode: client.options.encode, decode: client.options.decode };

// Low-level send: [reply message, ...all reply values]; no SYN_ACK is sent.
async function send(command, ...args) {
  const [reply, ...values] = await within(
    client.send(new Message(new SYN(command, ...args), codec)),
    `send ${command}`,
  );
  return { reply, values };
}

// The server calls this client: reply with two values and record when the
// server's SYN_ACK arrives (the promise of message.reply() resolves then).
const greets = [];
let greetsAcked;
const allGreetsAcked = new Promise((resolve) => {
  greetsAcked = resolve;
});
client.on("greet", (message, ...args) => {
  const entry = { id: message.id, args, acked: false };
  greets.push(entry);
  message.reply(`hello ${args[0]}`, 7).then(([ack, ...ackValues]) => {
    entry.acked = true;
    entry.ackType = ack.instruction.type;
    entry.ackValues = ackValues;
    if (greets.filter((g) => g.acked).length >= EXPECTED_GREETS) greetsAcked();
  });
});

function decodeFrame(data) {
  const binary = typeof data !== "string";
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  try {
    return { binary, decoded: codec.decode(binary && mode === "json" ? bytes.toString() : bytes) };
  } catch (error) {
    return { binary, undecodable: String(error) };
  }
}

async function main() {
  await within(client.open(), "open");
  // Every frame the server sends, as it arrived (the test checks error records
  // for leaks and the frame type for the mode).
  client.ws.addEventListener("message", (event) => report.frames.push(decodeFrame(event.data)));

  await scenario("single_call", async () => ({ result: await within(client.add(1, 2), "add") }));

  await scenario("concurrent", async () => {
    const results = await within(
      Promise.all(Array.from({ length: 100 }, (_, i) => client.add(i, i))),
      "100 concurrent add(i, i)",
    );
    const mismatched = results.filter((value, i) => value !== 2 * i).length;
    return { results, mismatched };
  });

  // Replies come back in the reverse order of the calls: only ids correlate them.
  await scenario("out_of_order", async () => {
    const tags = await within(
      Promise.all(Array.from({ length: 20 }, (_, i) => client.sleep((20 - i) * 0.01, `t${i}`))),
      "20 concurrent sleeps",
    );
    return { tags };
  });

  await scenario("echo", async () => {
    const payloads = [
      "ü€😀",
      "",
      'line\nbreak\ttab "quote" \\ backslash \u0000 nul',
      { ключ: "значение", "😀": ["ü", "€"], nested: { deeper: { deepest: [1, [2, [3, []]]] } } },
      [1, "two", 3.5, null, true, false, {}, [], { a: [{ b: [{ c: null }] }] }],
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 31,
      2 ** 40,
      2 ** 53 - 1,
      -(2 ** 53 - 1),
      1.5,
      -0.1,
      1e300,
      5e-324,
      Math.PI,
      null,
      true,
      false,
      0,
    ];
    const cases = [];
    for (const sent of payloads) {
      const received = await within(client.echo(sent), `echo ${JSON.stringify(sent)}`);
      cases.push({ sent, received, equal: isDeepStrictEqual(sent, received) });
    }
    return { cases };
  });

  await scenario("handler_fails", () => remoteError("fail()", () => client.fail()));

  await scenario("application_error", async () => {
    const proxy = await remoteError("withdraw(5)", () => client.withdraw(5));
    const { reply, values } = await send("withdraw", 5);
    reply.reply(); // the SYN_ACK the proxy would have sent
    return { proxy, record: values[0], valueCount: values.length };
  });

  await scenario("unknown_method", () =>
    remoteError("noSuchMethod(1)", () => client.noSuchMethod(1)),
  );

  await scenario("invalid_params", async () => {
    const proxy = await remoteError('add("one", 2)', () => client.add("one", 2));
    const { reply, values } = await send("add", "one", 2);
    reply.reply();
    return { proxy, record: values[0] };
  });

  // A seed-style handler registered per connection: the proxy sees the first
  // value only; send() sees them all, and our SYN_ACK carries a value back.
  await scenario("seed_handler", async () => {
    const proxyResult = await within(client.computePrimes2(20), "computePrimes2(20)");
    const { reply, values } = await send("computePrimes2", 30);
    reply.reply("thanks"); // never settles: nobody answers a SYN_ACK
    return { proxyResult, sendValues: values, replyType: reply.instruction.type };
  });

  await scenario("server_calls_client", async () => {
    const ready = await within(client.greetMe(), "greetMe()");
    await within(allGreetsAcked, `${EXPECTED_GREETS} greet calls from the server, acknowledged`);
    return { ready, greets };
  });

  await within(client.close(), "close");
}

main().then(
  () => finish(report.errors.length ? 1 : 0),
  (error) => fatal("main", error),
);
