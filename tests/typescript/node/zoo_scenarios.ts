// The generated Zoo client (tests/codegen/zoo.py) in Node, against a live server
// (tests/typescript/test_node.py): every method of the zoo, each result printed as one JSON
// line {"method", "got", "expected"}; the test compares them and that every method was called.
// argv: the server's URL, and the JSON of the declared defaults of `defaults` (from the schema).
import WebSocket from "ws";
import {
  Closed,
  Color,
  Insufficient,
  InvalidParams,
  Level,
  RpcError,
  Shape,
  ZooClient,
  type AddressInput,
  type AddressOutput,
  type Balance,
  type Cat,
  type Dog,
  type NodeOutput,
  type PointOutput,
  type ShelfOutput,
  type Span,
  type StampInput,
  type StampOutput,
  type TreeInput,
  type TreeOutput,
  type ZooHandlers,
} from "./zoo.js";

const url = process.argv[2] as string;
const declared = JSON.parse(process.argv[3] as string) as Record<string, unknown>;

/** `expected` has the result's type, so tsc checks what the test expects too. */
function check<T>(method: string, got: T, expected: T): void {
  process.stdout.write(JSON.stringify({ method, got, expected }) + "\n");
}

const notices: AddressInput[] = [];
let noticed: () => void = () => {};
const handlers: ZooHandlers = {
  // Called four times by `ask_client`; the defaults the server leaves out are filled in.
  ask: ({ question, level, choices, where }) => {
    const yes = JSON.stringify([choices, where]) === '[["yes","no"],{"city":"Now","street":"Here"}]';
    choices.push("maybe"); // a default shared between calls would show it on the next one
    return question === "yes?" && level === Level.HIGH && yes;
  },
  notice: ({ addr }) => {
    notices.push(addr);
    noticed();
  },
};
const client = await ZooClient.connect(url, { WebSocket, timeout: 20 }, handlers);

// -- enums, TypedDicts, dataclasses, recursive models ----------------------------------
check("enums", await client.enums({ color: Color.RED, level: Level.HIGH }), ["RED", "HIGH", "SQUARE", "True", "3"]);
check(
  "enums",
  await client.enums({ color: "dark-blue", level: Level.LOW, shape: Shape.CIRCLE }),
  ["DARK_BLUE", "LOW", "CIRCLE", "False", "2"],
);

check<AddressOutput>("address", await client.address({ addr: { street: "a", city: "b" } }), { street: "a", city: "B" });
check<AddressOutput>(
  "address",
  await client.address({ addr: { street: "a", city: "b", zip: "1" } }),
  { street: "a", city: "B", zip: "1" },
);

const tree: TreeInput = { label: "r", kids: [{ label: "k", kids: [{ label: "l" }] }] };
check<TreeOutput>("tree", await client.tree({ tree, options: { depth: 2 } }), { label: "r:2", kids: [{ label: "k", kids: [{ label: "l" }] }] });
check<TreeOutput>("tree", await client.tree({ tree: { label: "x" }, options: {} }), { label: "x:0", kids: [] });

check<PointOutput>("move", await client.move({ point: { x: 1, y: 2, tags: ["t"] }, by: 3 }), { x: 4, y: 5, tags: ["t", "moved"] });
check<PointOutput>("move", await client.move({ point: { x: 5 } }), { x: 6, y: 1, tags: ["moved"] });

check<Span>("span", await client.span({ span: { start: "2024-02-29" } }), { start: "2024-02-29", end: "2024-02-29" });

check<NodeOutput>(
  "node",
  await client.node({ node: { value: 1, children: [{ value: 2, children: [{ value: 3 }] }] } }),
  { value: 6, children: [{ value: 2, children: [{ value: 3, children: [] }] }] },
);

// -- unions, containers, literals --------------------------------------------------------
check<Cat | Dog>("pet", await client.pet({ pet: { kind: "cat" } }), { kind: "dog", good: false });
check<Cat | Dog>("pet", await client.pet({ pet: { kind: "dog", good: true } }), { kind: "cat", lives: 2 });
// The discriminator has a default, but the server needs it to tell the options apart: the
// generated types require it, and here is why (an untyped call without it is refused).
check(
  "pet",
  await client.connection.call("pet", { pet: {} }).then(
    () => "accepted",
    (error: unknown) => (error instanceof InvalidParams ? error.data.map((e) => e.type) : String(error)),
  ),
  ["union_tag_not_found"],
);

check("either", await client.either({ value: 21 }), 42);
check("either", await client.either({ value: "ab" }), "abab");
check("either", await client.either({ value: 1, point: { x: 0 } }), null);

{
  const got = await client.shelf({ shelf: { pair: [1, "a"], labels: ["x"], counts: { k: 2 }, note: "n", points: [{ x: 7 }] } });
  // A set travels as an array in the server's iteration order.
  check<ShelfOutput>(
    "shelf",
    { ...got, labels: [...got.labels].sort() },
    { pair: [2, "a!"], labels: ["seen", "x"], counts: { k: 20 }, note: "n", order: "desc", points: [{ x: 7, y: 0, tags: [] }] },
  );
}

check<[string, number]>("containers", await client.containers({ pair: [1, "a"], labels: ["q"], counts: { k: [1, 2] } }), ["aascNone", 5]);
check<[string, number]>(
  "containers",
  await client.containers({ pair: [0, "b"], labels: [], counts: {}, order: "desc", maybe: 0.5 }),
  ["bdesc0.5", 0],
);

// -- typed strings and bytes (base64 out, base64url back) ---------------------------------
{
  const blob = Buffer.from([0x00, 0xff, 0xfe]).toString("base64"); // "AP/+": both alphabets' own characters
  const stamp: StampInput = {
    when: "2024-01-02T03:04:05.000006Z",
    day: "2024-12-31",
    at: "23:59:58",
    took: "P1DT1M30S",
    ident: "00000000-0000-0000-0000-000000000007",
    amount: "1.25",
    blob,
  };
  const later = await client.stamp({ stamp });
  check<StampOutput>("stamp", later, {
    when: "2024-01-03T03:04:05.000006Z",
    day: "2025-01-01",
    at: "23:59:58",
    took: "P1DT1M30S",
    ident: "00000000-0000-0000-0000-000000000007",
    amount: "2.50",
    blob: "_v8A",
  });
  check("stamp", [...Buffer.from(later.blob, "base64url")], [0xfe, 0xff, 0x00]);
  check<Record<string, string>>(
    "typed",
    await client.typed({ when: stamp.when, ident: stamp.ident, amount: stamp.amount, blob }),
    { when: "2024-01-02T03:04:05.000006+00:00", ident: stamp.ident, amount: "1.25", blob: "00fffe" },
  );
}

// -- defaults of every JSON kind: sent as declared, new each call ------------------------
check("defaults", await client.defaults(), declared);
check("defaults", await client.defaults(), declared); // the server's handler changed its `tags`
check("defaults", await client.defaults({}), declared);
check(
  "defaults",
  await client.defaults({
    nothing: 0,
    flag: false,
    tags: [],
    meta: { a: 2 },
    point: { x: -1 },
    node: { value: 5 },
    color: Color.RED,
    level: Level.LOW,
    nested: {},
    addr: { street: "s", city: "c", zip: "z" },
    day: "2000-01-01",
    amount: "0.1",
    pair: [0, "zero"],
  }),
  {
    ...declared,
    nothing: 0,
    flag: false,
    tags: [],
    meta: { a: 2 },
    point: { x: -1, y: 0, tags: [] },
    node: { value: 5, children: [] },
    color: "red",
    level: 1,
    nested: {},
    addr: { street: "s", city: "c", zip: "z" },
    day: "2000-01-01",
    amount: "0.1",
    pair: [0, "zero"],
  },
);

// -- a stream of dataclasses ---------------------------------------------------------------
{
  const points: PointOutput[] = [];
  for await (const point of client.count({ upto: 3 })) points.push(point);
  check<PointOutput[]>("count", points, [0, 1, 2].map((i) => ({ x: i, y: -i, tags: [] })));
  const xs: number[] = [];
  for await (const point of client.count({ upto: 5, start: 4 })) xs.push(point.x);
  check("count", xs, [4]);
}

// -- errors with typed data, and without ----------------------------------------------------
check<Balance>("withdraw", await client.withdraw({ amount: "2.5" }), { balance: "7.5", currency: "EUR" });
try {
  await client.withdraw({ amount: "50" });
  check("withdraw", "no error", "Insufficient");
} catch (error) {
  const got =
    error instanceof Insufficient
      ? { cls: "Insufficient", isRpcError: error instanceof RpcError, code: error.code, balance: error.data.balance, currency: error.data.currency }
      : { cls: String(error) };
  check("withdraw", got, { cls: "Insufficient", isRpcError: true, code: 2001, balance: "10.00", currency: "EUR" });
}
try {
  await client.withdraw({ amount: "1", account: "closed" });
  check("withdraw", "no error", "Closed");
} catch (error) {
  const got = error instanceof Closed ? { cls: "Closed", code: error.code, data: error.data ?? null } : { cls: String(error) };
  check("withdraw", got, { cls: "Closed", code: 2002, data: null });
}

// -- the server calls the client ---------------------------------------------------------------
{
  const notice = new Promise<void>((resolve) => (noticed = resolve));
  // `level` given (twice: `choices` is new each time), then left to its default, then
  // `choices` given.
  check("ask_client", await client.ask_client({ question: "yes?" }), [true, true, false, false]);
  await notice;
  check<AddressInput[]>("ask_client", notices, [{ street: "S", city: "C" }]);
}

await client.close();
