// Builds the console into ../wwwroot/console (served by the engine at /console): one JS bundle with
// ECharts inside (the machine is offline, no CDN), one CSS file, index.html.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const out = new URL('../wwwroot/console/', import.meta.url);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { app: 'src/main.ts', console: 'src/styles.css' },
  bundle: true,
  minify: true,
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  format: 'esm',
  outdir: out.pathname,
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(new URL('./src/index.html', import.meta.url), new URL('index.html', out));

for (const file of ['app.js', 'console.css']) {
  const bytes = readFileSync(new URL(file, out));
  console.log(`wwwroot/console/${file}: ${(statSync(new URL(file, out)).size / 1024).toFixed(0)} KB, ${(gzipSync(bytes).length / 1024).toFixed(0)} KB gzipped`);
}
