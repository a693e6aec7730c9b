//! Every reason stagesync reports, in plain words, with the fix. The `match` is exhaustive: a
//! new [`Reason`] does not compile until it is explained here.

use crate::api::Reason;

/// What a reason means and what to do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// What happened.
    pub what: &'static str,
    /// What to do.
    pub fix: &'static str,
}

const fn says(what: &'static str, fix: &'static str) -> Explanation {
    Explanation { what, fix }
}

/// Nothing to do: the reason reports health.
const NOTHING: &str = "Nothing to fix.";

/// The explanation of `reason`.
pub const fn explain(reason: Reason) -> Explanation {
    match reason {
        Reason::SecretSynced => says(
            "The Secret holds the data of the AWS versions the ExternalSecret asks for.",
            NOTHING,
        ),
        Reason::SecretSyncedError => says(
            "The sync failed for a reason no finer reason describes, such as the Kubernetes API failing a read the sync needed. The Secret is unchanged.",
            "Read the message: check that the operator may read Secrets and ConfigMaps in this namespace and that the API server answers. It is retried with backoff.",
        ),
        Reason::SecretWriteFailed => says(
            "The Kubernetes API server failed the write of the Secret: a conflict with a concurrent change, throttling, an internal error or an outage (the message gives its answer). The Secret is as it was.",
            "Usually transient: the write is retried with backoff. If it lasts, check that the operator may patch Secrets in this namespace and that no admission webhook or quota rejects them.",
        ),
        Reason::SecretDeleted => says(
            "Every AWS secret this ExternalSecret reads is gone, and its deletionPolicy (Delete or Merge) removed the Secret, or this ExternalSecret's keys from it.",
            "Nothing to fix if the AWS secrets were deleted on purpose. Otherwise restore them (aws secretsmanager restore-secret --secret-id NAME) and the Secret is written again.",
        ),
        Reason::SecretMissing => says(
            "creationPolicy is Merge, which adds keys to an existing Secret and never creates one, and the target Secret does not exist.",
            "Create the target Secret, or set creationPolicy to Owner or CreateOrMerge so that stagesync creates it.",
        ),
        Reason::SecretNotFound => says(
            "An AWS secret named in remoteRef.key does not exist in the store's account and region (the store's prefix, if any, is put in front of the name). The Secret keeps its data.",
            "Check the name, region and prefix (aws secretsmanager describe-secret --secret-id NAME), then create the AWS secret or correct remoteRef.key.",
        ),
        Reason::VersionNotFound => says(
            "The AWS secret exists, but no version carries the stage (versionStage) or has the id (versionId) the ExternalSecret asks for.",
            "List the versions (aws secretsmanager list-secret-version-ids --secret-id NAME) and correct versionStage or versionId; a custom stage must be attached to a version first (update-secret-version-stage).",
        ),
        Reason::PropertyNotFound => says(
            "The AWS secret's value is JSON but has no such property (remoteRef.property).",
            "Compare the property path with the keys of the secret's JSON (gjson syntax: a.b for nesting, a\\.b for a dot inside a key), or add the property to the value in AWS.",
        ),
        Reason::InvalidJSON => says(
            "A property or dataFrom.extract asks for a JSON key, but the AWS secret's value is not a JSON object.",
            "Store the value as a JSON object, or read the whole value: drop remoteRef.property, or use data instead of dataFrom.extract.",
        ),
        Reason::DecodingFailed => says(
            "A value could not be decoded with the decodingStrategy asked for (Base64 or Base64URL).",
            "Store the value encoded as the strategy says, or set decodingStrategy to None (or Auto, which decodes only valid base64).",
        ),
        Reason::AccessDenied => says(
            "AWS refused a call made with the store's identity: an IAM policy, a KMS key policy or a role's trust policy does not allow it. The Secret is unchanged.",
            "Grant the store's identity secretsmanager:GetSecretValue and DescribeSecret on the secret (ListSecrets and BatchGetSecretValue in List mode) and kms:Decrypt on its key; the message names the refused call. The README's IAM section has a least-privilege policy.",
        ),
        Reason::Throttled => says(
            "AWS throttled the store's calls (too many requests per second).",
            "A short burst needs nothing: calls are retried with backoff. If it lasts, lengthen refreshInterval or use versionTracking mode List, which checks up to 100 secrets per call.",
        ),
        Reason::SecretScheduledForDeletion => says(
            "An AWS secret it reads is scheduled for deletion, so AWS refuses to read it. The Secret keeps its last data until the AWS secret is deleted or restored.",
            "If the deletion is a mistake, restore it (aws secretsmanager restore-secret --secret-id NAME); otherwise point the ExternalSecret at the secret that replaces it.",
        ),
        Reason::Unavailable => says(
            "AWS could not be reached or failed (network, DNS, timeout, or a 5xx answer). The Secret is unchanged.",
            "Usually transient: calls are retried with backoff. If it lasts, check the operator's egress to the Secrets Manager endpoint (VPC endpoint, proxy, NetworkPolicy) and the store's region and endpoint.",
        ),
        Reason::InvalidStoreConfig => says(
            "The store's settings cannot work: an unknown region, a malformed endpoint or role ARN, or an unusable credentials reference.",
            "Correct the store's spec.provider.aws as the message says; the store's own Ready condition says the same.",
        ),
        Reason::StoreNotFound => says(
            "The store named in secretStoreRef does not exist (a SecretStore is looked for in the ExternalSecret's own namespace).",
            "Create the store, or correct secretStoreRef.name and secretStoreRef.kind (SecretStore or ClusterSecretStore).",
        ),
        Reason::StoreNotAllowed => says(
            "The ClusterSecretStore's spec.conditions do not admit this namespace.",
            "Ask the store's owner to admit the namespace (namespaces, namespaceSelector or namespaceRegexes in spec.conditions), or use a store of your own.",
        ),
        Reason::AmbientCredentialsNotAllowed => says(
            "A SecretStore without auth would use the operator's own AWS identity, which the operator does not lend to namespaced stores.",
            "Set spec.provider.aws.auth on the SecretStore (secretRef or jwt), or use a ClusterSecretStore; a cluster admin may instead start the operator with --allow-ambient-credentials.",
        ),
        Reason::RoleNotAllowed => says(
            "A role the store would assume (role, additionalRoles, or its ServiceAccount's role) is outside the operator's --allowed-roles pattern.",
            "Use a role the pattern admits, or ask the cluster admin to widen --allowed-roles.",
        ),
        Reason::CredentialsNotFound => says(
            "The Secret, or the key in it, that holds the store's credentials does not exist.",
            "Create the Secret and key the store's auth names (for a ClusterSecretStore, in the namespace it names); the ExternalSecret syncs as soon as they appear.",
        ),
        Reason::InvalidKey => says(
            "A produced Secret key is not valid (only letters, digits, '-', '_' and '.' are allowed), so nothing was written.",
            "Rename the key: secretKey in data, a rewrite on the dataFrom entry, or conversionStrategy on find.",
        ),
        Reason::InvalidSecret => says(
            "The Secret this ExternalSecret would write is one the API server refuses: its data is over 1 MiB, a key its type requires is missing or malformed, or it would change the type of the existing Secret. Nothing was written; the Secret keeps its data.",
            "Read the message for the rule: split the data over several ExternalSecrets, fix the template so the type's keys are produced, or delete the Secret to change its type.",
        ),
        Reason::NullBytesRefused => says(
            "A fetched value contains NUL bytes and nullBytePolicy is Fail, so nothing was written.",
            "Remove the NUL bytes from the value in AWS, or set nullBytePolicy to Ignore if binary data is expected.",
        ),
        Reason::SecretConflict => says(
            "The target Secret already exists and belongs to something else (another ExternalSecret, or a Secret stagesync did not create); it was left untouched.",
            "Choose another target.name, delete the other Secret if it is obsolete, or set creationPolicy Merge to add this ExternalSecret's keys to it.",
        ),
        Reason::InvalidSpec => says(
            "The spec cannot work as written, beyond what the schema checks: an unsupported field (generatorRef, target.manifest), a find without criteria, an invalid regular expression.",
            "Correct the spec as the message says.",
        ),
        Reason::TemplateFailed => says(
            "target.template could not be rendered, or a ConfigMap or Secret it reads (templateFrom) is missing. The Secret is unchanged.",
            "Check the template (Go text/template; a key missing from the data stops it) and that templateFrom's ConfigMaps and Secrets exist in this namespace.",
        ),
        Reason::RewriteFailed => says(
            "A dataFrom[].rewrite could not be applied: an invalid regular expression, a template error, or conflicting values in a merge.",
            "Correct the rewrite as the message says; for a merge conflict, conflictPolicy Ignore lets the later value win.",
        ),
        Reason::StoreValid => says("The store's credentials were checked and work.", NOTHING),
        Reason::RotationStuck => says(
            "A version of an AWS secret it reads has carried AWSPENDING for longer than the operator's --rotation-stuck-after without becoming AWSCURRENT: the rotation function keeps failing. The Secret keeps the current value.",
            "Read the rotation Lambda's logs, fix it and rotate again (aws secretsmanager rotate-secret --secret-id NAME), or cancel the rotation (cancel-rotate-secret) and remove the AWSPENDING stage.",
        ),
        Reason::RotationHealthy => {
            says("No rotation of the AWS secrets it reads is stuck.", NOTHING)
        }
        Reason::RolloutFinished => says(
            "Every workload stagesync restarted after the Secret changed finished its rollout.",
            NOTHING,
        ),
        Reason::RolloutInProgress => says(
            "A workload stagesync restarted after the Secret changed is still rolling out.",
            "Wait; kubectl rollout status on the workload shows how far it got.",
        ),
        Reason::RolloutStuck => says(
            "A workload stagesync restarted after the Secret changed failed or stalled its rollout; the pods still running the old data keep serving.",
            "Look at the new pods (kubectl rollout status, kubectl describe pod): often the application rejects the new value. Fix the value in AWS or the application, then the rollout proceeds.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_an_explanation_and_a_fix() {
        for reason in Reason::ALL {
            let e = explain(reason);
            assert!(e.what.len() > 20, "{reason}: {e:?}");
            assert!(e.fix.len() >= NOTHING.len(), "{reason}: {e:?}");
            assert!(e.what.ends_with('.') && e.fix.ends_with('.'), "{reason}");
        }
    }

    #[test]
    fn failures_name_a_fix_and_health_says_nothing_to_fix() {
        let healthy = [
            Reason::SecretSynced,
            Reason::StoreValid,
            Reason::RotationHealthy,
            Reason::RolloutFinished,
        ];
        for reason in Reason::ALL {
            let e = explain(reason);
            assert_eq!(
                e.fix == NOTHING,
                healthy.contains(&reason),
                "{reason}: {}",
                e.fix
            );
        }
        // Each failure's fix is its own.
        let mut fixes: Vec<&str> = Reason::ALL
            .into_iter()
            .filter(|r| !healthy.contains(r))
            .map(|r| explain(r).fix)
            .collect();
        let n = fixes.len();
        fixes.sort();
        fixes.dedup();
        assert_eq!(fixes.len(), n);
    }
}
