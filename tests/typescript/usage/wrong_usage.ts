// Wrong calls to the generated Shapes client: `tsc --strict` must fail on each line marked
// `// error` and on no other line (tests/typescript/test_tsc.py).
import { Frozen, InsufficientFunds, ShapesClient, type ShapesHandlers } from "./shapes.js";
import { Color, Insufficient, Level, ZooClient, type StampInput, type ZooHandlers } from "./zoo.js";

export async function misuse(client: ShapesClient): Promise<void> {
  await client.withdraw({ amount: 5 }); // error: wrong argument type (a decimal is a string)
  await client.withdraw({}); // error: missing argument
  await client.withdraw({ amount: "5", acount: "main" }); // error: unknown argument
  await client.deposit({ amount: "5" }); // error: unknown method
  await client.tree(); // error: missing params
  await client.args({ color: "green", level: 1, pair: [0, ""], pets: [] }); // error: not a Color
  await client.args({ color: "red", level: 3, pair: [0, ""], pets: [] }); // error: not a Level
  await client.args({ color: "red", level: 1, pair: ["0", ""], pets: [] }); // error: tuple item
  await client.args({ color: "red", level: 1, pair: [0, ""], pets: [{ kind: "cow" }] }); // error
  const balance: number = await client.withdraw({ amount: "5" }); // error: wrong use of result
  const seq: string = (await client.tree({ node: { value: 1 } })).value; // error: number
  await client.nothing({ text: "x" }); // error: no params (this is not a CallOptions)
  await client.notify.withdraw({ amount: "5" }); // error: not a notification (it has a result)
  for await (const item of client.items({ count: 3 })) {
    item.sequence; // error: no such field
  }
  try {
    await client.withdraw({ amount: "50" });
  } catch (error) {
    if (error instanceof InsufficientFunds) {
      error.data.amount; // error: wrong error data field
      const left: number = error.data.balance; // error: the balance is a decimal string
      void left;
    }
    if (error instanceof Frozen) {
      const data: string = error.data; // error: Frozen declares no data (unknown)
      void data;
    }
  }
  void balance, seq;
}

export const handlers: ShapesHandlers = {
  shout: ({ text }) => text.length, // error: a handler returns the declared type
  started: () => {},
  async *count() {
    yield 1;
  },
};

export const missing: ShapesHandlers = { // error: a handler is missing
  shout: ({ text }) => text,
  started: () => {},
};

// The handler-shapes zoo (tests/codegen/zoo.py).
export async function misuseZoo(zoo: ZooClient, stamp: StampInput): Promise<void> {
  await zoo.enums({ color: "blue", level: Level.LOW }); // error: not a Color member's value
  await zoo.enums({ color: Color.RED, level: 3 }); // error: not a Level
  await zoo.enums({ color: Color.RED, level: Level.MEDIUM }); // error: no such member
  await zoo.address({ addr: { street: "a" } }); // error: missing required TypedDict key
  await zoo.address({ addr: { street: "a", city: "b", zip: 1 } }); // error: NotRequired key's type
  await zoo.tree({ tree: { label: "r", kids: [{ lable: "k" }] }, options: {} }); // error: deep
  await zoo.tree({ tree: { label: "r" } }); // error: a TypedDict with no required key is required
  await zoo.move({ point: { y: 1 } }); // error: a dataclass's required field
  await zoo.pet({ pet: { kind: "cow" } }); // error: not a member of the union
  await zoo.pet({ pet: {} }); // error: the discriminator is required (it tells which)
  await zoo.containers({ pair: [1, "a", 2], labels: [], counts: {} }); // error: tuple length
  await zoo.defaults({ meta: { k: "1" } }); // error: a default's type is still the param's
  const blob: Uint8Array = (await zoo.stamp({ stamp })).blob; // error: bytes are base64 text
  const x: string = (await zoo.node({ node: { value: 1 } })).children[0]!.value; // error: number
  try {
    await zoo.withdraw({ amount: "50" });
  } catch (error) {
    if (error instanceof Insufficient) {
      error.data.amount; // error: wrong error data field
    }
  }
  void blob, x;
}

export const zooHandlers: ZooHandlers = {
  ask: ({ level }) => level === "HIGH", // error: a Level is its value, not its name
  notice: ({ addr }) => void addr.zip.length, // error: a NotRequired key may be absent
};
