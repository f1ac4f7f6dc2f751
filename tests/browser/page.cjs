// Drives the upload page in headless Chromium: uploads two files, waits for
// their rows, expands one, reads the pool panel, takes a screenshot, and
// prints what it saw as one JSON line. Usage: node page.cjs URL CHROMIUM PNG
// (CommonJS, so that NODE_PATH finds playwright-core wherever it is installed.)
const { chromium } = require("playwright-core");

async function main() {
  const [url, executablePath, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(url);
    await page.waitForSelector("#workers tbody tr.worker", { timeout: 10000 });
    await page.setInputFiles("#files", [
      { name: "hello.txt", mimeType: "text/plain", buffer: Buffer.from("Hello from the browser test, one two three four.") },
      { name: "page.html", mimeType: "text/html", buffer: Buffer.from("<html><body><h1>Title</h1><p>Some words here.</p></body></html>") },
    ]);
    await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Done"), null, { timeout: 20000 });
    const rows = await page.$$eval("#reports tbody tr.report", (trs) => trs.map((tr) => {
      const cells = Array.from(tr.querySelectorAll("td")).map((td) => td.textContent);
      return { index: cells[0], file: cells[1], format: cells[2], language: cells[3], words: cells[4] };
    }));
    rows.sort((a, b) => Number(a.index) - Number(b.index));
    await page.click("#reports tbody tr.report");
    const expanded = await page.$eval("#reports tbody tr.json:not([hidden]) pre", (pre) => pre.textContent);
    const pids = await page.$$eval("#workers tbody td.pid", (tds) => tds.map((td) => td.textContent));
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ rows, expanded, pids }));
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
