#!/usr/bin/env bash
# The README's unsupervised recipe for a folder of real photographs, then its evaluation over
# every image under the dilated and the strict rule. No labels are read by either stage.
#   bench/real_folder_recipe.sh DIR OUT [SEED] [FRAME_TOLERANCE]
# DIR: any layout `duskmatch` loads (two frame-aligned walks, day/ + night/, a benchmark).
# Writes OUT/stage-one, OUT/self-trained and OUT/eval-{dilated,strict}.txt; prints the times.
set -euo pipefail
dir=$1 out=$2 seed=${3:-0} tol=${4:-8}
bin=${DUSKMATCH:-target/debug/duskmatch}
mkdir -p "$out"
printf 'seed = %s\n' "$seed" > "$out/seed.toml"
t0=$(date +%s)
"$bin" train --preset pretrained --data "$dir" --epochs 4 --config "$out/seed.toml" \
  --out "$out/stage-one" --quiet 2>&1 | tail -n 3
t1=$(date +%s)
"$bin" weights --checkpoint "$out/stage-one/latest.dmck" --method fine-tune --pseudo-labels \
  --seed "$seed" --out "$out/self-trained" --quiet 2>&1 | grep -E 'pseudo|fine-tune:' || true
t2=$(date +%s)
for rule in dilated strict; do
  flag=""; [ "$rule" = strict ] && flag=--strict
  "$bin" eval --checkpoint "$out/self-trained/latest.dmck" --data "$dir" --every-image \
    --frame-tolerance "$tol" $flag > "$out/eval-$rule.txt" 2>&1
done
echo "stage one $((t1 - t0)) s, self-training $((t2 - t1)) s, recipe $((t2 - t0)) s"
grep -hE '^(model|ImageNet)' "$out"/eval-dilated.txt | sed 's/^/dilated  /'
grep -hE '^(model|ImageNet)' "$out"/eval-strict.txt | sed 's/^/strict   /'
