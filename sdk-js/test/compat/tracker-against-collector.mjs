// The built tracker in headless Chromium against a real Ecrm collector. Used by the .NET integration
// tests (TrackerEndToEndTests), which then look for the stages in Redis.
// Usage: node tracker-against-collector.mjs <collector-url> <write-key>
// Serves an annotated product page itself (a different origin than the collector, so CORS is real),
// prints the visitor's anonymousId on stdout when the events are delivered, and exits.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [collector, writeKey] = process.argv.slice(2);
const tracker = readFileSync(new URL('../../dist/ecrm.min.js', import.meta.url));
const page = `<!doctype html><html><head><title>55-inch OLED TV</title>
<script src="/assets/e.js"></script>
<script>ecrm.init(${JSON.stringify({ writeKey, host: collector, flushAt: 1, flushInterval: 200 })})</script></head>
<body><h1>55-inch OLED TV</h1>
<section data-ecrm-topic="tv-oled-55" data-ecrm-stage="interest" data-ecrm-trigger="view"><h2>Every detail</h2><p>Panel, ports, sound.</p></section>
</body></html>`;

const server = createServer((request, response) => {
  if (request.url.startsWith('/assets/e.js')) {
    response.writeHead(200, { 'content-type': 'text/javascript' }).end(tracker);
  } else {
    response.writeHead(200, { 'content-type': 'text/html' }).end(page);
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext();
  const tab = await context.newPage();
  const delivered = [];
  tab.on('response', (response) => {
    if (response.url().includes('/v1/batch')) delivered.push(response.status());
  });
  await tab.goto(`http://127.0.0.1:${server.address().port}/tv/oled-55`);
  // The page view and the annotated section's view, each acknowledged by the collector.
  const deadline = Date.now() + 20000;
  while (delivered.filter((s) => s === 200).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (delivered.filter((s) => s === 200).length < 2) throw new Error(`collector answered ${JSON.stringify(delivered)}`);
  console.log(await tab.evaluate(() => ecrm.user().anonymousId));
} finally {
  await browser.close();
  server.close();
}
