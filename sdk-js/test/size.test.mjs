// Size budget: dist/ecrm.min.js must stay under 5 KB gzipped (5000 bytes, gzip -9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const LIMIT = 5000;

test(`dist/ecrm.min.js is under ${LIMIT} bytes gzipped`, () => {
  const js = readFileSync(new URL('../dist/ecrm.min.js', import.meta.url));
  const gz = gzipSync(js, { level: 9 }).length;
  console.log(`# dist/ecrm.min.js: ${js.length} bytes minified, ${gz} bytes gzipped (limit ${LIMIT})`);
  assert.ok(gz < LIMIT, `${gz} bytes gzipped >= ${LIMIT}`);
});

test('the ESM build imports without a DOM (server-side rendering) and ships type definitions', async () => {
  const m = await import('../dist/ecrm.esm.js');
  assert.equal(typeof m.ecrm.init, 'function');
  assert.equal(typeof m.createEcrm, 'function');
  const dts = readFileSync(new URL('../dist/index.d.ts', import.meta.url), 'utf8');
  assert.match(dts, /export declare const ecrm/);
  assert.match(readFileSync(new URL('../dist/types.d.ts', import.meta.url), 'utf8'), /interface Options/);
});
