// The built console in headless Chromium against a running engine (the real one, started by
// tests/Ecrm.IntegrationTests/ConsoleTests.cs with demo data, or test/e2e/mock-server.mjs).
//
//   node console.mjs '{"engine":"http://127.0.0.1:8081","apiKey":"..","topic":"tv-oled-55","customerId":"..","artifacts":"/path/dir"}'
//   (with "adminKey", "trigger" and "deadTrigger" it also walks the Triggers and Health views)
//
// It walks the console as a marketer does and prints `RESULT {json}` with what it saw drawn on screen:
// the login, the overview's small funnels, the funnel chart's SVG bars and labels, the segment count
// before and after a condition changed, the customer's timeline, and the screenshots it saved.
// Every wait has a deadline; a step that does not reach its state fails with what the page showed.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2]);
const artifacts = cfg.artifacts;
mkdirSync(artifacts, { recursive: true });
const STAGE_COLORS = ['#4f46e5', '#7c3aed', '#a21caf', '#db2777', '#ea580c', '#0d9488'];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1440, height: 960 }, deviceScaleFactor: 1, acceptDownloads: true });
const page = await context.newPage();
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));
page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
const apiCalls = [];
page.on('request', (r) => {
  if (r.url().includes('/api/')) apiCalls.push({ method: r.method(), path: new URL(r.url()).pathname + new URL(r.url()).search, auth: (r.headers().authorization ?? '').startsWith('Bearer ') });
});

const result = { screenshots: [], consoleErrors };
async function shot(name) {
  const file = join(artifacts, `console-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.screenshots.push(file);
}

async function step(name, fn) {
  try {
    return await fn();
  } catch (e) {
    await page.screenshot({ path: join(artifacts, `console-failed-${name}.png`), fullPage: true }).catch(() => {});
    const text = await page.evaluate(() => document.body.innerText).catch(() => '');
    throw new Error(`step '${name}' failed: ${e.message}\npage text:\n${text.slice(0, 2000)}\nAPI calls: ${JSON.stringify(apiCalls.slice(-10))}`);
  }
}

/** What the SVG renderer drew in a chart container: bar paths by fill colour and every text label. */
const drawn = (selector) => page.evaluate(([sel, colors]) => {
  const el = document.querySelector(sel);
  const svg = el?.querySelector('svg');
  if (!svg) return null;
  const paths = [...svg.querySelectorAll('path')];
  const fill = (p) => (p.getAttribute('fill') || '').toLowerCase();
  return {
    rendered: el.dataset.rendered === 'true',
    ariaLabel: el.getAttribute('aria-label') || svg.getAttribute('aria-label') || '',
    paths: paths.length,
    stageBars: paths.filter((p) => colors.includes(fill(p))).map((p) => ({ fill: fill(p), d: p.getAttribute('d') })),
    texts: [...svg.querySelectorAll('text')].map((t) => t.textContent.trim()).filter(Boolean),
    stages: el.dataset.stages ? JSON.parse(el.dataset.stages) : null,
  };
}, [selector, STAGE_COLORS]);

try {
  await step('login', async () => {
    await page.goto(`${cfg.engine}/console`);
    await page.waitForSelector('#login', { timeout: 15000 });
    result.loginShown = true;
    await page.fill('#api-key', 'not-a-key');
    await page.click('#login-submit');
    await page.waitForFunction(() => document.querySelector('#login-error')?.textContent.length > 0, null, { timeout: 10000 });
    result.wrongKeyMessage = await page.textContent('#login-error');
    await shot('login');
    await page.fill('#api-key', cfg.apiKey);
    await page.click('#login-submit');
    await page.waitForSelector('.shell', { timeout: 10000 });
    result.keyStored = await page.evaluate(() => sessionStorage.getItem('ecrm.console.key') !== null);
  });

  await step('overview', async () => {
    await page.waitForSelector('[data-chart="mini-funnel"][data-rendered="true"], .topic-grid .empty, .error-card', { timeout: 30000 });
    result.overview = await page.evaluate(() => ({
      cards: [...document.querySelectorAll('.topic-card[data-topic]')].map((c) => ({ topic: c.dataset.topic, conversion: Number(c.dataset.conversion), bars: c.querySelectorAll('svg path').length })),
      error: document.querySelector('.error-card')?.textContent ?? null,
    }));
    await page.waitForTimeout(300);
    await shot('overview');
  });

  await step('funnel', async () => {
    const card = page.locator(`.topic-card[data-topic="${cfg.topic}"]`);
    if (await card.count()) await card.click();
    else await page.goto(`${cfg.engine}/console#/funnel/${encodeURIComponent(cfg.topic)}`);
    await page.waitForSelector('#funnel-chart[data-rendered="true"], .error-card', { timeout: 30000 });
    result.funnel = await drawn('#funnel-chart');
    result.funnel && (result.funnel.steps = await page.$$eval('.step', (els) => els.map((s) => ({ stage: Number(s.dataset.stage), text: s.innerText }))));
    result.funnelError = await page.locator('.error-card').first().textContent({ timeout: 100 }).catch(() => null);
    await page.waitForTimeout(500);
    await shot('funnel');
    if (result.funnel) {
      await page.click('[data-filter="breakdown"] button[data-value="channel"]');
      await page.waitForSelector('#breakdown-chart[data-rendered="true"], .breakdown-area .empty, .error-card', { timeout: 30000 });
      result.breakdown = await drawn('#breakdown-chart');
      result.breakdownUrl = page.url().split('#')[1];
      await page.waitForTimeout(500);
      await shot('funnel-breakdown');
    }
  });

  await step('trends', async () => {
    await page.click('.nav a[data-page="trends"]');
    await page.waitForSelector('#trend-chart[data-rendered="true"], .chart-card .empty, .error-card', { timeout: 30000 });
    result.trend = await drawn('#trend-chart');
    await page.waitForTimeout(500);
    await shot('trends');
  });

  await step('segments', async () => {
    await page.click('.nav a[data-page="segments"]');
    await page.waitForSelector('[data-testid="segment-builder"]');
    await page.click('[data-action="add-dialogue"]');
    const row = page.locator('[data-condition="dialogue-0"]');
    await row.locator('[data-field="topic"]').selectOption(cfg.topic);
    await row.locator('[data-field="withinDays"]').fill('');
    await row.locator('[data-field="minStage"]').selectOption('1');
    const countFor = async (minStage) => {
      await page.waitForFunction((m) => {
        const el = document.querySelector('#segment-count');
        return el && el.dataset.state === 'ready' && (el.dataset.conditions || '').includes(`"minStage":${m}`) || el?.dataset.state === 'error';
      }, minStage, { timeout: 30000 });
      return page.evaluate(() => ({ count: Number(document.querySelector('#segment-count').dataset.count), state: document.querySelector('#segment-count').dataset.state, shown: document.querySelector('#segment-count').textContent }));
    };
    result.segmentBefore = await countFor(1);
    await page.waitForSelector('[data-testid="segment-customers"] table, [data-testid="segment-customers"] .empty, .error-card', { timeout: 30000 });
    result.segmentCustomers = await page.$$eval('[data-testid="segment-customers"] tr[data-customer]', (rows) => rows.map((r) => r.dataset.customer));
    await row.locator('[data-field="minStage"]').selectOption('3');
    result.segmentAfter = await countFor(3);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.click('[data-action="export"]')]);
    const csv = await download.path().then((p) => import('node:fs').then((fs) => fs.readFileSync(p, 'utf8')));
    result.export = { fileName: download.suggestedFilename(), lines: csv.split('\n').filter(Boolean).length, header: csv.split('\n')[0] };
    await page.waitForTimeout(300);
    await shot('segments');
  });

  await step('customer', async () => {
    await page.click('.nav a[data-page="customers"]');
    await page.fill('#customer-search', cfg.customerId);
    await page.press('#customer-search', 'Enter');
    await page.waitForSelector('[data-testid="timeline"] .event, [data-testid="timeline"] .empty, .error-card', { timeout: 30000 });
    result.customer = await page.evaluate(() => ({
      customerId: document.querySelector('[data-testid="customer-profile"]')?.dataset.customer ?? null,
      identities: [...document.querySelectorAll('.profile .chip')].map((c) => c.textContent),
      dialogues: [...document.querySelectorAll('.dialogue')].map((d) => ({ topic: d.dataset.topic, stage: Number(d.dataset.stage), filled: d.querySelectorAll('.progress li.done').length })),
      timeline: [...document.querySelectorAll('[data-testid="timeline"] .history')].map((g) => ({ topic: g.dataset.topic, events: [...g.querySelectorAll('.event')].map((e) => ({ channel: e.dataset.channel, what: e.querySelector('.event-what').firstChild?.textContent ?? '' })) })),
      timelineChart: !!document.querySelector('#timeline-chart svg'),
      error: document.querySelector('.error-card')?.textContent ?? null,
    }));
    await page.waitForTimeout(300);
    await shot('customer');
  });

  await step('narrow', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${cfg.engine}/console#/funnel/${encodeURIComponent(cfg.topic)}`);
    await page.waitForSelector('#funnel-chart[data-rendered="true"], .error-card', { timeout: 30000 });
    await page.waitForTimeout(500);
    result.narrowOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await shot('funnel-mobile');
    await page.setViewportSize({ width: 1440, height: 960 });
  });

  await step('triggers-need-admin', async () => {
    await page.click('.nav a[data-page="triggers"]');
    await page.waitForSelector('#triggers-need-admin', { timeout: 15000 });
    result.triggersNeedAdmin = true;
  });

  await step('logout', async () => {
    await page.click('#logout');
    await page.waitForSelector('#login');
    result.loggedOut = await page.evaluate(() => sessionStorage.getItem('ecrm.console.key') === null);
  });

  if (cfg.adminKey) {
    await step('admin-login', async () => {
      await page.fill('#api-key', cfg.adminKey);
      await page.click('#login-submit');
      await page.waitForSelector('.shell', { timeout: 10000 });
    });

    await step('triggers', async () => {
      await page.goto(`${cfg.engine}/console#/triggers/${encodeURIComponent(cfg.trigger)}?window=1d`);
      await page.waitForSelector('[data-chart="trigger-conversions"][data-rendered="true"]', { timeout: 30000 });
      await page.waitForSelector('[data-chart="trigger-firings"][data-rendered="true"]', { timeout: 30000 });
      const kpi = (id) => page.$eval(`[data-kpi="${id}"] .kpi-value`, (el) => el.textContent);
      result.triggers = {
        rules: await page.$$eval('[data-testid="trigger-table"] tr[data-trigger]', (rows) => rows.map((r) => r.dataset.trigger)),
        firings: await kpi('firings'), converted: await kpi('converted'), rate: await kpi('rate'),
        conversion: await drawn('[data-chart="trigger-conversions"]'),
        firingsChart: await drawn('[data-chart="trigger-firings"]'),
        recent: await page.$$eval('#trigger-recent tr[data-firing]', (rows) => rows.length),
      };
      await page.waitForTimeout(500);
      await shot('triggers');

      // A bad rule: the API's validation errors are listed, each naming its field.
      await page.click('#new-trigger');
      await page.fill('#trigger-json', JSON.stringify({ id: 'console-made', when: { topic: cfg.topic, toStage: 9 }, action: { type: 'webhook', url: 'ftp://example.com/x' } }));
      await page.click('#trigger-save');
      await page.waitForSelector('#trigger-errors li', { timeout: 15000 });
      result.triggers.errors = await page.$$eval('#trigger-errors li', (lis) => lis.map((li) => li.textContent));
      // Then a good one: saved, listed, and shown.
      await page.fill('#trigger-json', JSON.stringify({ id: 'console-made', name: 'Made in the console', when: { topic: cfg.topic, toStage: 4 }, action: { type: 'webhook', url: `${cfg.engine}/nowhere`, secret: 'a-secret-made-in-the-console-0123' } }));
      await page.click('#trigger-save');
      await page.waitForSelector('[data-testid="trigger-table"] tr[data-trigger="console-made"]', { timeout: 15000 });
      // Disabled from the list.
      await page.click('tr[data-trigger="console-made"] [data-action="toggle"]');
      await page.waitForFunction(() => document.querySelector('tr[data-trigger="console-made"] .pill')?.textContent === 'Disabled', null, { timeout: 15000 });
      result.triggers.created = true;

      // The dead letters of the failing rule, one replayed.
      await page.goto(`${cfg.engine}/console#/triggers/${encodeURIComponent(cfg.deadTrigger)}`);
      await page.waitForSelector('[data-testid="dead-letters"] tr[data-dead]', { timeout: 30000 });
      result.triggers.deadLetters = await page.$$eval('[data-testid="dead-letters"] tr[data-dead]', (rows) => rows.map((r) => r.dataset.dead));
      await page.waitForTimeout(300);
      await shot('triggers-dead-letters');
      const replayed = result.triggers.deadLetters[0];
      await page.click(`tr[data-dead="${replayed}"] [data-action="replay"]`);
      await page.waitForSelector(`tr[data-dead="${replayed}"]`, { state: 'detached', timeout: 15000 });
      result.triggers.replayed = replayed;
    });

    await step('health', async () => {
      await page.click('.nav a[data-page="health"]');
      await page.waitForSelector('[data-chart="health-lag"][data-rendered="true"]', { timeout: 30000 });
      // The second poll brings rates.
      await page.waitForFunction(() => Number(document.querySelector('#content')?.dataset.healthSamples) >= 2, null, { timeout: 30000 });
      await page.waitForSelector('[data-chart="health-rates"][data-rendered="true"]', { timeout: 30000 });
      result.health = {
        services: await page.$$eval('[data-service]', (els) => Object.fromEntries(els.map((e) => [e.dataset.service, e.dataset.status]))),
        lag: await drawn('[data-chart="health-lag"]'),
        lagKpi: await page.$eval('[data-kpi="lag"] .kpi-value', (el) => el.textContent),
        rates: await drawn('[data-chart="health-rates"]'),
      };
      await page.waitForTimeout(500);
      await shot('health');
    });
  }
  result.everyApiCallHadKey = apiCalls.filter((c) => c.path !== '/api/catalog' || c.auth).every((c) => c.auth);
  result.apiCalls = apiCalls.length;
  console.log(`RESULT ${JSON.stringify(result)}`);
} catch (e) {
  console.error(e.message);
  console.log(`PARTIAL ${JSON.stringify(result)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
