#!/usr/bin/env bash
# The GPU check: the CUDA tests, a throughput figure, and (EXPERIMENTS=1) longer runs of the protocols whose
# targets are open, trained on the GPU side by side — everything written to $OUT.
#
#   bash scripts/gpu_check.sh                      # tests + throughput (~1 minute)
#   EXPERIMENTS=1 DEADLINE=500 bash scripts/gpu_check.sh
#
# 1. environment: Python packages the machine lacks come as wheels in .whl/ (pyro-ppl, pyro-api, arviz, …;
#    see /work/.library/device/README.md), installed into /tmp/site; the zoo is importable as pyrodisent.zoo
#    (what `pip install -e .` maps) — on a bare checkout through a link pyrodisent/zoo -> ../models.
# 2. throughput: benchmarks/svi_overhead.py on the GPU and on the machine's CPU (ms a step; a conv VAE step
#    is a minibatch of 64 images of 64×64).
# 3. tests/test_cuda.py (every zoo model trains on CUDA and encodes as on the CPU, a conv VAE learns there)
#    and the CUDA test of tests/test_gp.py.
# 4. with EXPERIMENTS=1: circular_sprites (Gaussian and product priors, seeds 0–2) and concepts (CCVAE with a
#    tenth labelled, CLAP with all labels, seeds 0–2) at STEPS_TOPOLOGY / STEPS_CONCEPTS steps, one process
#    each on the GPU (auto: sized from the throughput figure t, the conv VAE's ms a step alone, to TRAIN_BUDGET
#    seconds at 3t a step for the topology runs and 5t for the heavier concept models, side by side, within
#    3,000–15,000 steps); runs still going at DEADLINE seconds are stopped (their training logs kept). Results:
#    $OUT/runs.tar.gz (metrics, configs, logs, pictures) and $OUT/summary.txt. TOPOLOGY_EXTRA / CONCEPTS_EXTRA:
#    more flags for those runs (smaller metric sizes for a dry run with DEVICE=cpu). PRIORS (default "normal
#    product") and CONCEPT_RUNS (default "ccvae:0.1 clap:1.0", model:labelled fraction) pick the runs;
#    THROUGHPUT=0 skips step 2 (then give the step counts), CUDA_TESTS=0 step 3. RUNS=FILE replaces these runs
#    by the file's: one run a line, "NAME EXAMPLE FLAGS…" (e.g. "hue-gauss topological_vae --prior normal
#    --likelihood gaussian"), each with --device, --num-threads 1, --quiet and --out added (flag values quoted as
#    in a shell).
set -u
start=$(date +%s)
OUT=${OUT:-/tmp/gpu_check}
DEADLINE=${DEADLINE:-500}
STEPS_TOPOLOGY=${STEPS_TOPOLOGY:-auto}
STEPS_CONCEPTS=${STEPS_CONCEPTS:-auto}
TRAIN_BUDGET=${TRAIN_BUDGET:-240}  # seconds of training the auto step counts aim at
DEVICE=${DEVICE:-cuda}  # cpu: a dry run of the whole script on a machine without a GPU
mkdir -p "$OUT"
elapsed() { echo $(( $(date +%s) - start )); }

if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 MPLBACKEND=Agg
python3 -c "import pyrodisent.zoo" 2>/dev/null || ln -sfn ../models pyrodisent/zoo
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, pyro, arviz, gpytorch; print('torch', torch.__version__, 'pyro', pyro.__version__, 'arviz',
arviz.__version__, 'gpytorch', gpytorch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name())" \
    | tee -a "$OUT/gpu.txt" || exit 1

echo "== throughput ($(elapsed) s)"
[ "${THROUGHPUT:-1}" = 1 ] && { python3 benchmarks/svi_overhead.py --device "$DEVICE" --rounds 3 --steps 100 --conv-steps 100
  python3 benchmarks/svi_overhead.py --device cpu --threads "$(nproc)" --rounds 3 --steps 100 --conv-steps 20
} 2>&1 | tee "$OUT/throughput.txt"

# the conv VAE's pyrodisent ms a step on $DEVICE (the first conv line)
step_ms=$(awk '/conv VAE/ {print $(NF-1); exit}' "$OUT/throughput.txt")
auto_steps() { python3 -c "import sys; print(max(3000, min(15000, int(float(sys.argv[1]) * 1000 / (float(sys.argv[2]) * float(sys.argv[3]))))))" "$TRAIN_BUDGET" "$1" "$step_ms"; }
[ "$STEPS_TOPOLOGY" = auto ] && STEPS_TOPOLOGY=$(auto_steps 3)
[ "$STEPS_CONCEPTS" = auto ] && STEPS_CONCEPTS=$(auto_steps 5)
runs=/tmp/gpu_runs
pids=()
if [ "${EXPERIMENTS:-0}" = 1 ]; then
    echo "== experiments launched ($(elapsed) s): topology ${STEPS_TOPOLOGY} steps, concepts ${STEPS_CONCEPTS} steps"
    rm -rf "$runs" && mkdir -p "$runs"
    common="--device $DEVICE --num-threads 1 --quiet --diagnosis-points 0"
    if [ -n "${RUNS:-}" ]; then
        while read -r name example flags; do
            [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
            eval "python3 examples/$example.py $flags $common --out $runs/$name" >"$runs/$name.log" 2>&1 &
            pids+=($!)
        done <"$RUNS"
    fi
    for seed in $([ -z "${RUNS:-}" ] && echo 0 1 2); do
        for prior in ${PRIORS:-normal product}; do
            name=circular-$prior-$seed
            python3 examples/topological_vae.py --prior "$prior" --seed "$seed" --steps "$STEPS_TOPOLOGY" $common \
                --metric-train 1500 --metric-test 750 --votes-train 200 --votes-test 100 \
                ${TOPOLOGY_EXTRA:-} --out "$runs/$name" >"$runs/$name.log" 2>&1 &
            pids+=($!)
        done
        for run in ${CONCEPT_RUNS:-ccvae:0.1 clap:1.0}; do
            model=${run%%:*} fraction=${run#*:}
            name=$model-$fraction-$seed
            python3 examples/concepts.py --model "$model" --labelled-fraction "$fraction" --seed "$seed" \
                --steps "$STEPS_CONCEPTS" $common ${CONCEPTS_EXTRA:-} --out "$runs/$name" >"$runs/$name.log" 2>&1 &
            pids+=($!)
        done
    done
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 >"$OUT/gpu_use.csv" 2>&1 &
fi

echo "== CUDA tests ($(elapsed) s)"
[ "${CUDA_TESTS:-1}" = 1 ] && python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py "tests/test_gp.py::test_kernel_moves_to_the_gpu_with_the_module" \
    2>&1 | tail -25 | tee "$OUT/cuda_tests.txt"

if [ ${#pids[@]} -gt 0 ]; then
    while [ "$(elapsed)" -lt "$DEADLINE" ]; do
        running=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && running=$((running + 1)); done
        [ "$running" = 0 ] && break
        sleep 5
    done
    echo "== packing ($(elapsed) s); still running: $(for p in "${pids[@]}"; do kill -0 $p 2>/dev/null && echo -n "$p "; done)"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    pkill -f "nvidia-smi --query-gpu=timestamp" 2>/dev/null
    sleep 2
    {
        for dir in "$runs"/*/; do
            name=$(basename "$dir")
            last=$(tail -1 "$dir/training_log.csv" 2>/dev/null | cut -d, -f1,2,3,7)
            if [ -f "$dir/metrics.json" ]; then
                python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(sys.argv[2], {k: round(v, 3) for k, v in m.items()
                    if isinstance(v, (int, float)) and (k.startswith('localisation') or k in ('label_accuracy', 'elbo',
                    'intervention_success', 'train_seconds', 'steps') or k.endswith('circular_corr'))})" "$dir/metrics.json" "$name"
            else
                echo "$name unfinished: last log row (epoch, step, loss, seconds) $last; $(tail -2 "$runs/$name.log" | tr '\r' ' ')"
            fi
        done
    } | tee "$OUT/summary.txt"
    (cd "$runs" && tar czf "$OUT/runs.tar.gz" --exclude='*.pt' --exclude='*.nc' .)
fi
echo "== done ($(elapsed) s)"
