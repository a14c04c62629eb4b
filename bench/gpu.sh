#!/usr/bin/env bash
# GPU run-book: the benches on a CUDA machine, one Markdown table at the end.
#
#   bash bench/gpu.sh [OUT.md]        # default bench/gpu-results.md (then `make performance
#                                     # ARGS=--assemble-only` puts it into docs/PERFORMANCE.md)
#   DEVICE=cpu bash bench/gpu.sh /tmp/rehearsal.md   # every step on the CPU at small sizes:
#                                     # checks the script itself where no GPU is lent
#
# Needs: a Python with torch + CUDA and the engine's packages (PY, default .venv/bin/python),
# the Lite0 weights (models/pretrained) and the sample city (made here when missing). Steps,
# each its own command, bounded by `timeout` and logged whole under LOGS (default
# $WORK/logs), so a failure names its step and the others still run:
#   1. training throughput of lite0_crossview per regime (frozen / partial / full), each with
#      fp32, bf16 and fp16 autocast measured in turn on one built model (the zoo backbones run
#      channels_last);
#   2. the embedding benches on the GPU (embed-raster at 8k px, the chip reader alone, a probe
#      of where the model's share goes: bench/gpu_probe.py; the reader + model loop in
#      variants: bench/gpu_pipeline.py; embed-points);
#   3. torchrun over NCCL: with 2+ GPUs a 2-process embed-raster checked equal to the
#      1-process field (run with torchrun's 1 thread per process: on the CPU the thread count
#      changes float32 rounding, by 6e-5 for Lite0 at 2 vs 1 threads); with one GPU, NCCL's own verdict on two ranks sharing it and the
#      engine's refusal of that set-up.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/gpu-results.md}
PY=${PY:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
WORK=${WORK:-/tmp/geocontrast-gpu}
LOGS=${LOGS:-$WORK/logs}
mkdir -p "$WORK" "$LOGS"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
RECIPE=models/lite0_crossview.yaml

if [ "$DEVICE" = cuda ]; then
  $PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' \
    || { echo "no CUDA GPU visible to torch: nothing to run (DEVICE=cpu rehearses)" >&2; exit 2; }
  CARD=$($PY -c 'import torch; p=torch.cuda.get_device_properties(0); print(f"{torch.cuda.device_count()} x {p.name} ({p.total_memory // 2**30} GiB, {p.multi_processor_count} SMs), torch {torch.__version__}, CUDA {torch.version.cuda}")')
  NGPU=$($PY -c 'import torch; print(torch.cuda.device_count())')
  SIZE=8000 STRIDE=32 PHOTOS=1000 BATCH=256 TRAIN="--steps 24 --rounds 4 --warmup 4"
  FROZEN_TRAIN="--steps 256 --rounds 8 --warmup 16"
else
  CARD="CPU rehearsal ($(nproc) cores), torch $($PY -c 'import torch; print(torch.__version__)')"
  NGPU=0 SIZE=1000 STRIDE=64 PHOTOS=64 BATCH=64 TRAIN="--steps 4 --rounds 2 --warmup 1"
  FROZEN_TRAIN="--steps 32 --rounds 2 --warmup 8"
fi
THREADS=$(( $(nproc) < 4 ? $(nproc) : 4 ))
# loader worker processes for the regimes that decode and augment photos (partial, full): on
# the H200 run of 2026-11-26 they ran with none and reached 0.62-0.84 of compute, the host
# side being the bottleneck; the frozen regime draws cached features in line
LOADER_WORKERS=$(( $(nproc) > 10 ? 8 : ($(nproc) > 2 ? $(nproc) - 2 : 1) ))
[ -f data/sample-city/city.json ] || $PY -m engine sample-city --out data/sample-city --preset small

rows=()
row() {  # one result row; the table is rewritten after each, so a run cut short keeps its rows
  rows+=("| $1 | $2 | \`$3\` |")
  {
    echo "$CARD; $(date -u '+%Y-%m-%d %H:%M UTC'); commit ${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
    echo
    echo "| what | result | command |"
    echo "|---|---|---|"
    printf '%s\n' "${rows[@]}"
  } > "$OUT"
}
step() {  # step NAME SECONDS CMD...: CMD's whole output into $LOGS/NAME.log; its exit status
  local name=$1 limit=$2 t0 rc
  shift 2
  echo "== $name: $*" >&2
  t0=$(date +%s)
  timeout "$limit" "$@" > "$LOGS/$name.log" 2>&1
  rc=$?
  echo "   exit $rc after $(( $(date +%s) - t0 )) s" >&2
  return $rc
}
failed() { echo "failed (exit $1): $(grep -v '^\s*$' "$LOGS/$2.log" | tail -1 | tr '|`' '/ ')"; }

# 1. training throughput per regime and precision (ratio = real pipeline / pure compute)
for regime in frozen partial full; do
  # the frozen regime draws 8 batches at a time (a block must be a multiple of 8) and its
  # steps take a few ms: more of them
  workers=0 steps=$FROZEN_TRAIN; [ $regime = frozen ] || { workers=$LOADER_WORKERS; steps=$TRAIN; }
  cmd="$PY bench/train_throughput.py --config $RECIPE $steps train.regime=$regime train.device=$DEVICE train.workers=$workers --amp fp32 bf16 fp16"
  if step "train_$regime" 200 $cmd; then
    batch=$(grep -o 'batch [0-9]*' "$LOGS/train_$regime.log" | head -1)
    while read -r amp res; do
      row "train lite0_crossview $regime $amp ($batch)" "$res" "$cmd"
    done < <(awk '/^amp /{a=$2} /^pipeline:/{p=$2} /^compute:/{c=$2}
                  /^ratio:/{printf "%s pipeline %s images/s, compute %s images/s, ratio %s\n", a, p, c, $2}' \
             "$LOGS/train_$regime.log")
  else
    row "train lite0_crossview $regime" "$(failed $? "train_$regime")" "$cmd"
  fi
done

# the frozen regime through the training CLI: where its feature tables went, how its batches
# were drawn, and that the loss falls (train_throughput.py measures; this runs what users run)
cmd="$PY -m engine.train --config $RECIPE train.regime=frozen train.device=$DEVICE train.steps=400 train.log_every=100 output=$WORK/train_cli"
if step train_cli 300 $cmd; then
  res=$(grep -oE 'feature tables: .*|batches: .*|step (100|400)/400 loss [0-9.]+|seconds: .*' "$LOGS/train_cli.log" | tr '\n|`' ';  ')
else res=$(failed $? train_cli); fi
row "train CLI lite0_crossview frozen, 400 steps" "$res" "$cmd"

# 2. embedding benches on the GPU (torch runtime: OpenVINO / ONNX Runtime are the CPU paths)
cmd="$PY bench/embed_raster.py --device $DEVICE --runtime torch --sizes $SIZE --strides $STRIDE --peer-sizes --threads $THREADS --batch-size $BATCH --workdir $WORK --json $WORK/embed_raster.json"
if step embed_raster 200 $cmd; then
  res=$($PY -c "import json; r=json.load(open('$WORK/embed_raster.json'))[0]; print(f\"{r['chips']} chips in {r['seconds']} s: {r['chips_per_s']} chips/s, pure compute {r['pure_chips_per_s']}, ratio {r['ratio_vs_compute']}; model {r['model_s']} s, waiting for chips {r['reader_wait_s']} s, finalise {r['finalise_s']} s; peak RSS {r['peak_rss_mib']} MiB\")")
else res=$(failed $? embed_raster); fi
row "embed-raster ${SIZE} px, stride $STRIDE, Lite0, batch $BATCH" "$res" "$cmd"
cmd="$PY bench/embed_raster.py --child read --raster $WORK/bench_${SIZE}_v2.tif --strides $STRIDE --chip 64 --batch-size $BATCH --threads $THREADS"
if step reader 120 $cmd; then
  res=$($PY -c "import json; r=json.loads(open('$LOGS/reader.log').read().strip().splitlines()[-1]); print(f\"{r['chips']} chips cut in {r['seconds']:.1f} s: {r['chips'] / r['seconds']:.0f} chips/s, no model\")")
else res=$(failed $? reader); fi
row "the chip reader alone, same raster and grid" "$res" "$cmd"
cmd="$PY bench/gpu_probe.py --device $DEVICE --batch-size $BATCH"
if step probe 120 $cmd; then res=$(tail -1 "$LOGS/probe.log" | tr '|`' '/ '); else res=$(failed $? probe); fi
row "Lite0 forward: repeated vs new batch shapes, upload pageable vs pinned (ms)" "$res" "$cmd"
cmd="$PY bench/gpu_pipeline.py --device $DEVICE --size $((SIZE / 2)) --stride $STRIDE --batch-size $BATCH --workdir $WORK"
if step pipeline 150 $cmd; then
  res=$($PY -c "import json, sys; rows = [json.loads(l) for l in open('$LOGS/pipeline.log') if l.startswith('{')]; print('; '.join(f\"{r['variant']} {r['chips_per_s']:.0f} chips/s (model {r['model_s']} s)\" if 'variant' in r else 'split ms a batch ' + ', '.join(f'{k} {v}' for k, v in r['split_ms_per_batch'].items()) for r in rows))")
else res=$(failed $? pipeline); fi
row "embed-raster's loop in variants, $((SIZE / 2)) px, stride $STRIDE (bench/gpu_pipeline.py)" "$res" "$cmd"
cmd="$PY bench/embed_points.py --device $DEVICE --runtime torch --threads $THREADS --workers 4 --photos $PHOTOS --faiss-n 0 --workdir $WORK --json $WORK/embed_points.json"
if step embed_points 150 $cmd; then
  res=$($PY -c "import json; r=json.load(open('$WORK/embed_points.json'))['embed'][0]; print(f\"{r['photos']} photos: {r['photos_per_s']} photos/s vs DataLoader {r['dataloader_photos_per_s']} ({r['ratio_vs_dataloader']}x), max diff {r['max_diff']}\")")
else res=$(failed $? embed_points); fi
row "embed-points $PHOTOS photos, Lite0" "$res" "$cmd"

# 3. torchrun over NCCL
RASTER=$WORK/bench_${SIZE}_v2.tif
ER="-m engine embed-raster --model zoo:efficientnet_lite0 --raster $RASTER --stride $STRIDE --device $DEVICE --no-preview"
TR="$PY -m torch.distributed.run --standalone --nproc_per_node 2"
if [ "$NGPU" -ge 2 ] || [ "$DEVICE" = cpu ]; then
  if step torchrun_one 300 env OMP_NUM_THREADS=1 $PY $ER --out "$WORK/one.tif" && step torchrun_two 300 $TR $ER --out "$WORK/two.tif"; then
    same=$($PY -c "import rasterio, numpy as np; a=rasterio.open('$WORK/one.tif'); b=rasterio.open('$WORK/two.tif'); x, y = a.read(), b.read(); print('equal values and georeferencing' if np.array_equal(x, y, equal_nan=True) and a.transform == b.transform and a.crs == b.crs else 'DIFFER: max %.3g' % np.nanmax(np.abs(x.astype('f4') - y)))")
    row "torchrun 2 processes ($([ "$DEVICE" = cpu ] && echo gloo || echo NCCL)) embed-raster $SIZE px" "$same" "$TR $ER"
  else row "torchrun 2 processes embed-raster" "$(failed 1 torchrun_two)" "$TR $ER"; fi
else
  cat > "$WORK/nccl_probe.py" <<'EOF'
import os, torch, torch.distributed as dist
torch.cuda.set_device(int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
dist.init_process_group("nccl")
x = torch.ones(4, device="cuda") * (dist.get_rank() + 1)
dist.all_reduce(x)
print(f"rank {dist.get_rank()}: all_reduce gave {x[0].item():.0f} (expected 3)")
dist.destroy_process_group()
EOF
  step nccl_probe 90 $TR "$WORK/nccl_probe.py"
  res="exit $?: $(grep -E 'all_reduce gave|Duplicate GPU|ncclInvalidUsage|Error' "$LOGS/nccl_probe.log" | head -2 | tr '|`\n' '/  ')"
  row "NCCL, 2 ranks sharing the one GPU (plain torch all_reduce)" "$res" "$TR nccl_probe.py"
  step torchrun_refusal 90 $TR $ER --out "$WORK/two.tif"
  res="exit $?: $(grep -m1 -E 'error: ' "$LOGS/torchrun_refusal.log" | tr '|`' '/ ')"
  row "engine under torchrun, 2 processes on 1 GPU" "$res" "$TR $ER"
fi

cat "$OUT"
