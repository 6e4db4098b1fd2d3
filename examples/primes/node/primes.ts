// Call the primes service from Node.js through the generated TypeScript client.
//
//   cd examples/primes/node && npm install && npx tsc -p . && node dist/primes.js ws://127.0.0.1:8765
//
// Node 22+ has a global WebSocket; on Node 20 the `ws` package stands in for it.
import { InvalidParams, PrimesClient, TooLarge, type WebSocketConstructor } from "./primes_client.js";

async function webSocket(): Promise<WebSocketConstructor> {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  return global ?? (await import("ws")).default;
}

const url = process.argv[2] ?? "ws://127.0.0.1:8765";
const primes = await PrimesClient.connect(url, { WebSocket: await webSocket() });
try {
  console.log("primes below 50:", (await primes.computePrimes({ n: 50 })).join(", "));
  console.log("is 97 prime?", await primes.isPrime({ n: 97 }));
  const stats = await primes.stats({ limit: 1_000_000 });
  console.log(`primes below ${stats.limit}: ${stats.count}, the largest ${stats.largest}`);
  try {
    await primes.stats({ limit: 20_000_000 });
  } catch (error) {
    if (!(error instanceof TooLarge)) throw error;
    console.log(`stats(20000000) was refused: [${error.code}] ${error.message}: ${JSON.stringify(error.data)}`);
  }
  try {
    await primes.computePrimes({ n: -1 });
  } catch (error) {
    if (!(error instanceof InvalidParams)) throw error;
    console.log(`computePrimes(-1) was refused: [${error.code}] ${error.message}: ${error.data[0]?.msg}`);
  }
} finally {
  await primes.close();
}
