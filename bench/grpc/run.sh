#!/bin/sh
# gRPC unary benchmark, ours against the grpc C++ reference in the same run (bench/grpc/run.py
# says what is measured). Usage: bench/grpc/run.sh [--requests N] [--rate RPS] ...
set -eu
cd "$(dirname "$0")/../.."
scripts/install-deps --test --bench
exec /usr/bin/python3 bench/grpc/run.py --build "${BENCH_BUILD_DIR:-/tmp/jobscheduler-bench-grpc}" "$@"
