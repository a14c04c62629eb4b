#!/usr/bin/env bash
# GPU run-book: the benches on a CUDA machine, one Markdown table at the end.
#
#   bash bench/gpu.sh [OUT.md]        # default bench/gpu-results.md (then `make performance`
#                                     # copies it into docs/PERFORMANCE.md's GPU section)
#
# Needs: the engine venv (.venv, torch with CUDA), one or more NVIDIA GPUs, the sample city
# (made here when missing). Runs, each as its own command so a failure names its step:
#   1. training throughput per regime (frozen / partial / full), fp32 vs bf16 and fp16
#      autocast, channels_last on (the zoo backbones run channels_last);
#   2. the embedding benches on the GPU (embed-raster at 8k px, embed-points);
#   3. a 2-process NCCL torchrun embed-raster (needs 2 GPUs; skipped with a note otherwise),
#      checked equal to the 1-process field.
# Every row records the command that produced it. Nothing here has run yet on this project's
# CI machines (no GPU there): see docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/gpu-results.md}
PY=${PY:-.venv/bin/python}
TORCHRUN=${TORCHRUN:-.venv/bin/torchrun}
WORK=${WORK:-/tmp/geocontrast-gpu}
mkdir -p "$WORK"
export PYTHONPATH=$PWD

$PY - <<'EOF' || { echo "no CUDA GPU visible to torch: nothing to run" >&2; exit 2; }
import torch, sys
sys.exit(0 if torch.cuda.is_available() else 1)
EOF
CARD=$($PY -c 'import torch; p=torch.cuda.get_device_properties(0); print(f"{torch.cuda.device_count()} x {p.name} ({p.total_memory // 2**30} GiB), torch {torch.__version__}, CUDA {torch.version.cuda}")')
[ -f data/sample-city/city.json ] || $PY -m engine sample-city --out data/sample-city --preset small

rows=()
row() { rows+=("| $1 | $2 | \`$3\` |"); }

# 1. training throughput per regime and precision (ratio = pipeline / pure compute)
for recipe in models/lite0_self.yaml models/lite0_crossview.yaml; do
  for regime in frozen partial full; do
    for amp in fp32 bf16 fp16; do
      cmd="$PY bench/train_throughput.py --config $recipe --amp $amp train.regime=$regime train.device=cuda"
      res=$($cmd 2>&1 | grep -E '^(pipeline|compute|ratio):' | tr '\n' ' ' || true)
      row "train $(basename "$recipe" .yaml) $regime $amp" "${res:-failed}" "$cmd"
    done
  done
done

# 2. embedding benches on the GPU (torch runtime: ONNX Runtime is the CPU path)
cmd="$PY bench/embed_raster.py --device cuda --runtime torch --sizes 8000 --strides 64 --peer-sizes 8000 --threads 4 --workers 0 4 --workdir $WORK"
res=$($cmd 2>&1 | tail -4 | head -3 | tail -1 || true)
row "embed-raster 8k px" "${res:-failed}" "$cmd"
cmd="$PY bench/embed_points.py --device cuda --runtime torch --threads 4 --workers 4 --photos 2000 --faiss-n 0 --workdir $WORK"
res=$($cmd 2>&1 | grep -E '^\| [0-9]' | head -1 || true)
row "embed-points 2000 photos" "${res:-failed}" "$cmd"

# 3. two-process NCCL torchrun: sharded embed-raster equals one process
NGPU=$($PY -c 'import torch; print(torch.cuda.device_count())')
MODEL=zoo:efficientnet_lite0
RASTER=$WORK/bench_8000_v2.tif
if [ "$NGPU" -ge 2 ] && [ -f "$RASTER" ]; then
  one="$PY -m engine embed-raster --model $MODEL --raster $RASTER --out $WORK/one.tif --stride 64 --device cuda --no-preview"
  two="$TORCHRUN --standalone --nproc_per_node 2 -m engine embed-raster --model $MODEL --raster $RASTER --out $WORK/two.tif --stride 64 --device cuda --no-preview"
  t0=$(date +%s.%N); $one > /dev/null; t1=$(date +%s.%N); $two > /dev/null; t2=$(date +%s.%N)
  same=$($PY -c "import rasterio, numpy as np; a=rasterio.open('$WORK/one.tif').read(); b=rasterio.open('$WORK/two.tif').read(); print('equal' if np.array_equal(a, b, equal_nan=True) else 'max diff %.3g' % np.nanmax(np.abs(a.astype('f4') - b)))")
  row "torchrun NCCL 2 GPUs embed-raster 8k" "1 GPU $(echo "$t1 - $t0" | bc) s, 2 GPUs $(echo "$t2 - $t1" | bc) s, fields $same" "$two"
else
  row "torchrun NCCL 2 GPUs" "skipped: $NGPU GPU(s) visible" "$TORCHRUN --standalone --nproc_per_node 2 -m engine embed-raster ..."
fi

{
  echo "GPU: $CARD; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)"
  echo
  echo "| what | result | command |"
  echo "|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > "$OUT"
cat "$OUT"
