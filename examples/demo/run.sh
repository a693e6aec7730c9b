#!/usr/bin/env bash
# The stagesync demo, end to end on this machine with nothing but the repo: moto (AWS Secrets
# Manager) and the API server fake on loopback (HTTPS), `stagesync run` against them, the
# examples applied with kubectl, a rotation in AWS followed into the Secret. Cleans up after
# itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source tests/tools.sh
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing the demo tools (moto, kubectl) into .tools/venv, building stagesync"
install_tools
cargo build --quiet -p stagesync -p apiserver-fake --bins
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
# The operator binary: the debug build, or the one named by STAGESYNC_DEMO_BIN (the test command
# runs the demo with the release binary the container image is built from).
operator="${STAGESYNC_DEMO_BIN:-$bin/stagesync}"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto="http://127.0.0.1:$port"
moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
pids+=($!)

"$bin/apiserver-fake" --listen 127.0.0.1:0 --tls --token demo-token --kubeconfig "$work/kubeconfig" --crds crds \
  >"$work/fake.out" 2>"$work/fake.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on' "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
say "API server fake: $(head -1 "$work/fake.out")"
export KUBECONFIG="$work/kubeconfig"

for _ in $(seq 100); do curl -fs "$moto/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
say "moto (AWS Secrets Manager) on $moto"
python "$root/examples/demo/aws.py" "$moto" create

"$operator" run --kubeconfig "$KUBECONFIG" --metrics-addr 127.0.0.1:0 --sts-endpoint "$moto" \
  >"$work/stagesync.log" 2>&1 &
pids+=($!)
say "stagesync run started (logs: $work/stagesync.log)"

say "kubectl apply: examples/aws-credentials.yaml, secretstore.yaml, externalsecret.yaml, deployment-reload.yaml"
kubectl create namespace team-a
mkdir "$work/manifests"
python "$root/examples/demo/manifests.py" "$root" "$moto" "$work/manifests"
kubectl apply -f "$work/manifests"

password() { kubectl get secret app-db -n team-a -o jsonpath='{.data.password}' 2>/dev/null | base64 -d 2>/dev/null || true; }
wait_for() {
  local want=$1
  for _ in $(seq 300); do [ "$(password)" = "$want" ] && return 0; sleep 0.1; done
  echo "the Secret did not get password=$want in 30s; stagesync log:" >&2
  tail -50 "$work/stagesync.log" >&2
  return 1
}

template_hash() { kubectl get deployment app -n team-a -o jsonpath='{.spec.template.metadata.annotations.stagesync\.io/secrets-hash}'; }
wait_for correct-horse-1
say "the Secret appeared"
kubectl get secret app-db -n team-a
echo "password: $(password)"
say "kubectl get externalsecrets (printer columns)"
kubectl get externalsecrets -n team-a
kubectl get secretstores -n team-a

for _ in $(seq 300); do
  [ -n "$(kubectl get deployment app -n team-a -o jsonpath='{.metadata.annotations.stagesync\.io/secrets-seen}')" ] && break
  sleep 0.1
done
say "Deployment app (annotated stagesync.io/reload) seen: recorded, not restarted"
echo "pod-template hash: '$(template_hash)' (none yet), generation $(kubectl get deployment app -n team-a -o jsonpath='{.metadata.generation}')"

say "rotating the secret in AWS"
python "$root/examples/demo/aws.py" "$moto" rotate
wait_for battery-staple-2
say "the Secret followed the rotation"
echo "password: $(password)"
kubectl get externalsecret app-db -n team-a -o jsonpath='{.status.syncedVersions}'; echo
kubectl get externalsecrets -n team-a

for _ in $(seq 300); do [ -n "$(template_hash)" ] && break; sleep 0.1; done
if [ -z "$(template_hash)" ]; then
  echo "the Deployment was not restarted in 30s; stagesync log:" >&2
  tail -50 "$work/stagesync.log" >&2
  exit 1
fi
say "the Deployment was restarted: its pod template changed once"
echo "pod-template hash: $(template_hash), generation $(kubectl get deployment app -n team-a -o jsonpath='{.metadata.generation}')"
kubectl get events -n team-a --field-selector involvedObject.name=app -o custom-columns=REASON:.reason,MESSAGE:.message

say "demo done; cleaning up"
