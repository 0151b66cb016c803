#!/bin/sh
# The project's whole test suite: checks formatting and lints, builds the workspace, runs every
# Rust test (unit tests, the store conformance suite, the image store's root tests, and the
# acceptance tests that drive a real `peapod server` with the real kubectl 1.27/1.32/1.33
# binaries), then the Python `kubernetes` client tests.
# Installs what the tests need on a fresh Debian machine when it is missing.
# Exits non-zero if anything fails.
set -eu

cd "$(dirname "$0")/.."

need_apt=""
command -v curl >/dev/null 2>&1 || need_apt="$need_apt curl"
command -v python3 >/dev/null 2>&1 || need_apt="$need_apt python3 python3-pip"
if [ -n "$need_apt" ]; then
    echo "test.sh: installing$need_apt" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_apt
fi
# Debian packages of the runtime tests (crun, runc, skopeo, umoci, docker-registry, nginx...).
bash scripts/install-test-deps.sh
if ! python3 -c 'import kubernetes, pytest' >/dev/null 2>&1; then
    echo "test.sh: installing the Python kubernetes client and pytest" >&2
    python3 -m pip install --quiet kubernetes pytest \
        || python3 -m pip install --quiet --break-system-packages kubernetes pytest
fi
kubectl_dir="${KUBECTL_DIR:-/usr/lib/google-cloud-sdk/bin}"
for minor in 27 32 33; do
    if [ ! -x "$kubectl_dir/kubectl.1.$minor" ]; then
        echo "test.sh: $kubectl_dir/kubectl.1.$minor is missing (set KUBECTL_DIR)" >&2
        exit 1
    fi
done

target_dir="${CARGO_TARGET_DIR:-target}"
# Incremental compilation caches double the size of a debug build (2.2 of 4.7 GiB measured) and
# buy nothing on a clean CI checkout; CI machines have run out of disk with them. Line tables
# are two fifths of every test binary: CI builds without them (panics still name functions).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-0}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace
status=0
cargo test --workspace --no-fail-fast || status=1
PEAPOD_BIN="${PEAPOD_BIN:-$target_dir/debug/peapod}" python3 -m pytest -q tests/python || status=1
exit $status
