#!/bin/sh
# Kubernetes client benchmark against the simulator, with the simulator's own ceiling in the
# same run (bench/k8s/bench_k8s.py says what is measured). Usage: bench/k8s/run.sh [--jobs ...]
set -eu
cd "$(dirname "$0")/../.."
scripts/install-deps --test
BUILD=${BENCH_BUILD_DIR:-/tmp/jobscheduler-bench-k8s}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" --buildtype=release -Db_lto=false \
    -Dintegration_tests=false >/dev/null
ninja -C "$BUILD" src/k8s/k8s_harness >/dev/null
exec /usr/bin/python3 bench/k8s/bench_k8s.py "$BUILD" "$@"
