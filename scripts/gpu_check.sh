#!/usr/bin/env bash
# One command for a machine with a GPU: builds the package there without network, prints the
# device, runs the GPU tests and the CUDA emulation tests, then the GPU benchmark at sizes that
# fit, and writes every log and CSV under one folder.
#
#   bash scripts/gpu_check.sh [--quick] [OUT_DIR]      (OUT_DIR default: gpu-check/)
#
# --quick runs the tests only. Budget on one H100 or H200 (estimated, not yet measured): build
# about 2 min (nvcc for sm_90 only, 3 kernel files), tests about 1 min, benchmark under 4 min
# (each measurement capped by --cpu-limit on the CPU side): under 8 minutes in all.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
out=gpu-check
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) out="$arg" ;;
  esac
done
mkdir -p "$out"
status=0
step() { echo "== $1 ($(date +%T))" | tee -a "$out/summary.txt"; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/device.txt"

step "build (no network, CUDA for sm_90)"
start=$SECONDS
GIB_KERNELS_CUDA=1 GIB_KERNELS_CUDA_ARCH="${GIB_KERNELS_CUDA_ARCH:-90}" \
  python -m pip install --no-build-isolation --no-deps -e . > "$out/build.log" 2>&1 || {
    echo "build failed: see $out/build.log" | tee -a "$out/summary.txt"; tail -30 "$out/build.log"
    exit 1; }
echo "build: $((SECONDS - start)) s" | tee -a "$out/summary.txt"
python -c "import gib_kernels as gk, json; print(json.dumps(gk.build_info(), indent=1))" \
  2>&1 | tee "$out/build_info.json"

step "tests: pytest -m 'gpu or cuda_emulation'"
start=$SECONDS
python -m pytest -q -m "gpu or cuda_emulation" -p no:cacheprovider -rfEs \
  --junitxml="$out/tests.xml" > "$out/tests.log" 2>&1 || status=1
tail -15 "$out/tests.log"
echo "tests: $((SECONDS - start)) s, exit $status" | tee -a "$out/summary.txt"

if [ "$quick" -eq 0 ]; then
  step "benchmark: python -m benchmarks.gpu_bench"
  start=$SECONDS
  python -m benchmarks.gpu_bench --sizes 10000x256 100000x256 100000x4096 --cpu-limit 60 \
    --out "$out/gpu_bench.csv" > "$out/gpu_bench.log" 2>&1 || status=1
  tail -25 "$out/gpu_bench.log"
  echo "benchmark: $((SECONDS - start)) s" | tee -a "$out/summary.txt"
fi
step "done, exit $status"
exit $status
