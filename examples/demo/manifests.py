"""Writes the example manifests into a directory, pointed at the demo's moto and sped up for a
demo, one file each (kubectl then validates each against the API server's OpenAPI v3)."""
import json
import sys

import yaml

root, endpoint, out = sys.argv[1], sys.argv[2], sys.argv[3]
for name in [
    "aws-credentials.yaml",
    "secretstore.yaml",
    "externalsecret.yaml",
    "deployment-reload.yaml",
]:
    with open(f"{root}/examples/{name}") as f:
        doc = yaml.safe_load(f)
    if doc["kind"] == "SecretStore":
        doc["spec"]["provider"]["aws"]["endpoint"] = endpoint  # moto instead of AWS
    if doc["kind"] == "ExternalSecret":
        doc["spec"]["refreshInterval"] = "5s"  # 15m in the example; a demo cannot wait that long
    with open(f"{out}/{name.replace('.yaml', '.json')}", "w") as f:
        json.dump(doc, f)
