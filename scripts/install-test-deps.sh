#!/usr/bin/env bash
# Installs the Debian packages the runtime crate's integration tests and image build need.
# Idempotent: `apt-get update` runs once, and only when something is missing.
# Services shipped by these packages (nginx, docker-registry) are not started: the tests start
# their own instances on loopback ports.
set -euo pipefail

pkgs=(busybox-static crun runc skopeo umoci docker-registry apache2-utils iproute2 iptables util-linux openssl curl)
# nginx-light is the small build; fall back to nginx where it does not exist.
if apt-cache show nginx-light >/dev/null 2>&1 || dpkg -s nginx-light >/dev/null 2>&1; then
    pkgs+=(nginx-light)
else
    pkgs+=(nginx)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# nginx-light and nginx both provide /usr/sbin/nginx: either satisfies the need.
if [ -x /usr/sbin/nginx ]; then
    filtered=()
    for p in "${missing[@]}"; do
        case "$p" in nginx-light|nginx) ;; *) filtered+=("$p") ;; esac
    done
    missing=("${filtered[@]+"${filtered[@]}"}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
# Keep maintainer scripts from starting nginx or the registry on the host (there is no init to
# manage them, and they would hold ports 80 and 5000).
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
trap '[ $created_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
