#!/usr/bin/env bash
# The GPU measurement in one call: `archbench run` itself, on the JAX backend, with torchvision (eager,
# torch.compile, reduce-overhead) measured beside it, then the ratios (benchmarks/runtimes.py) and the
# report. The lent GPU machines have JAX, PyTorch and torchvision but no TensorFlow or Keras and no
# network, and archbench is not pip-installed there: Keras (and any other missing dependency) comes
# along as wheels, archbench runs from this checkout (PYTHONPATH, `python -m archbench.cli`).
#
#   here, once:          bash benchmarks/gpu_run.sh --prepare      # wheels into .gpu_wheels/ (git-ignored)
#   on the GPU machine:  run(command="bash benchmarks/gpu_run.sh", carry=[".gpu_wheels"], timeout_s=600)
#   CPU dry run (CI):    GPU_RUN_DRY=1 bash benchmarks/gpu_run.sh
#
# The steps, in priority order, share one budget (GPU_RUN_BUDGET_S, 480 s of measuring, leaving the rest
# of a 10-minute call to the installation, the ratios and the report); a step still running at the
# deadline is stopped at once (SIGINT: the unit in progress is not recorded), and the steps after it are
# left for the next call, which resumes the same folder (each measurement is done once). Every unit runs
# in a process forked from a pre-imported worker (JAX or torch imported once per call, not per unit), and
# compiled programs are kept in archbench's compilation cache (JAX; TorchInductor's FX graph cache), so
# the compile modes of one torchvision model share their kernels:
#   1. ResNet-50 v1.5, batch 1, float32                    (JAX vs torchvision, the headline)
#   2. ResNet-50 v1.5, batch 256, mixed_bfloat16           (the throughput goal)
#   3. every model with a torchvision counterpart, batch 1, float32
#   4. ResNet-50 v1.5, mixed_bfloat16 sweep, batches 1 to 256
#   5. --profile full (memory and energy vs batch size) for alexnet, googlenet, resnet18, resnet50, vgg16
# Results: results/gpu-<card>/ (resumed when present: carry it back to continue), copied to $OUT/ when
# set, with ratios.csv (benchmarks/runtimes.py) and report/. Rows record the device that computed them:
# the dry run, asked for a GPU on a CPU machine, records cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${GPU_RUN_WHEELS:-.gpu_wheels}
PY=${PYTHON:-python3}
DRY=${GPU_RUN_DRY:-0}

# module to import : wheels that provide it where it is missing (no dependency resolution offline)
NEEDS=(
  "keras:keras namex optree"
  "absl:absl_py"
  "packaging:packaging"
  "click:click"
  "rich:rich markdown_it_py mdurl pygments"
  "pandas:pandas python_dateutil six pytz tzdata"
  "matplotlib:matplotlib contourpy cycler fonttools kiwisolver pillow pyparsing"
  "seaborn:seaborn"
  "adjustText:adjustText"
)

if [[ "${1:-}" == "--prepare" ]]; then
  mkdir -p "$WHEELS"
  if [[ "$WHEELS" == .gpu_wheels && -d .git ]]; then
    grep -qxF "/$WHEELS/" .git/info/exclude 2>/dev/null || echo "/$WHEELS/" >>.git/info/exclude
  fi
  dists=()
  for need in "${NEEDS[@]}"; do read -ra more <<<"${need#*:}"; dists+=("${more[@]}"); done
  # Python 3.12 on the GPU image; numpy, scipy and ml-dtypes come with JAX there. About 44 MB: with the
  # checkout (15 MB) under the 64 MiB a device call carries.
  "$PY" -m pip download --no-deps --only-binary=:all: --python-version "${GPU_RUN_PYTHON_VERSION:-3.12}" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$WHEELS" "${dists[@]}"
  du -sh "$WHEELS"
  exit 0
fi

# KERAS_BACKEND before anything imports Keras (its default backend, TensorFlow, is absent there). The
# parent process builds models too (JAX): without the last setting it would hold 75 % of the GPU's
# memory while the measuring processes run.
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3 XLA_PYTHON_CLIENT_PREALLOCATE=false
missing=()
for need in "${NEEDS[@]}"; do
  "$PY" -c "import ${need%%:*}" 2>/dev/null || { read -ra more <<<"${need#*:}"; missing+=("${more[@]}"); }
done
if ((${#missing[@]})); then
  SITE=/tmp/archbench-site
  echo "installing from $WHEELS: ${missing[*]}"
  "$PY" -m pip install --quiet --no-index --no-deps --find-links "$WHEELS" --target "$SITE" "${missing[@]}"
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# The real call's steps (the dry run projects their time from its own per-unit figures).
REAL_HEADLINE=resnet50_v1_5
REAL_B1_MODELS=resnet50_v1_5,vgg16,googlenet_bn,resnet18,alexnet_onetower,inception_v3,resnet152_v1_5,resnet101_v1_5,resnet34,vgg19,vgg11,vgg13,vgg16_bn,vgg19_bn,vgg11_bn,vgg13_bn
REAL_PROFILE_MODELS=alexnet,googlenet,resnet18,resnet50,vgg16
REAL_SWEEP="1,2,4,8,16,32,64,128,256"
if [[ "$DRY" == 1 ]]; then
  # Every step and code path of the GPU call on the CPU, small: one model, 64 x 64 inputs, short timings,
  # the bf16 steps with torch eager only (autocast is the same code in every mode).
  card=dry-run-cpu
  RESULTS=${GPU_RUN_RESULTS:-${TMPDIR:-/tmp}/archbench-gpu-dry-run}
  HEADLINE=resnet18 B1_MODELS=resnet18 PROFILE_MODELS=resnet18
  SWEEP=2 BIG=2 PROFILE_BATCHES=(--batch 1,2) BF16_MODES=(--peer-modes eager)
  TIMING=(--input-size 64 --min-time 0.05 --max-time 0.2 --timeout 300)
  BUDGET=${GPU_RUN_BUDGET_S:-900}
else
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
  card=$(echo "${card:-unknown}" | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//')
  RESULTS=${GPU_RUN_RESULTS:-results/gpu-$card}
  HEADLINE=$REAL_HEADLINE B1_MODELS=$REAL_B1_MODELS PROFILE_MODELS=$REAL_PROFILE_MODELS
  SWEEP=$REAL_SWEEP BIG=256 PROFILE_BATCHES=() BF16_MODES=()
  TIMING=(--min-time 0.5 --max-time 2 --timeout 150)
  BUDGET=${GPU_RUN_BUDGET_S:-480}
fi
"$PY" - <<'PY'
import jax, keras, torch, torchvision
print("jax", jax.__version__, jax.devices())
cuda = torch.cuda.is_available()
print("torch", torch.__version__, "torchvision", torchvision.__version__,
      torch.cuda.get_device_name(0) if cuda else "no CUDA device: torch runs on the CPU")
print("keras", keras.__version__, keras.backend.backend())
PY

deadline=$((SECONDS + BUDGET))
step() {  # step NAME ARGS...: one `archbench run` into $RESULTS, stopped at the deadline
  local name=$1 left=$((deadline - SECONDS)) code=0
  shift
  if ((left < 30)); then
    echo "== $name: not started, the budget is spent (the next call resumes $RESULTS)"
    return 0
  fi
  echo "== $name ($left s left)"
  timeout -s INT -k 30 "$left" "$PY" -m archbench.cli run --backend jax --device gpu --tasks latency \
    --out "$RESULTS" --no-report "${TIMING[@]}" "$@" || code=$?
  case $code in
    0 | 1 | 124 | 130 | 137) ;;  # done; some unit failed (its row says why); stopped at the deadline
    *) echo "== $name: archbench exited with $code" >&2; exit "$code" ;;
  esac
  if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT" && cp -r "$RESULTS" "$OUT/"; fi
}

KM=(--keras-modes default,command-buffers)
step "1 headline: $HEADLINE, batch 1, float32" --models "$HEADLINE" --batch 1 --peers torchvision "${KM[@]}"
step "2 throughput: $HEADLINE, batch $BIG, mixed_bfloat16" --models "$HEADLINE" --batch "$BIG" \
  --dtype mixed_bfloat16 --peers torchvision "${BF16_MODES[@]}" "${KM[@]}"
step "3 every model with a counterpart, batch 1, float32" --models "$B1_MODELS" --batch 1 --peers torchvision "${KM[@]}"
step "4 $HEADLINE mixed_bfloat16 sweep" --models "$HEADLINE" --batch "$SWEEP" --dtype mixed_bfloat16 \
  --peers torchvision "${BF16_MODES[@]}" "${KM[@]}"
step "5 memory and energy vs batch size" --models "$PROFILE_MODELS" --profile full "${PROFILE_BATCHES[@]}"

if [[ "$DRY" == 1 && -f "$RESULTS/results.jsonl" ]]; then
  peer_ways="jax+jax-cb+eager,compile,reduce-overhead"
  "$PY" benchmarks/unit_overhead.py --summarize "$RESULTS" --csv "$RESULTS/unit_overhead.csv" \
    --project "$peer_ways:$REAL_HEADLINE:1" --project "$peer_ways:$REAL_HEADLINE:256" \
    --project "$peer_ways:$REAL_B1_MODELS:1" --project "$peer_ways:$REAL_HEADLINE:$REAL_SWEEP" \
    --project "jax:$REAL_PROFILE_MODELS:1,2,4,8,16,32,64" --project-min-time 0.5 || true
fi
if [[ -f "$RESULTS/results.csv" ]]; then
  "$PY" benchmarks/runtimes.py --summarize "$RESULTS" --csv "$RESULTS/ratios.csv" --goal 1 || true
  "$PY" -m archbench.cli report --results "$RESULTS" || true
  if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT" && cp -r "$RESULTS" "$OUT/"; fi
fi
echo "card: $card; results: $RESULTS${OUT:+ (copied to $OUT/)}; $SECONDS s"
