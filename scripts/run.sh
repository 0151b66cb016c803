#!/usr/bin/env bash
# Sets up and runs peapod on a fresh Debian machine, as root: installs what it needs (the OCI
# runtimes, iptables, the Debian packages the local images are built from), builds, builds
# the local `busybox` and `nginx` images and imports them, then starts `peapod server` (API,
# scheduler, controllers and a node agent) in the foreground. Environment (every one optional;
# unset means `peapod server`'s own default):
#   PEAPOD_DATA_DIR     data directory (default /var/lib/peapod)
#   PEAPOD_PROFILE      cargo profile, debug (default, fast to build) or release
#   PEAPOD_BIN          an already built peapod binary: nothing is built (nor a compiler installed)
#   PEAPOD_IMAGES       a directory holding busybox.tar and nginx.tar already built the way
#                       scripts/build-images.sh builds them: imported as they are, not rebuilt
#   PEAPOD_HTTPS_PORT   the API port (6443; 0 picks a free one, the kubeconfig names it)
#   PEAPOD_KUBELET_PORT the agent's logs/exec port (10250; 0 picks a free one)
#   PEAPOD_BRIDGE_NAME  the node bridge (peapod0)
#   PEAPOD_POD_CIDR     the node's pod CIDR (10.42.0.0/24)
#   PEAPOD_ARGS         extra arguments for `peapod server` (e.g. --node-name n1)
# The server runs in the foreground (Ctrl-C stops it; pods keep running, as a kubelet's do).
# `peapod killall` with the same data dir, bridge and CIDR stops them and removes their network.
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=${PEAPOD_DATA_DIR:-/var/lib/peapod}
profile=${PEAPOD_PROFILE:-debug}
bin=${PEAPOD_BIN:-}
images=${PEAPOD_IMAGES:-}

# Installs only what is missing, so a second run (or CI with everything present) never touches
# apt. busybox-static and nginx, which the images are built from, are build-images.sh's business.
need_apt=()
if [ -z "$bin" ]; then command -v cc >/dev/null || need_apt+=(gcc); fi
command -v curl >/dev/null || need_apt+=(curl)
command -v crun >/dev/null || need_apt+=(crun)
command -v runc >/dev/null || need_apt+=(runc)
command -v iptables >/dev/null || need_apt+=(iptables)
command -v ip >/dev/null || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ -z "$bin" ]; then
    if [ "$profile" = release ]; then
        cargo build --release -p peapod
    else
        cargo build -p peapod
    fi
    bin="${CARGO_TARGET_DIR:-target}/$profile/peapod"
fi

if [ -n "$images" ] && [ -f "$images/busybox.tar" ] && [ -f "$images/nginx.tar" ]; then
    "$bin" image import --data-dir "$data_dir" "$images/busybox.tar" "$images/nginx.tar"
else
    PEAPOD="$bin" scripts/build-images.sh --import "$data_dir"
fi

args=(server --data-dir "$data_dir")
if [ -n "${PEAPOD_HTTPS_PORT:-}" ]; then args+=(--https-port "$PEAPOD_HTTPS_PORT"); fi
if [ -n "${PEAPOD_KUBELET_PORT:-}" ]; then args+=(--kubelet-port "$PEAPOD_KUBELET_PORT"); fi
if [ -n "${PEAPOD_BRIDGE_NAME:-}" ]; then args+=(--bridge-name "$PEAPOD_BRIDGE_NAME"); fi
if [ -n "${PEAPOD_POD_CIDR:-}" ]; then args+=(--pod-cidr "$PEAPOD_POD_CIDR"); fi
# Word splitting is wanted: PEAPOD_ARGS is a list of flags.
# shellcheck disable=SC2206
args+=(${PEAPOD_ARGS:-})

echo "peapod: starting the server; in another shell:"
echo "    export KUBECONFIG=$data_dir/kubeconfig.yaml"
echo "    kubectl run busybox --image=busybox --restart=Never -- echo \"Hello World\""
exec "$bin" "${args[@]}"
