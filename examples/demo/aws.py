"""The AWS side of the demo, with boto3 against moto: create the example secret, rotate it."""
import json
import sys

import boto3

endpoint, action = sys.argv[1], sys.argv[2]
sm = boto3.client(
    "secretsmanager",
    endpoint_url=endpoint,
    region_name="eu-west-1",
    aws_access_key_id="AKIAEXAMPLEEXAMPLE",
    aws_secret_access_key="example-secret-access-key",
)
name = "prod/app/db"
if action == "create":
    out = sm.create_secret(Name=name, SecretString=json.dumps({"username": "admin", "password": "correct-horse-1"}))
    print(f"created {name}, version {out['VersionId']} (AWSCURRENT)")
elif action == "rotate":
    # As AWS rotation does: stage the new version as AWSPENDING, then promote it.
    old = next(v for v, stages in sm.describe_secret(SecretId=name)["VersionIdsToStages"].items() if "AWSCURRENT" in stages)
    new = sm.put_secret_value(
        SecretId=name,
        SecretString=json.dumps({"username": "admin", "password": "battery-staple-2"}),
        VersionStages=["AWSPENDING"],
    )["VersionId"]
    print(f"staged version {new} as AWSPENDING")
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=new, RemoveFromVersionId=old)
    print(f"promoted {new} to AWSCURRENT; {old} is now AWSPREVIOUS")
