#!/usr/bin/env bash
# The GPU checks of the engine, for a machine with a GPU and jax's CUDA wheels (never required: CI runs on
# CPUs). About 5 minutes: the fast test tier on the GPU, the peer table for the MLP and the CNN, and
# fit_ensemble against sequential fits at 1, 8 and 64 members. Results go to the folder given (default
# gpu_check/): pytest.log, peers.md, ensemble.log.
#
#     bash benchmarks/gpu_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu_check}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# Several pytest workers share the GPU: no worker may take most of its memory up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

python -c "import jax; assert jax.default_backend() == 'gpu', f'no GPU: {jax.devices()}'; print(jax.devices())"

echo "== fast test tier on the GPU"
timeout 170 pytest -n 4 -x -q -p no:cacheprovider 2>&1 | tee "$out/pytest.log" | tail -5

echo "== peers: MLP and deep CNN, steps/s"
timeout 80 python benchmarks/peers.py --models mlp,deep_cnn --no-tta --repeats 3 \
    --frameworks fnnet_scan,fnnet_step,flax_step,flax_scan --out "$out/peers.md" | tail -12

echo "== fit_ensemble vs sequential fit at 1, 8, 64 members"
timeout 60 python benchmarks/ensemble.py --members 1,8,64 --steps 50 --repeats 1 2>&1 | tee "$out/ensemble.log" | tail -8
