"""Prints the example manifests as JSON, pointed at the demo's moto and sped up for a demo."""
import json
import sys

import yaml

root, endpoint = sys.argv[1], sys.argv[2]
items = []
for name in ["aws-credentials.yaml", "secretstore.yaml", "externalsecret.yaml"]:
    with open(f"{root}/examples/{name}") as f:
        doc = yaml.safe_load(f)
    if doc["kind"] == "SecretStore":
        doc["spec"]["provider"]["aws"]["endpoint"] = endpoint  # moto instead of AWS
    if doc["kind"] == "ExternalSecret":
        doc["spec"]["refreshInterval"] = "5s"  # 15m in the example; a demo cannot wait that long
    items.append(doc)
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
