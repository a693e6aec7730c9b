//! What a workload asks for: its opt-in annotations (stagesync's own, and Reloader's when
//! `--reloader-compatible` is on) and the Secrets its pod template uses. Pure: JSON in, sets of
//! names out, so bad annotations become a list of problems rather than an error path.

use std::collections::BTreeSet;

use serde_json::Value;

/// Opt in: restart when a managed Secret the pod template uses changes.
pub const ANNOTATION_RELOAD: &str = "stagesync.io/reload";
/// Restart when one of these Secrets (comma-separated, same namespace) changes, used or not.
pub const ANNOTATION_RELOAD_SECRETS: &str = "stagesync.io/reload-secrets";
/// `rollout` (default) or `none` (record and report only).
pub const ANNOTATION_RELOAD_STRATEGY: &str = "stagesync.io/reload-strategy";

/// Reloader: restart on any change of a ConfigMap or Secret the pod template uses.
pub const RELOADER_AUTO: &str = "reloader.stakater.com/auto";
/// Reloader: restart on any change of a Secret the pod template uses.
pub const RELOADER_SECRET_AUTO: &str = "secret.reloader.stakater.com/auto";
/// Reloader: restart when one of these Secrets changes.
pub const RELOADER_SECRET_RELOAD: &str = "secret.reloader.stakater.com/reload";
/// Reloader, on a Secret: never restart anything because of this Secret.
pub const RELOADER_IGNORE: &str = "reloader.stakater.com/ignore";

/// What to do when a workload's Secrets changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Roll the workload's pods (the pod-template annotation, or a Rollout's `restartAt`).
    Rollout,
    /// Record the new data and report it (event, metric), restart nothing.
    None,
}

/// A workload's restart wishes, from its annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadSpec {
    /// Follow every Secret the pod template uses.
    pub auto: bool,
    /// Secrets named explicitly.
    pub named: BTreeSet<String>,
    /// Rollout or record only.
    pub strategy: Strategy,
    /// Opted in through Reloader's annotations: Secrets stagesync does not manage count too.
    pub reloader: bool,
}

/// Reads a workload's annotations. `Ok(None)`: it did not opt in (never touched). `Err`: it
/// opted in but an annotation is malformed; the problems name each one.
pub fn reload_spec(
    annotations: &std::collections::BTreeMap<String, String>,
    reloader_compatible: bool,
) -> Result<Option<ReloadSpec>, Vec<String>> {
    let mut problems = Vec::new();
    let truthy = |key: &str, problems: &mut Vec<String>| match annotations.get(key) {
        None => false,
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" | "" => false,
            _ => {
                problems.push(format!(
                    "annotation {key}: {v:?} is not \"true\" or \"false\""
                ));
                false
            }
        },
    };
    let own_auto = truthy(ANNOTATION_RELOAD, &mut problems);
    let own_named = names(annotations, ANNOTATION_RELOAD_SECRETS, &mut problems);
    let (mut reloader_auto, mut reloader_named) = (false, None);
    if reloader_compatible {
        reloader_auto =
            truthy(RELOADER_AUTO, &mut problems) | truthy(RELOADER_SECRET_AUTO, &mut problems);
        reloader_named = names(annotations, RELOADER_SECRET_RELOAD, &mut problems);
    }
    let strategy = match annotations
        .get(ANNOTATION_RELOAD_STRATEGY)
        .map(|s| s.trim())
    {
        None | Some("rollout") => Strategy::Rollout,
        Some("none") => Strategy::None,
        Some(other) => {
            problems.push(format!(
                "annotation {ANNOTATION_RELOAD_STRATEGY}: {other:?} is not \"rollout\" or \"none\""
            ));
            Strategy::Rollout
        }
    };
    let opted_in = own_auto
        || own_named.is_some()
        || reloader_auto
        || reloader_named.is_some()
        || problems
            .iter()
            .any(|p| !p.contains(ANNOTATION_RELOAD_STRATEGY));
    if !opted_in {
        return Ok(None);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let reloader = reloader_auto || reloader_named.is_some();
    let mut named = own_named.unwrap_or_default();
    named.extend(reloader_named.unwrap_or_default());
    Ok(Some(ReloadSpec {
        auto: own_auto || reloader_auto,
        named,
        strategy,
        reloader,
    }))
}

/// The Secrets whose changes restart a workload that opted in with `spec`: those it names,
/// plus (when it follows every Secret it uses) those its pod spec uses.
pub fn dependencies(spec: &ReloadSpec, pod_spec: &Value) -> BTreeSet<String> {
    let mut deps = spec.named.clone();
    if spec.auto {
        deps.extend(secrets_used(pod_spec));
    }
    deps
}

/// A comma-separated list of Secret names; `None` when the annotation is absent.
fn names(
    annotations: &std::collections::BTreeMap<String, String>,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<BTreeSet<String>> {
    let raw = annotations.get(key)?;
    let mut out = BTreeSet::new();
    for part in raw.split(',') {
        let name = part.trim();
        if crate::api::names::is_dns_subdomain(name) {
            out.insert(name.to_owned());
        } else {
            problems.push(format!(
                "annotation {key}: {name:?} is not a Secret name (a comma-separated list of DNS subdomain names is expected)"
            ));
        }
    }
    Some(out)
}

/// The Secrets a pod spec uses: `env[].valueFrom.secretKeyRef`, `envFrom[].secretRef` of
/// containers and init containers, `volumes[].secret` and `volumes[].projected.sources[].secret`.
pub fn secrets_used(pod_spec: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |v: &Value| {
        if let Some(name) = v.as_str().filter(|n| !n.is_empty()) {
            out.insert(name.to_owned());
        }
    };
    for list in ["containers", "initContainers"] {
        for c in array(&pod_spec[list]) {
            for env in array(&c["env"]) {
                add(&env["valueFrom"]["secretKeyRef"]["name"]);
            }
            for from in array(&c["envFrom"]) {
                add(&from["secretRef"]["name"]);
            }
        }
    }
    for volume in array(&pod_spec["volumes"]) {
        add(&volume["secret"]["secretName"]);
        for source in array(&volume["projected"]["sources"]) {
            add(&source["secret"]["name"]);
        }
    }
    out
}

fn array(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn workloads_without_an_opt_in_are_left_alone() {
        assert_eq!(reload_spec(&annotations(&[]), true), Ok(None));
        assert_eq!(
            reload_spec(&annotations(&[(ANNOTATION_RELOAD, "false")]), false),
            Ok(None)
        );
        // Reloader's annotations count only in Reloader-compatible mode.
        assert_eq!(
            reload_spec(&annotations(&[(RELOADER_AUTO, "true")]), false),
            Ok(None)
        );
        // A strategy alone is no opt-in.
        assert_eq!(
            reload_spec(&annotations(&[(ANNOTATION_RELOAD_STRATEGY, "none")]), false),
            Ok(None)
        );
    }

    #[test]
    fn reads_stagesync_annotations() {
        let spec = reload_spec(
            &annotations(&[
                (ANNOTATION_RELOAD, "true"),
                (ANNOTATION_RELOAD_SECRETS, " db , api-key"),
                (ANNOTATION_RELOAD_STRATEGY, "none"),
            ]),
            false,
        )
        .unwrap()
        .unwrap();
        assert!(spec.auto && !spec.reloader);
        assert_eq!(spec.strategy, Strategy::None);
        assert_eq!(
            spec.named,
            BTreeSet::from(["db".to_owned(), "api-key".to_owned()])
        );
        let named_only = reload_spec(&annotations(&[(ANNOTATION_RELOAD_SECRETS, "db")]), false)
            .unwrap()
            .unwrap();
        assert!(!named_only.auto);
        assert_eq!(named_only.strategy, Strategy::Rollout);
    }

    #[test]
    fn reads_reloader_annotations_in_compatible_mode() {
        for key in [RELOADER_AUTO, RELOADER_SECRET_AUTO] {
            let spec = reload_spec(&annotations(&[(key, "true")]), true)
                .unwrap()
                .unwrap();
            assert!(spec.auto && spec.reloader, "{key}");
        }
        let spec = reload_spec(&annotations(&[(RELOADER_SECRET_RELOAD, "a,b")]), true)
            .unwrap()
            .unwrap();
        assert!(!spec.auto && spec.reloader);
        assert_eq!(spec.named.len(), 2);
    }

    #[test]
    fn malformed_annotations_are_problems_naming_the_annotation() {
        let err = reload_spec(
            &annotations(&[
                (ANNOTATION_RELOAD, "true"),
                (ANNOTATION_RELOAD_STRATEGY, "sometimes"),
            ]),
            false,
        )
        .unwrap_err();
        assert!(err[0].contains(ANNOTATION_RELOAD_STRATEGY) && err[0].contains("sometimes"));
        let err = reload_spec(
            &annotations(&[(ANNOTATION_RELOAD_SECRETS, "db,,Bad_Name")]),
            false,
        )
        .unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}");
        assert!(err.iter().all(|p| p.contains(ANNOTATION_RELOAD_SECRETS)));
        let err = reload_spec(&annotations(&[(ANNOTATION_RELOAD, "yes")]), false).unwrap_err();
        assert!(err[0].contains("\"yes\""));
    }

    #[test]
    fn dependencies_are_the_named_secrets_plus_the_used_ones_when_auto() {
        let pod =
            json!({"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "used"}}]}]});
        let named = reload_spec(&annotations(&[(ANNOTATION_RELOAD_SECRETS, "named")]), false)
            .unwrap()
            .unwrap();
        assert_eq!(
            dependencies(&named, &pod),
            BTreeSet::from(["named".to_owned()])
        );
        let auto = reload_spec(
            &annotations(&[
                (ANNOTATION_RELOAD, "true"),
                (ANNOTATION_RELOAD_SECRETS, "named"),
            ]),
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            dependencies(&auto, &pod),
            BTreeSet::from(["named".to_owned(), "used".to_owned()])
        );
    }

    #[test]
    fn finds_every_reference_form_in_containers_and_init_containers() {
        let pod = json!({
            "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
            "containers": [{
                "name": "app",
                "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "key-ref", "key": "k"}}},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "not-a-secret", "key": "k"}}},
                    {"name": "C", "value": "plain"}
                ],
                "envFrom": [{"secretRef": {"name": "env-from"}}, {"configMapRef": {"name": "cm"}}]
            }],
            "volumes": [
                {"name": "v1", "secret": {"secretName": "volume"}},
                {"name": "v2", "projected": {"sources": [
                    {"secret": {"name": "projected"}},
                    {"configMap": {"name": "cm2"}}
                ]}},
                {"name": "v3", "emptyDir": {}}
            ]
        });
        let used: Vec<_> = secrets_used(&pod).into_iter().collect();
        assert_eq!(
            used,
            ["env-from", "init-env", "key-ref", "projected", "volume"]
        );
        assert!(secrets_used(&json!({})).is_empty());
        assert!(secrets_used(&json!({"containers": "garbage"})).is_empty());
    }
}
