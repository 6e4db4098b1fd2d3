// A person in headless Chromium on the chat page (tests/typescript/test_browser.py):
// node chat_page.mjs PAGE_URL CHROMIUM SCREENSHOT
// Prints JSON lines; after {"joined": ...} it waits for a line on stdin (another member
// has spoken), then reads what the page shows.
import * as readline from "node:readline";
import puppeteer from "puppeteer-core";

const [url, chromium, screenshot] = process.argv.slice(2);
const input = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => input.once("line", resolve));
const report = (name, value) => process.stdout.write(JSON.stringify({ [name]: value }) + "\n");
const timeout = Number(process.env.WAIT_MS ?? 20000);

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(timeout);
  await page.setViewport({ width: 800, height: 600 });
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  const dialogs = [];
  page.on("dialog", async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.accept();
  });

  await page.goto(url, { waitUntil: "load" });
  await page.locator("#name").fill("ann");
  await page.locator("#room").fill("lobby");
  await page.locator("#join button").click();
  await page.waitForSelector("body[data-state=joined]");
  await page.locator("#text").fill("hello from the browser");
  await page.locator("#say button").click();
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#messages li[data-sender=ann]")].some((li) => li.textContent.includes("hello from the browser")),
  );
  report("joined", await page.$eval("#status", (el) => el.textContent));

  await nextLine(); // bob has said something
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#messages li[data-sender=bob]")].some((li) => li.textContent.includes("hi ann")),
  );
  await page.waitForSelector("#messages li[data-sender=server]"); // a broadcast announcement
  await page.locator("#clear").click(); // the server asks this page to confirm
  await page.waitForSelector("body[data-cleared]");

  const shown = await page.$$eval("#messages li", (items) =>
    items.map((li) => ({ sender: li.dataset.sender ?? null, text: li.textContent, cls: li.className })),
  );
  await page.screenshot({ path: screenshot });
  report("page", {
    shown,
    cleared: await page.$eval("body", (el) => el.dataset.cleared),
    status: await page.$eval("#status", (el) => el.textContent),
    dialogs,
    problems,
  });
} finally {
  await browser.close();
  input.close();
}
