#!/usr/bin/env bash
# GPU latency run of issue 5 (item 7): archbench's zoo on the JAX backend vs torchvision eager and
# torch.compile, in one call. The lent GPU machines have JAX, PyTorch and torchvision but no Keras and
# no network, so Keras comes along as wheels:
#
#   here, once:          bash benchmarks/gpu_run.sh --prepare      # downloads wheels to .gpu_wheels/ (git-ignored)
#   on the GPU machine:  run(command="bash benchmarks/gpu_run.sh", carry=[".gpu_wheels"], timeout_s=600)
#
# Extra arguments go to benchmarks/gpu_run.py (e.g. --models resnet50_v1_5 --budget-s 300). The CSV is
# written to $OUT (the folder the device tool brings back) when set, else to results/.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.gpu_wheels
PY=${PYTHON:-python3}

if [[ "${1:-}" == "--prepare" ]]; then
  mkdir -p "$WHEELS"
  grep -qxF "/$WHEELS/" .git/info/exclude 2>/dev/null || echo "/$WHEELS/" >>.git/info/exclude
  # Python 3.12 on the GPU image; keras' other dependencies (numpy, absl-py, rich, h5py, ml-dtypes) are there.
  "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$WHEELS" keras namex optree
  ls -l "$WHEELS"
  exit 0
fi

if ! "$PY" -c "import keras" 2>/dev/null; then
  SITE=/tmp/archbench-site
  "$PY" -m pip install --quiet --no-index --no-deps --find-links "$WHEELS" --target "$SITE" keras namex optree
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
"$PY" - <<'PY'
import jax, keras, torch, torchvision
print("jax", jax.__version__, jax.devices())
print("torch", torch.__version__, "torchvision", torchvision.__version__, torch.cuda.get_device_name(0))
print("keras", keras.__version__, keras.backend.backend())
PY
exec "$PY" benchmarks/gpu_run.py --out-dir "${OUT:-results}" "$@"
