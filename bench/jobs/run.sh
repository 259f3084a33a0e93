#!/bin/sh
# End-to-end JobScheduler benchmark: a release build of the service against the local
# Kubernetes API simulator; prints one table (see bench/jobs/load.py for what is measured).
# Usage: bench/jobs/run.sh [--schedule-jobs N] [--ceiling-jobs N] [--requests N] [--big N]
# Environment: BENCH_BUILD_DIR (default /tmp/jobscheduler-bench-release), BENCH_K8S_MAX_CONNECTIONS
# (the service's K8S_MAX_CONNECTIONS, default 16).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BENCH_BUILD_DIR:-/tmp/jobscheduler-bench-release}
command -v h2load >/dev/null || { echo "bench/jobs: h2load (nghttp2-client) is required" >&2; exit 1; }
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" --buildtype=release -Db_lto=false -Dintegration_tests=false >/dev/null
fi
ninja -C "$BUILD" src/jobscheduler >/dev/null
exec /usr/bin/python3 bench/jobs/load.py --binary "$BUILD/src/jobscheduler" "$@"
