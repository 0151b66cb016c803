#!/usr/bin/env bash
# Builds the quick-start images with no network, from Debian packages:
#   images/out/busybox.tar  docker.io/library/busybox:latest (busybox-static, applet links)
#   images/out/nginx.tar    docker.io/library/nginx:latest   (Debian's nginx + its libraries)
# as deterministic OCI-layout tarballs (`peapod image build-local`), then, with
# `--import DATA_DIR`, imports them into that node's image store.
# Usage: scripts/build-images.sh [--import DATA_DIR]   (as root; PEAPOD=path/to/peapod optional)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
import_dir=""
if [ "${1:-}" = "--import" ]; then import_dir="${2:?--import needs DATA_DIR}"; fi

need=()
[ -x /bin/busybox ] || need+=(busybox-static)
[ -x /usr/sbin/nginx ] || {
    if apt-cache show nginx-light >/dev/null 2>&1; then need+=(nginx-light); else need+=(nginx); fi
}
if [ ${#need[@]} -gt 0 ]; then
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # Keep the package from starting nginx on the host.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; created_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    [ $created_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

peapod="${PEAPOD:-}"
if [ -z "$peapod" ]; then
    (cd "$repo" && cargo build -q -p peapod)
    peapod="${CARGO_TARGET_DIR:-$repo/target}/debug/peapod"
fi

out="$repo/images/out"
"$repo/images/stage.sh" "$out/rootfs"
for img in busybox nginx; do
    "$peapod" image build-local --rootfs "$out/rootfs/$img" --spec "$repo/images/$img.json" --out "$out/$img.tar"
done
if [ -n "$import_dir" ]; then
    "$peapod" image import --data-dir "$import_dir" "$out/busybox.tar" "$out/nginx.tar"
fi
