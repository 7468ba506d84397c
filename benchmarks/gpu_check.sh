#!/usr/bin/env bash
# The GPU paths on a CUDA machine, in one pass (everything here also runs on CPU in the test suite;
# this is the check that needs the accelerator):
#   1. the CUDA tests: tests/test_gpu_paths.py, and every registered scorer on CUDA (deterministic
#      bytes from one seed; ranks as on CPU) from tests/test_scorer_contract.py;
#   2. the default DAG with `--config device=cuda` (results/default_cuda), its wall time;
#   3. the score files again, from a second run of the score jobs: byte-identical on the GPU;
#   4. MoSo's cost on the GPU (benchmarks/moso_cost.py --device cuda).
# Usage, from the repository root in the project's environment:
#   bash benchmarks/gpu_check.sh [OUTDIR] [CORES]
# Writes OUTDIR/{gpu.txt,pytest.log,dag.log,dag_time.txt,scores_rerun.log,scores_cmp.txt,moso_cost.log}.
set -uo pipefail
out=${1:-results/gpu_check}
cores=${2:-$(nproc)}
mkdir -p "$out"
say() { echo "== $(date +%T) $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__,
torch.cuda.get_device_name())" | tee -a "$out/gpu.txt"

say "1. CUDA tests"
timeout 180 python3 -m pytest -q -s -p no:cacheprovider tests/test_gpu_paths.py tests/test_scorer_contract.py \
    -k "not keeps_the_contract and not name_no_method" >"$out/pytest.log" 2>&1
echo "pytest exit $?"
grep -E "cuda-vs-cpu|passed|failed|Error" "$out/pytest.log" | tail -30

say "2. the default DAG on CUDA"
rm -rf results/default_cuda
/usr/bin/time -v -o "$out/dag_time.txt" timeout 300 \
    python3 -m snakemake --cores "$cores" --config device=cuda name=default_cuda >"$out/dag.log" 2>&1
echo "snakemake exit $?"
grep -E "Elapsed|Maximum resident" "$out/dag_time.txt"
grep -E "steps \(|Error|error" "$out/dag.log" | tail -5

say "3. the score jobs again: the same bytes on CUDA"
rm -rf /tmp/gpu_scores_1 && mkdir -p /tmp/gpu_scores_1
find results/default_cuda -path '*/scores/*' -name '*.csv' | while read -r f; do
    mkdir -p "/tmp/gpu_scores_1/$(dirname "$f")" && cp "$f" "/tmp/gpu_scores_1/$f"
done
timeout 180 python3 -m snakemake --cores "$cores" --config device=cuda name=default_cuda \
    --forcerun score --until score >"$out/scores_rerun.log" 2>&1
echo "rerun exit $?"
while read -r f; do
    cmp -s "$f" "/tmp/gpu_scores_1/$f" || echo "differs: $f"
done < <(find results/default_cuda -path '*/scores/*' -name '*.csv') | tee "$out/scores_cmp.txt"
find results/default_cuda -path '*/scores/*' -name '*.csv' | wc -l | sed 's/^/score files: /' | tee -a "$out/scores_cmp.txt"

say "4. MoSo's cost on CUDA"
timeout 120 python3 benchmarks/moso_cost.py --device cuda --n 60000 >"$out/moso_cost.log" 2>&1
echo "moso_cost exit $?"
tail -25 "$out/moso_cost.log"
say done
