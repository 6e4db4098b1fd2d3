// The chat page: the generated client (chat_client.ts, compiled to chat_client.js) in a
// browser. Compile with `tsc -p examples/chat/web` (see examples/chat/README.md).
import { ChatClient, NotInRoom, RpcError } from "./chat_client.js";
const element = (id) => document.getElementById(id);
const messages = element("messages");
const status = element("status");
function show(message) {
    const item = document.createElement("li");
    item.dataset["seq"] = String(message.seq);
    item.dataset["sender"] = message.sender;
    if (message.sender === "server")
        item.className = "server";
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = message.sender;
    item.append(sender, message.text);
    messages.append(item);
}
function note(text) {
    const item = document.createElement("li");
    item.className = "note";
    item.textContent = text;
    messages.append(item);
}
// What the server calls on this page.
const handlers = {
    message: ({ message }) => show(message),
    confirm: ({ question }) => window.confirm(question),
};
let chat = null;
let room = "";
let name = "";
async function enter(client) {
    const members = await client.join({ room, name });
    status.textContent = `In ${room} as ${name}, with ${members.filter((m) => m !== name).join(", ") || "nobody else"}.`;
}
element("join").addEventListener("submit", async (event) => {
    event.preventDefault();
    name = element("name").value;
    room = element("room").value;
    try {
        const config = (await (await fetch("config.json")).json());
        chat?.close();
        const client = await ChatClient.connect(config.url, {
            reconnect: true,
            // Membership belongs to a connection: join again after reconnecting.
            onReconnect: () => enter(client),
            onClose: () => (status.textContent = "Disconnected; reconnecting..."),
        }, handlers);
        chat = client;
        await enter(client);
        messages.replaceChildren();
        for await (const message of client.history({ room }))
            show(message);
        element("chat").hidden = false;
        document.body.dataset["state"] = "joined";
    }
    catch (error) {
        status.textContent = `Could not join: ${error instanceof Error ? error.message : String(error)}`;
    }
});
element("say").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = element("text");
    if (chat === null)
        return;
    try {
        show(await chat.say({ room, text: input.value }));
        input.value = "";
    }
    catch (error) {
        note(error instanceof NotInRoom ? "Join the room first." : `Not sent: ${String(error)}`);
    }
});
element("clear").addEventListener("click", async () => {
    if (chat === null)
        return;
    try {
        const count = await chat.clear({ room });
        note(count ? `Cleared ${count} messages.` : "Nothing was cleared.");
        document.body.dataset["cleared"] = String(count);
    }
    catch (error) {
        note(error instanceof RpcError ? `Not cleared: ${error.message}` : String(error));
    }
});
