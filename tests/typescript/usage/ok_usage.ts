// Right calls to the generated Shapes client, written as a front-end developer would (with
// the DOM's types): `tsc --strict` must accept every line (tests/typescript/test_tsc.py).
import {
  Color,
  ConnectionClosed,
  Frozen,
  InsufficientFunds,
  Level,
  RpcConnection,
  RpcError,
  ShapesClient,
  registerHandlers,
  type Balance,
  type Cat,
  type Dog,
  type EverythingInput,
  type EverythingOutput,
  type Item,
  type ShapesHandlers,
  type TreeOutput,
  type WebSocketConstructor,
} from "./shapes.js";

declare const WebSocketImpl: WebSocketConstructor;

export async function use(): Promise<void> {
  const handlers: ShapesHandlers = {
    shout: ({ text }) => text.toUpperCase(),
    started: async () => {},
    async *count({ upto }, { signal }) {
      for (let n = 1; n <= upto && !signal.aborted; n++) yield n;
    },
  };
  const client = await ShapesClient.connect("ws://127.0.0.1:8765", { WebSocket: WebSocketImpl, reconnect: true }, handlers);
  const value: EverythingInput = {
    name: "all",
    color: Color.DARK_BLUE,
    level: Level.HIGH,
    mode: "on",
    pair: [1, "one"],
    tags: ["a"],
    scores: { a: 1 },
    pet: { kind: "dog", good: false },
    either: "text",
    tree: { value: 1, children: [{ value: 2 }] },
    span: { start: 1 },
    label: { text: "l", weight: 0.5 },
    when: "2024-01-02T03:04:05Z",
    day: "2024-01-02",
    ident: "12345678-1234-5678-1234-567812345678",
    price: "1.50",
    blob: "aGk=",
    anything: [1, "two", { three: 3 }],
  };
  const echoed: EverythingOutput = await client.everything({ value }, { timeout: 5 });
  const count: number = echoed.count; // defaulted fields are always in a result
  const pet: Cat | Dog | undefined = echoed.pet;
  if (pet?.kind === "dog") {
    const good: boolean | undefined = pet.good; // narrowed by the discriminator
    void good;
  }
  const level: Level = echoed.level;
  const color: "red" | "dark-blue" = echoed.color;
  const pair: [number, string] = echoed.pair;
  const tree: TreeOutput = await client.tree({ node: { value: 1 } });
  const children: TreeOutput[] = tree.children;
  const listed: unknown[] = await client.args({ color: "red", level: 1, pair: [0, ""], pets: [{ kind: "cat" }] });
  await client.nothing();
  await client.notify.note({ text: "hi" });
  const controller = new AbortController();
  const slow: Promise<string> = client.slow({ tag: "x" }, { signal: controller.signal });
  controller.abort();
  await slow.catch(() => "aborted");
  for await (const item of client.items({ count: 3 }, { window: 8 })) {
    const seq: number = item.seq;
    const kept: Item = item;
    if (seq > 1) break;
    void kept;
  }
  try {
    const balance: Balance = await client.withdraw({ amount: "5" });
    void balance;
  } catch (error) {
    if (error instanceof InsufficientFunds) {
      const left: string = error.data.balance;
      const currency: string = error.data.currency;
      void left, currency;
    } else if (error instanceof Frozen || error instanceof ConnectionClosed) {
      const code: number = error.code;
      void code;
    } else if (error instanceof RpcError) {
      const data: unknown = error.data;
      void data;
    }
  }
  // The browser's own WebSocket is a WebSocketConstructor.
  const connection = new RpcConnection("ws://127.0.0.1:8765", { WebSocket, timeout: null, window: 4, onReconnect: async () => {} });
  registerHandlers(connection, handlers);
  await connection.open();
  await new ShapesClient(connection).close();
  void count, level, color, pair, children, listed;
}
