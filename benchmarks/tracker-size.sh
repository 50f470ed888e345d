#!/usr/bin/env bash
# The browser tracker's size: builds sdk-js and weighs dist/ecrm.min.js minified and gzipped (gzip -9),
# next to the peers' published sizes. Rewrites BENCHMARKS.md's tracker section.
# Usage: benchmarks/tracker-size.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
cd "$ECRM_ROOT"
command -v npm >/dev/null || ecrm_install nodejs npm
(cd sdk-js && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run build) | tee "$ECRM_RESULTS/tracker-build.txt"
MINIFIED=$(wc -c < sdk-js/dist/ecrm.min.js)
GZIPPED=$(gzip -9 -c sdk-js/dist/ecrm.min.js | wc -c)
VERSION=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' sdk-js/package.json | head -1)
echo "{\"minifiedBytes\":$MINIFIED,\"gzippedBytes\":$GZIPPED,\"version\":\"$VERSION\"}" > "$ECRM_RESULTS/tracker-size.json"

SECTION="$ECRM_RESULTS/tracker-section.md"
{
  echo "<!-- tracker:begin (written by benchmarks/tracker-size.sh; do not edit by hand) -->"
  echo "## Browser tracker size ($(date -u +%F))"
  echo
  echo "Command: \`benchmarks/tracker-size.sh\` (\`npm ci && npm run build\` in \`sdk-js\`, then \`gzip -9 -c sdk-js/dist/ecrm.min.js | wc -c\`)."
  echo "\`npm test\` fails at 5,000 bytes gzipped (\`sdk-js/test/size.test.mjs\`)."
  echo
  echo "| tracker | gzipped | source of the figure |"
  echo "|---|---|---|"
  echo "| Ecrm \`dist/ecrm.min.js\` $VERSION ($(ecrm_bench_fmt "$MINIFIED") bytes minified) | **$(ecrm_bench_fmt "$GZIPPED") B** | measured here |"
  echo "| Snowplow JavaScript tracker, lite build | about 18 KB | published figure, not measured here |"
  echo "| Segment analytics.js | about 27 KB | published figure, not measured here |"
  echo
  echo "That is $(awk -v g="$GZIPPED" 'BEGIN { printf "%.0f %%", 100 * g / 18000 }') of Snowplow's lite build and $(awk -v g="$GZIPPED" 'BEGIN { printf "%.0f %%", 100 * g / 27000 }') of analytics.js, with batching, the persisted"
  echo "offline queue, beacons, consent, stage annotations and the recommendation widget included."
  echo "<!-- tracker:end -->"
} > "$SECTION"
ecrm_bench_section tracker "$SECTION"
