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
import {
  Closed,
  Color as ZooColor,
  Insufficient,
  Level as ZooLevel,
  Shape,
  ZooClient,
  registerHandlers as registerZooHandlers,
  type AddressInput,
  type NodeOutput,
  type Options,
  type PointOutput,
  type TreeInput,
  type ZooHandlers,
} from "./zoo.js";

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

// The handler-shapes zoo (tests/codegen/zoo.py), as its server module's user writes it.
export async function useZoo(): Promise<void> {
  const handlers: ZooHandlers = {
    // Defaults the server leaves out are filled in: `level`, `choices` and `where` are there.
    ask: ({ question, level, choices, where }) => level === ZooLevel.HIGH && choices.includes(question) && where.city !== "",
    notice: ({ addr }) => void (addr.zip ?? addr.city),
  };
  const zoo = await ZooClient.connect("ws://127.0.0.1:8765", { reconnect: true }, handlers);
  const names: string[] = await zoo.enums({ color: ZooColor.DARK_BLUE, level: ZooLevel.LOW, shape: Shape.CIRCLE });
  await zoo.enums({ color: "red", level: 2 }); // the values are members too
  const addr: AddressInput = { street: "a", city: "b" };
  const city: string = (await zoo.address({ addr })).city;
  const zip: string | undefined = (await zoo.address({ addr: { ...addr, zip: "1" } })).zip;
  const tree: TreeInput = { label: "r", kids: [{ label: "k", kids: [{ label: "l" }] }] };
  const options: Options = {};
  const kids = (await zoo.tree({ tree, options })).kids ?? [];
  const moved: PointOutput = await zoo.move({ point: { x: 1 } });
  const y: number = moved.y; // a defaulted field of a result is always there
  const node: NodeOutput = await zoo.node({ node: { value: 1, children: [{ value: 2 }] } });
  const first: number | undefined = node.children[0]?.value;
  const pet = await zoo.pet({ pet: { kind: "cat", lives: 3 } });
  if (pet.kind === "dog") void pet.good;
  const either: number | string | null = await zoo.either({ value: "ab", point: null });
  const [text, total]: [string, number] = await zoo.containers({ pair: [1, "a"], labels: ["x"], counts: { k: [1] } });
  const stamp = await zoo.stamp({
    stamp: { when: "2024-01-02T03:04:05Z", day: "2024-01-02", at: "03:04:05", took: "PT1S", ident: "", amount: "1.50", blob: btoa("hi") },
  });
  const day = new Date(stamp.day);
  const defaults: Record<string, unknown> = await zoo.defaults();
  await zoo.defaults({ tags: [], point: { x: 1 }, addr: { street: "s", city: "c" }, pair: [1, "one"], level: ZooLevel.LOW });
  for await (const point of zoo.count({ upto: 3 })) void point.x;
  try {
    await zoo.withdraw({ amount: "50", account: "main" });
  } catch (error) {
    if (error instanceof Insufficient) {
      const balance: string = error.data.balance;
      void balance;
    } else if (error instanceof Closed) {
      const data: unknown = error.data;
      void data;
    }
  }
  const answers: unknown[] = await zoo.ask_client({ question: "yes?" });
  registerZooHandlers(zoo.connection, handlers);
  void names, city, zip, kids, y, first, either, text, total, day, defaults, answers;
}
