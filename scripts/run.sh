#!/usr/bin/env bash
# Sets up and runs peapod on a fresh Debian machine: installs what it needs, builds, and
# starts `peapod server` in the foreground. Environment:
#   PEAPOD_DATA_DIR   data directory (default /var/lib/peapod)
#   PEAPOD_PROFILE    cargo profile, debug (default, fast to build) or release
#   PEAPOD_ARGS       extra arguments for `peapod server` (e.g. --https-port 7443)
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=${PEAPOD_DATA_DIR:-/var/lib/peapod}
profile=${PEAPOD_PROFILE:-debug}

need_apt=()
command -v cc >/dev/null || need_apt+=(gcc)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi

if [ "$profile" = release ]; then
    cargo build --release -p peapod
else
    cargo build -p peapod
fi
echo "peapod: starting the server; in another shell:"
echo "    export KUBECONFIG=$data_dir/kubeconfig.yaml"
echo "    kubectl get namespaces"
# shellcheck disable=SC2086
exec "target/$profile/peapod" server --data-dir "$data_dir" ${PEAPOD_ARGS:-}
