#!/usr/bin/env bash
# The recommender's models offline: two deterministic synthetic sets (MovieLens-100k and -1M shapes), the
# per-user 75/25 split, Precision, Recall, nDCG and MAP at 10 and training times for popularity, SAR and
# EASE (the recommender's own evaluate command). Rewrites BENCHMARKS.md's offline section.
# Usage: benchmarks/recommender-offline.sh [--quick]   (--quick: the 100k shape only)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
cd "$ECRM_ROOT"
DATA="$ECRM_ROOT/.data/offline-bench"
mkdir -p "$DATA"
dotnet build recommender -c Release --nologo -v quiet -clp:ErrorsOnly
RECOMMENDER="dotnet recommender/bin/Release/net10.0/Ecrm.Recommender.dll"
SHAPES=("100k|MovieLens-100k|")
[ "${1:-}" = "--quick" ] || SHAPES+=("1m|MovieLens-1M|--users 6040 --items 3706 --mean-per-user 165")
for shape in "${SHAPES[@]}"; do
  IFS='|' read -r name _ options <<<"$shape"
  ecrm_log "synthetic $name: generate, then evaluate popularity, SAR and EASE"
  # shellcheck disable=SC2086 # options are several words on purpose
  $RECOMMENDER generate --out "$DATA/synthetic-$name.tsv" $options
  $RECOMMENDER evaluate --interactions "$DATA/synthetic-$name.tsv" --seed 42 --k 10 | tee "$ECRM_RESULTS/offline-$name.md"
done

SECTION="$ECRM_RESULTS/offline-section.md"
{
  echo "<!-- offline:begin (written by benchmarks/recommender-offline.sh; do not edit by hand) -->"
  echo "## Recommender: offline evaluation and training time ($(date -u +%F))"
  echo
  echo "Command: \`benchmarks/recommender-offline.sh ${1:-}\`. Machine: $(ecrm_bench_machine), shared."
  echo
  echo "**No MovieLens here.** The machine is offline and MovieLens is nowhere on it, so the published MovieLens-100k"
  echo "figures under this protocol (nDCG@10: SAR 0.382, BPR 0.442, BiVAE 0.475) could not be compared; the figures"
  echo "below are on synthetic data and say nothing about MovieLens. \`evaluate\` reads \`u.data\` as it is."
  echo
  echo "Data: \`generate\` writes a deterministic latent-factor set (8 taste factors, log-normal item popularity, each"
  echo "user picks items with probability ∝ exp(taste match + popularity) and goes deeper in the dialogue, weight 1 to 4,"
  echo "the better the match; \`recommender/Offline/SyntheticInteractions.cs\`). Protocol: Microsoft Recommenders'"
  echo "\`python_stratified_split\` and \`python_evaluation\` definitions; seen items are never recommended. Models:"
  echo "popularity, SAR (Jaccard, 30-day half-life), EASE (λ 500)."
  for shape in "${SHAPES[@]}"; do
    IFS='|' read -r name label _ <<<"$shape"
    echo
    echo "**Synthetic, $label shape**: $(grep -m1 'interactions of' "$ECRM_RESULTS/offline-$name.md"); $(grep -m1 '^split per user' "$ECRM_RESULTS/offline-$name.md")."
    echo
    grep '^|' "$ECRM_RESULTS/offline-$name.md"
  done
  echo
  echo "- EASE inverts an items × items matrix, so its training grows with the cube of the items; SAR needs no inversion."
  echo "<!-- offline:end -->"
} > "$SECTION"
ecrm_bench_section offline "$SECTION"
