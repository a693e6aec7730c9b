//! What `stagesync migrate` does with every ESO kind and field and every Reloader annotation: one
//! [`Rule`] each. The translation code names the rule behind each finding it reports, and
//! `docs/migration.md` carries the table rendered from [`RULES`] (a test keeps them equal), so the
//! report, the code and the documentation cannot tell different stories.

/// What becomes of a construct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Translated; nothing to do.
    Translated,
    /// Translated, with something the user should know (reported as a note).
    Note,
    /// Not translated: left as it was and reported (exit code 1).
    Untranslated,
}

/// One row of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable short name, shown in reports.
    pub id: &'static str,
    /// `ESO` or `Reloader`.
    pub group: &'static str,
    /// The ESO kind, field or Reloader annotation.
    pub source: &'static str,
    /// What `stagesync migrate` writes.
    pub becomes: &'static str,
    /// How it ends.
    pub outcome: Outcome,
    /// Why, and what to do when something is left to the user.
    pub why: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $group:literal, $outcome:ident, $source:literal => $becomes:literal; $why:literal;)*) => {
        $(
            #[doc = $source]
            pub static $name: Rule = Rule {
                id: $id,
                group: $group,
                source: $source,
                becomes: $becomes,
                outcome: Outcome::$outcome,
                why: $why,
            };
        )*
        /// Every rule, in the documentation's order.
        pub static RULES: &[&Rule] = &[$(&$name),*];
    };
}

rules! {
    ES_V1 = "es-v1", "ESO", Translated,
        "`ExternalSecret` `external-secrets.io/v1`"
        => "`ExternalSecret` `stagesync.io/v1alpha1`: only `apiVersion` changes";
        "stagesync's field names, types and defaults are ESO's; the document is otherwise byte-identical.";
    ES_V1BETA1 = "es-v1beta1", "ESO", Translated,
        "`ExternalSecret` `external-secrets.io/v1beta1`"
        => "`ExternalSecret` `stagesync.io/v1alpha1`: only `apiVersion` changes";
        "Since ESO 0.16, v1beta1 and v1 share one schema (no conversion webhook); v1 only added fields.";
    TEMPLATE_ENGINE_V1 = "template-engine-v1", "ESO", Untranslated,
        "`spec.target.template.engineVersion: v1` (v1beta1)"
        => "not translated: the object is left as it was";
        "ESO v1 and stagesync have template engine v2 only. Rewrite the templates for v2 (`base64encode` → `b64enc`, `base64decode` → `b64dec`, `fromJSON` → `fromJson`, `toJSON` → `toJson`, no `| toString`), set `engineVersion: v2`, run migrate again.";
    ES_OLD_VERSION = "eso-v1alpha1", "ESO", Untranslated,
        "any `external-secrets.io/v1alpha1` object"
        => "not translated";
        "v1alpha1 `dataFrom` means something else (ESO's v1beta1 guide); move to v1 with ESO first.";
    STORE = "store", "ESO", Translated,
        "`SecretStore` / `ClusterSecretStore` with `provider.aws` and `service: SecretsManager`"
        => "`stagesync.io/v1alpha1` `SecretStore` / `ClusterSecretStore` of the same name: only `apiVersion` changes";
        "Kinds keep their names, so every `secretStoreRef` and `sourceRef.storeRef` keeps working.";
    STORE_REFRESH_DURATION = "store-refresh-duration", "ESO", Translated,
        "store `spec.refreshInterval` as a duration (`\"5m\"`, ESO v1's int-or-string)"
        => "unchanged; a quoted number (`\"60\"`) becomes the integer of seconds";
        "stagesync's field is the same int-or-string: seconds, or a Go duration.";
    STORE_CONDITIONS_NAMESPACED = "store-conditions-namespaced", "ESO", Note,
        "`SecretStore` (namespaced) `spec.conditions`"
        => "removed";
        "ESO ignores conditions on a namespaced store; stagesync's SecretStore has no such field.";
    STORE_CONTROLLER = "store-controller", "ESO", Note,
        "store `spec.controller` (ESO's controller class)"
        => "kept";
        "stagesync reads it as ESO does: a stagesync started with `--controller-class` of that value handles the store (an empty class: every stagesync). Change it, or start stagesync with that class.";
    STORE_SECRETS_MANAGER = "store-secrets-manager", "ESO", Note,
        "`spec.provider.aws.secretsManager` (`forceDeleteWithoutRecovery`, `recoveryWindowInDays`)"
        => "kept";
        "These settings only concern PushSecret deletions; stagesync never writes to AWS, accepts them and says so with a `NoEffect` event.";
    STORE_PARAMETER_STORE = "store-parameter-store", "ESO", Untranslated,
        "`provider.aws.service: ParameterStore` or `CertificateManager`"
        => "not translated";
        "stagesync reads AWS Secrets Manager only. Keep these stores (and the ExternalSecrets using them) on ESO.";
    STORE_OTHER_PROVIDER = "store-other-provider", "ESO", Untranslated,
        "a store with any other provider (`vault`, `gcpsm`, `azurekv`, `kubernetes`, ...)"
        => "not translated";
        "stagesync reads AWS Secrets Manager only. Keep these stores (and the ExternalSecrets using them) on ESO.";
    UNKNOWN_FIELD = "unknown-field", "ESO", Untranslated,
        "any field stagesync's CRD does not have"
        => "not translated";
        "The API server would silently drop it. The README's ESO field table says what stagesync supports.";
    SCHEMA_REFUSED = "schema-refused", "ESO", Untranslated,
        "a value stagesync's CRD schema or CEL rules refuse"
        => "not translated";
        "The API server would refuse the translated object; the report quotes its message. Fix the value, run migrate again.";
    GENERATOR = "generator", "ESO", Untranslated,
        "`spec.data[].sourceRef.generatorRef`, `spec.dataFrom[].sourceRef.generatorRef`"
        => "not translated";
        "Generators create values (passwords, tokens); stagesync only syncs what AWS holds. Keep the object on ESO, or store the value in Secrets Manager.";
    MANIFEST_TARGET = "manifest-target", "ESO", Untranslated,
        "`spec.target.manifest` (a custom resource instead of a Secret)"
        => "not translated";
        "stagesync writes Secrets only. Keep the object on ESO.";
    STORE_NOT_TRANSLATED = "store-not-translated", "ESO", Untranslated,
        "an ExternalSecret whose store, among the given files, is not translated"
        => "not translated";
        "Its store stays on ESO, so the ExternalSecret does too.";
    STORE_NOT_GIVEN = "store-not-given", "ESO", Note,
        "an ExternalSecret whose store is not among the given files"
        => "translated";
        "Make sure a stagesync store of that kind and name exists (migrate the file that holds the ESO one).";
    STORE_KEPT_FOR_ESO = "store-kept-for-eso", "ESO", Note,
        "a store that ExternalSecrets left on ESO (among the given files) still use"
        => "the stagesync store, and the ESO store kept before it in the same file";
        "Those ExternalSecrets keep working on ESO; remove the ESO copy once they have moved.";
    CES_NAMESPACES = "ces-namespaces", "ESO", Note,
        "`ClusterExternalSecret` with `namespaces` only"
        => "one `ExternalSecret` per namespace, named `spec.externalSecretName` (default: the ClusterExternalSecret's name), labels and annotations from `externalSecretMetadata`";
        "stagesync has no ClusterExternalSecret. The document is written anew around the original `externalSecretSpec` text (re-indented, its comments kept); comments elsewhere in it are not kept.";
    CES_SELECTOR = "ces-selector", "ESO", Untranslated,
        "`ClusterExternalSecret` with `namespaceSelector` or `namespaceSelectors`"
        => "not translated";
        "Which namespaces a selector picks is only known in the cluster. List them in `namespaces` (then migrate again), or write one ExternalSecret per namespace.";
    CES_REFRESH_TIME = "ces-refresh-time", "ESO", Note,
        "`ClusterExternalSecret` `spec.refreshTime`"
        => "dropped";
        "It is how often ESO re-reads namespace labels; with listed namespaces there is nothing to re-read.";
    PUSH_SECRET = "push-secret", "ESO", Untranslated,
        "`PushSecret`, `ClusterPushSecret`"
        => "not translated";
        "stagesync never writes to AWS. Keep them on ESO.";
    GENERATOR_KIND = "generator-kind", "ESO", Untranslated,
        "`generators.external-secrets.io` objects (`Password`, `ECRAuthorizationToken`, `ClusterGenerator`, ...)"
        => "not translated";
        "Generators are out of stagesync's scope. Keep them on ESO.";
    OTHER_ESO_KIND = "other-eso-kind", "ESO", Untranslated,
        "any other `external-secrets.io` kind"
        => "not translated";
        "stagesync has no equivalent.";
    IN_LIST = "in-list", "ESO", Untranslated,
        "ESO objects or annotated workloads inside a `kind: List`"
        => "not translated";
        "Split the list into documents, run migrate again.";
    RELOADER_AUTO = "reloader-auto", "Reloader", Translated,
        "`reloader.stakater.com/auto` on a workload"
        => "`stagesync.io/reload` (same value)";
        "stagesync follows the Secrets the pod template uses. ConfigMaps are reported below.";
    RELOADER_SECRET_AUTO = "reloader-secret-auto", "Reloader", Translated,
        "`secret.reloader.stakater.com/auto`"
        => "`stagesync.io/reload` (same value)";
        "Both auto annotations become one.";
    RELOADER_AUTO_CONFIGMAPS = "reloader-auto-configmaps", "Reloader", Untranslated,
        "`reloader.stakater.com/auto` on a workload whose template also uses ConfigMaps (or CSI secret volumes)"
        => "`stagesync.io/reload` plus `configmap.reloader.stakater.com/auto: \"true\"`, so a Reloader kept for ConfigMaps still restarts on them";
        "stagesync manages Secrets only. Keep Reloader for ConfigMaps, or drop the annotation.";
    RELOADER_UNMANAGED = "reloader-unmanaged-secrets", "Reloader", Note,
        "`auto` on a workload using Secrets no ExternalSecret among the given files writes"
        => "translated";
        "`stagesync.io/reload` follows only Secrets stagesync writes. For the others run stagesync with `--reloader-compatible` and keep Reloader's annotations instead, or keep Reloader for them.";
    RELOADER_AUTO_FALSE = "reloader-auto-false", "Reloader", Translated,
        "`auto: \"false\"` (either auto annotation)"
        => "`stagesync.io/reload: \"false\"`";
        "Explicitly not restarted, as before.";
    RELOADER_BAD_BOOL = "reloader-bad-bool", "Reloader", Untranslated,
        "an auto annotation whose value is not a boolean"
        => "not translated";
        "Reloader reads it as false; write `\"true\"` or `\"false\"`.";
    RELOADER_SECRET_RELOAD = "reloader-secret-reload", "Reloader", Translated,
        "`secret.reloader.stakater.com/reload: \"a,b\"`"
        => "`stagesync.io/reload-secrets: \"a,b\"`";
        "Named Secrets, used by the template or not.";
    RELOADER_SECRET_REGEX = "reloader-secret-regex", "Reloader", Untranslated,
        "`secret.reloader.stakater.com/reload` with a regular expression (`db-.*`)"
        => "not translated";
        "stagesync takes Secret names only; list them.";
    RELOADER_CONFIGMAP = "reloader-configmap", "Reloader", Untranslated,
        "`configmap.reloader.stakater.com/auto`, `configmap.reloader.stakater.com/reload`"
        => "left as they are";
        "stagesync manages Secrets only. Keep Reloader for ConfigMaps, or drop them.";
    RELOADER_CSI = "reloader-csi", "Reloader", Untranslated,
        "`secretproviderclass.reloader.stakater.com/auto`, `secretproviderclass.reloader.stakater.com/reload`"
        => "left as they are";
        "CSI SecretProviderClasses are not Secrets stagesync writes. Keep Reloader for them.";
    RELOADER_EXCLUDE = "reloader-secrets-exclude", "Reloader", Note,
        "`secrets.exclude.reloader.stakater.com/reload` with auto"
        => "`stagesync.io/reload-secrets` listing the Secrets the template uses, minus the excluded ones";
        "stagesync has no exclusion; the list is fixed at migration time: update it when the template changes.";
    RELOADER_OTHER_EXCLUDE = "reloader-other-exclude", "Reloader", Note,
        "`configmaps.exclude.reloader.stakater.com/reload`, `secretproviderclasses.exclude.reloader.stakater.com/reload`"
        => "left as they are";
        "They only narrow what Reloader still does; stagesync never restarts for ConfigMaps or CSI volumes.";
    RELOADER_SEARCH = "reloader-search", "Reloader", Untranslated,
        "`reloader.stakater.com/search` (with `reloader.stakater.com/match` on Secrets)"
        => "left as it is";
        "stagesync has no per-Secret opt-in. List the used Secrets that carry `match` in `stagesync.io/reload-secrets`.";
    RELOADER_MATCH = "reloader-match", "Reloader", Note,
        "`reloader.stakater.com/match` on a Secret, ConfigMap or an ExternalSecret's template"
        => "left as it is";
        "Only meaningful with `search` (see above); stagesync does not read it.";
    RELOADER_IGNORE = "reloader-ignore", "Reloader", Untranslated,
        "`reloader.stakater.com/ignore` on a Secret or an ExternalSecret's template"
        => "left as it is";
        "stagesync honours it only with `--reloader-compatible`. Otherwise list the other Secrets in `stagesync.io/reload-secrets` on the workloads using it.";
    RELOADER_IGNORE_CONFIGMAP = "reloader-ignore-configmap", "Reloader", Note,
        "`reloader.stakater.com/ignore` on a ConfigMap"
        => "left as it is";
        "ConfigMaps stay Reloader's business.";
    RELOADER_STRATEGY_ROLLOUT = "reloader-rollout-strategy", "Reloader", Translated,
        "`reloader.stakater.com/rollout-strategy: rollout`"
        => "`stagesync.io/reload-strategy: rollout`";
        "stagesync also restarts through the pod template (field manager `stagesync`, which GitOps tools do not revert).";
    RELOADER_STRATEGY_RESTART = "reloader-restart-strategy", "Reloader", Untranslated,
        "`reloader.stakater.com/rollout-strategy: restart`"
        => "left as it is";
        "stagesync has no delete-the-pods restart. Its pod-template annotation is owned by its own field manager, so Argo CD and Flux see no drift: drop the annotation to use it.";
    RELOADER_PAUSE_PERIOD = "reloader-pause-period", "Reloader", Untranslated,
        "`deployment.reloader.stakater.com/pause-period`"
        => "left as it is";
        "No per-workload pause. stagesync gives one rollout per change of several Secrets (`--restart-debounce`) and rate-limits rollouts (`--max-rollouts-per-minute`).";
    RELOADER_PAUSED_AT = "reloader-paused-at", "Reloader", Note,
        "`deployment.reloader.stakater.com/paused-at`"
        => "left as it is";
        "Reloader's own bookkeeping; inert without Reloader.";
    RELOADER_LAST_RELOADED = "reloader-last-reloaded-from", "Reloader", Note,
        "`reloader.stakater.com/last-reloaded-from` in the pod template"
        => "left as it is";
        "Reloader's record of its last restart; removing it would roll the pods. Inert without Reloader.";
    RELOADER_ON_TEMPLATE = "reloader-on-template", "Reloader", Note,
        "Reloader annotations on the pod template (Reloader's fallback when the workload has none)"
        => "the stagesync annotations are added to the workload's own annotations; the template's are left";
        "stagesync reads the workload's annotations only; removing the template's would roll the pods. While Reloader still runs, both restart the workload.";
    RELOADER_OTHER_KIND = "reloader-other-kind", "Reloader", Untranslated,
        "Reloader annotations on a kind stagesync does not restart (`DeploymentConfig`, `Job`, ...)"
        => "left as they are";
        "stagesync restarts Deployments, StatefulSets, DaemonSets, CronJobs and Argo Rollouts.";
    RELOADER_CONFLICT = "reloader-conflict", "Reloader", Untranslated,
        "a workload that already carries a stagesync annotation with another value"
        => "left as it is";
        "Decide which one holds, run migrate again.";
}

/// The Reloader 1.4 annotations (from its `options` flags and `constants`), each handled by a
/// rule above; a test checks every one is named in the table.
pub const RELOADER_1_4_ANNOTATIONS: &[&str] = &[
    "reloader.stakater.com/auto",
    "secret.reloader.stakater.com/auto",
    "configmap.reloader.stakater.com/auto",
    "secretproviderclass.reloader.stakater.com/auto",
    "secret.reloader.stakater.com/reload",
    "configmap.reloader.stakater.com/reload",
    "secretproviderclass.reloader.stakater.com/reload",
    "secrets.exclude.reloader.stakater.com/reload",
    "configmaps.exclude.reloader.stakater.com/reload",
    "secretproviderclasses.exclude.reloader.stakater.com/reload",
    "reloader.stakater.com/search",
    "reloader.stakater.com/match",
    "reloader.stakater.com/ignore",
    "reloader.stakater.com/rollout-strategy",
    "deployment.reloader.stakater.com/pause-period",
    "deployment.reloader.stakater.com/paused-at",
    "reloader.stakater.com/last-reloaded-from",
];

/// The table as Markdown (the block between the markers in `docs/migration.md`).
pub fn markdown() -> String {
    let mut out =
        String::from("| From | `stagesync migrate` writes | Why, or what to do |\n|---|---|---|\n");
    let mut group = "";
    for rule in RULES {
        if rule.group != group {
            group = rule.group;
            out.push_str(&format!("| **{group}** | | |\n"));
        }
        // A `|` inside a cell (even in code) ends the cell unless escaped.
        let cell = |s: &str| s.replace('|', "\\|");
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            cell(rule.source),
            cell(rule.becomes),
            cell(rule.why)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_reloader_annotation_has_a_row() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        let text = markdown();
        for annotation in RELOADER_1_4_ANNOTATIONS {
            assert!(
                text.contains(&format!("`{annotation}")),
                "{annotation} has no row"
            );
        }
    }
}
