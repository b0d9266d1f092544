#!/usr/bin/env bash
# Run every benchmark, SQLite by default:
#
#   benchmarks/run_all.sh                     # SQLite in a temp folder
#   benchmarks/run_all.sh --uri postgresql://postgres@127.0.0.1:5432/shipyard_bench
#
# Arguments go to every script (--uri names a database that each script creates and drops).
# bench_flows also installs Metaflow into a temp venv and runs it: 5-7 min of the total;
# bench_serving installs MLflow into /tmp/mlflow-bench-venv and serves the same model;
# bench_server runs `shipyard server` and `mlflow server` from that venv side by side, then
# a 60 s load run against the server on PostgreSQL (127.0.0.1:5432, a database it creates).
# The output is also saved to benchmarks/results/ (git-ignored). Exits 1 if any target missed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$here/results"
log="$here/results/$(date +%Y%m%d-%H%M%S).txt"
python="${PYTHON:-python}"

for bench in bench_log_metric bench_create_runs bench_audit bench_artifacts bench_flows \
    bench_prediction_log bench_server; do
    "$python" "$here/$bench.py" "$@"
    echo
done 2>&1 | tee "$log"
# the feature store and serving benchmarks take no --uri: they make their own stores (and
# Feast's / MLflow's venvs); bench_serving needs wrk (apt-get install wrk), ~3 min
for bench in bench_online_store bench_features bench_serving bench_serving_lookup; do
    "$python" "$here/$bench.py"
    echo
done 2>&1 | tee -a "$log"

echo "saved to $log"
if grep -q '^MISS' "$log"; then
    echo "some targets were missed:"
    grep '^MISS' "$log"
    exit 1
fi
