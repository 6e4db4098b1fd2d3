// The chat page: the generated client (chat_client.ts, compiled to chat_client.js) in a
// browser. Compile with `tsc -p examples/chat/web` (see examples/chat/README.md).
import { ChatClient, NotInRoom, RpcError, type ChatHandlers, type ChatMessage } from "./chat_client.js";

const element = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const messages = element<HTMLUListElement>("messages");
const status = element<HTMLParagraphElement>("status");

function show(message: ChatMessage): void {
  const item = document.createElement("li");
  item.dataset["seq"] = String(message.seq);
  item.dataset["sender"] = message.sender;
  if (message.sender === "server") item.className = "server";
  const sender = document.createElement("span");
  sender.className = "sender";
  sender.textContent = message.sender;
  item.append(sender, message.text);
  messages.append(item);
}

function note(text: string): void {
  const item = document.createElement("li");
  item.className = "note";
  item.textContent = text;
  messages.append(item);
}

// What the server calls on this page.
const handlers: ChatHandlers = {
  message: ({ message }) => show(message),
  confirm: ({ question }) => window.confirm(question),
};

let chat: ChatClient | null = null;
let room = "";
let name = "";

async function enter(client: ChatClient): Promise<void> {
  const members = await client.join({ room, name });
  status.textContent = `In ${room} as ${name}, with ${members.filter((m) => m !== name).join(", ") || "nobody else"}.`;
}

element<HTMLFormElement>("join").addEventListener("submit", async (event) => {
  event.preventDefault();
  name = element<HTMLInputElement>("name").value;
  room = element<HTMLInputElement>("room").value;
  try {
    const config = (await (await fetch("config.json")).json()) as { url: string };
    chat?.close();
    const client = await ChatClient.connect(
      config.url,
      {
        reconnect: true,
        // Membership belongs to a connection: join again after reconnecting.
        onReconnect: () => enter(client),
        onClose: () => (status.textContent = "Disconnected; reconnecting..."),
      },
      handlers,
    );
    chat = client;
    await enter(client);
    messages.replaceChildren();
    for await (const message of client.history({ room })) show(message);
    element<HTMLElement>("chat").hidden = false;
    document.body.dataset["state"] = "joined";
  } catch (error) {
    status.textContent = `Could not join: ${error instanceof Error ? error.message : String(error)}`;
  }
});

element<HTMLFormElement>("say").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = element<HTMLInputElement>("text");
  if (chat === null) return;
  try {
    show(await chat.say({ room, text: input.value }));
    input.value = "";
  } catch (error) {
    note(error instanceof NotInRoom ? "Join the room first." : `Not sent: ${String(error)}`);
  }
});

element<HTMLButtonElement>("clear").addEventListener("click", async () => {
  if (chat === null) return;
  try {
    const count = await chat.clear({ room });
    note(count ? `Cleared ${count} messages.` : "Nothing was cleared.");
    document.body.dataset["cleared"] = String(count);
  } catch (error) {
    note(error instanceof RpcError ? `Not cleared: ${error.message}` : String(error));
  }
});
