// Builds dist/ecrm.min.js (IIFE, defines window.ecrm) and dist/ecrm.esm.js. Types come from `tsc --emitDeclarationOnly`.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url)));
rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });

const common = {
  bundle: true,
  minify: true,
  target: 'es2020',
  define: { __VERSION__: JSON.stringify(version) },
  legalComments: 'none',
  logLevel: 'warning',
};

await build({ ...common, entryPoints: ['src/browser.ts'], format: 'iife', outfile: 'dist/ecrm.min.js' });
await build({ ...common, minify: false, entryPoints: ['src/index.ts'], format: 'esm', outfile: 'dist/ecrm.esm.js' });

const min = readFileSync(new URL('./dist/ecrm.min.js', import.meta.url));
console.log(`dist/ecrm.min.js: ${min.length} bytes, ${gzipSync(min, { level: 9 }).length} bytes gzipped`);
