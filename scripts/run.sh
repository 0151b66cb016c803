#!/usr/bin/env bash
# Sets up and runs peapod on a fresh Debian machine, as root: installs what it needs (the OCI
# runtimes, iptables, the Debian packages the local images are built from), builds, builds
# the local `busybox` and `nginx` images and imports them, then starts `peapod server` (API,
# scheduler, controllers and a node agent) in the foreground. Environment:
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
command -v crun >/dev/null || need_apt+=(crun)
command -v runc >/dev/null || need_apt+=(runc)
command -v iptables >/dev/null || need_apt+=(iptables)
command -v ip >/dev/null || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ "$profile" = release ]; then
    cargo build --release -p peapod
else
    cargo build -p peapod
fi
bin="${CARGO_TARGET_DIR:-target}/$profile/peapod"
PEAPOD="$bin" scripts/build-images.sh --import "$data_dir"
echo "peapod: starting the server; in another shell:"
echo "    export KUBECONFIG=$data_dir/kubeconfig.yaml"
echo "    kubectl run busybox --image=busybox --restart=Never -- echo \"Hello World\""
# shellcheck disable=SC2086
exec "$bin" server --data-dir "$data_dir" ${PEAPOD_ARGS:-}
