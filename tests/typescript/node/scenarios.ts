// The generated Shapes client in Node, against a live server (tests/typescript/test_node.py).
// Each scenario prints one JSON line {"name": result}; the test reads and checks them.
// `{"restart": ...}` asks the test to kill the server and start it again on the same port.
import * as readline from "node:readline";
import WebSocket from "ws";
import {
  CallTimeout,
  ConnectionClosed,
  DeadlineExceeded,
  Frozen,
  InsufficientFunds,
  InvalidParams,
  RpcError,
  ShapesClient,
  type EverythingInput,
  type ShapesHandlers,
} from "./shapes.js";

const url = process.argv[2] as string;
const input = readline.createInterface({ input: process.stdin });
const lines: string[] = [];
let lineWaiter: (() => void) | null = null;
input.on("line", (line) => {
  lines.push(line);
  lineWaiter?.();
});

function report(name: string, value: unknown): void {
  process.stdout.write(JSON.stringify({ [name]: value }) + "\n");
}

async function readLine(): Promise<string> {
  while (lines.length === 0) await new Promise<void>((resolve) => (lineWaiter = resolve));
  return lines.shift() as string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const errorName = (error: unknown) => (error instanceof Error ? error.name : typeof error);

let onStarted: (tag: string) => void = () => {};
let onReconnected: () => void = () => {};
const handlers: ShapesHandlers = {
  shout: ({ text }) => text.toUpperCase() + "!",
  started: ({ tag }) => onStarted(tag),
  async *count({ upto }) {
    for (let n = 1; n <= upto; n++) yield n;
  },
};

const client = await ShapesClient.connect(
  url,
  { WebSocket, timeout: 20, reconnect: { initial: 0.05, maximum: 0.5 }, onReconnect: () => onReconnected() },
  handlers,
);

// -- every shape, there and back -------------------------------------------------------
const full: EverythingInput = {
  name: "all",
  count: 3,
  ratio: 0.25,
  color: "dark-blue",
  level: 2,
  mode: "on",
  pair: [7, "seven"],
  tags: ["b"],
  scores: { a: 1, b: 2 },
  pet: { kind: "dog", good: false },
  either: "text",
  tree: { value: 1, children: [{ value: 2, children: [] }] },
  span: { start: 1, end: 5 },
  label: { text: "l", weight: 0.5 },
  when: "2024-01-02T03:04:05Z",
  day: "2024-01-02",
  ident: "12345678-1234-5678-1234-567812345678",
  price: "1.50",
  blob: "aGk=",
  anything: [1, "two", { three: 3 }, null],
};
report("full", { sent: full, echoed: await client.everything({ value: full }) });
report("minimal", await client.everything({ value: { name: "min" } }));
report(
  "args",
  await client.args({ color: "red", level: 1, pair: [0, "z"], pets: [{ kind: "cat", lives: 3 }, { kind: "dog" }], either: 5 }),
);
report("tree", await client.tree({ node: { value: 1, children: [{ value: 2 }, { value: 3, children: [{ value: 4 }] }] } }));
await client.nothing();
report("nothing", "ok");

// -- declared errors, typed ----------------------------------------------------------------
try {
  await client.withdraw({ amount: "50" });
  report("insufficient", "no error");
} catch (error) {
  if (error instanceof InsufficientFunds) {
    report("insufficient", { cls: "InsufficientFunds", isRpcError: error instanceof RpcError, code: error.code, message: error.message, balance: error.data.balance, currency: error.data.currency });
  } else {
    report("insufficient", { cls: errorName(error) });
  }
}
try {
  await client.withdraw({ amount: "1", account: "frozen" });
} catch (error) {
  report("frozen", { cls: error instanceof Frozen ? "Frozen" : errorName(error), code: (error as RpcError).code });
}
try {
  await client.withdraw({ amount: "not a number" });
} catch (error) {
  report("invalid", error instanceof InvalidParams ? { cls: "InvalidParams", loc: error.data[0]?.loc } : { cls: errorName(error) });
}

// -- a stream of 10,000 items, consumed with bounded memory ---------------------------------
{
  const window = 16;
  let received = 0;
  let inOrder = true;
  let producedAtPause = -1;
  let mostBuffered = 0;
  const stream = client.items({ count: 10_000, pad: 100 }, { window });
  for await (const item of stream) {
    mostBuffered = Math.max(mostBuffered, stream.buffered + 1);
    if (item.seq !== received) inOrder = false;
    received += 1;
    if (received === 5_000) {
      await sleep(300); // a slow consumer: the server must wait for it
      mostBuffered = Math.max(mostBuffered, stream.buffered);
      producedAtPause = await client.produced();
    }
  }
  report("stream", { received, inOrder, producedAtPause, mostBuffered, window });
}
{
  let last = -1;
  for await (const item of client.items({ count: 1_000_000 }, { window: 8 })) {
    last = item.seq;
    if (item.seq === 20) break; // cancels the handler
  }
  await sleep(200);
  const first = await client.produced();
  await sleep(200);
  report("break", { last, produced: first, later: await client.produced() });
}

// -- abort -> rpc.cancel, and the timeout member ------------------------------------------------
{
  const controller = new AbortController();
  onStarted = (tag) => {
    if (tag === "aborted") controller.abort();
  };
  let outcome = "resolved";
  try {
    await client.slow({ tag: "aborted" }, { signal: controller.signal });
  } catch (error) {
    outcome = errorName(error);
  }
  let cancelled: string[] = [];
  for (let i = 0; i < 100 && !cancelled.includes("aborted"); i++) {
    cancelled = await client.cancelled();
    if (!cancelled.includes("aborted")) await sleep(50);
  }
  report("abort", { outcome, cancelled });
}
{
  let outcome = "resolved";
  try {
    await client.slow({ tag: "timeout" }, { timeout: 0.3 });
  } catch (error) {
    outcome = error instanceof CallTimeout ? "CallTimeout" : error instanceof DeadlineExceeded ? "DeadlineExceeded" : errorName(error);
  }
  let cancelled: string[] = [];
  for (let i = 0; i < 100 && !cancelled.includes("timeout"); i++) {
    cancelled = await client.cancelled();
    if (!cancelled.includes("timeout")) await sleep(50);
  }
  report("timeout", { outcome, cancelled });
}

// -- the server calls the client -----------------------------------------------------------------
report("ask", await client.ask({ text: "hey" }));
report("total", await client.total({ upto: 100 }));
report("miscount", await client.miscount());

// -- notifications ------------------------------------------------------------------------------
await client.notify.note({ text: "n1" });
report("notes", await client.notes());

// -- a server restart -------------------------------------------------------------------------------
{
  const started = new Promise<void>((resolve) => (onStarted = () => resolve()));
  const pending = client.slow({ tag: "restart" }).then(
    () => "resolved",
    (error: unknown) => (error instanceof ConnectionClosed ? "ConnectionClosed" : errorName(error)),
  );
  await started;
  const reconnected = new Promise<void>((resolve) => (onReconnected = resolve));
  report("restart", "now");
  const pendingOutcome = await pending;
  // A call made while the connection is down waits for the reconnection.
  const during = client.ask({ text: "again" });
  await readLine(); // the test has started the server again
  await reconnected;
  report("restarted", { pending: pendingOutcome, during: await during, after: await client.ask({ text: "after" }), reconnects: client.connection.reconnects });
}

await client.close();
let afterClose = "resolved";
try {
  await client.nothing();
} catch (error) {
  afterClose = errorName(error);
}
report("closed", afterClose);
input.close();
