//! Which namespaces a ClusterSecretStore admits, as ESO decides it: any criterion of any
//! condition admits; regular expressions match the whole name; anything that cannot be evaluated
//! (a bad regex or selector) admits nothing (fail closed).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use regex::Regex;

use crate::api::secretstore::ClusterSecretStoreCondition;

/// Whether `namespace` (with its labels) may use a store with these conditions.
pub fn namespace_admitted(
    conditions: &[ClusterSecretStoreCondition],
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    if conditions.is_empty() {
        return true;
    }
    conditions.iter().any(|c| {
        c.namespace_selector
            .as_ref()
            .is_some_and(|s| selector_matches(s, labels))
            || c.namespaces.iter().any(|n| n == namespace)
            || c.namespace_regexes
                .iter()
                .any(|re| Regex::new(&format!("^(?:{re})$")).is_ok_and(|re| re.is_match(namespace)))
    })
}

/// Kubernetes label-selector semantics. An empty selector matches everything, as in Kubernetes;
/// an unknown operator matches nothing.
fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let match_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    match_labels && match_expressions
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn by_names(names: &[&str]) -> ClusterSecretStoreCondition {
        ClusterSecretStoreCondition {
            namespaces: names.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn no_conditions_admit_every_namespace() {
        assert!(namespace_admitted(&[], "anything", &BTreeMap::new()));
    }

    #[test]
    fn names_selectors_and_regexes() {
        let selector = ClusterSecretStoreCondition {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("tenant".into(), "payments".into())])),
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["sandbox".into()]),
                }]),
            }),
            ..Default::default()
        };
        let regex = ClusterSecretStoreCondition {
            namespace_regexes: vec!["team-[ab]".into()],
            ..Default::default()
        };
        let conditions = [by_names(&["ci"]), selector, regex];
        let none = BTreeMap::new();
        assert!(namespace_admitted(&conditions, "ci", &none));
        assert!(namespace_admitted(
            &conditions,
            "pay",
            &labels(&[("tenant", "payments")])
        ));
        assert!(!namespace_admitted(
            &conditions,
            "pay",
            &labels(&[("tenant", "payments"), ("env", "sandbox")])
        ));
        assert!(namespace_admitted(&conditions, "team-a", &none));
        assert!(
            !namespace_admitted(&conditions, "evil-team-a", &none),
            "regexes are anchored"
        );
        assert!(
            !namespace_admitted(&conditions, "team-a-evil", &none),
            "regexes are anchored"
        );
        assert!(!namespace_admitted(&conditions, "other", &none));
    }

    #[test]
    fn unusable_criteria_admit_nothing() {
        let bad_regex = ClusterSecretStoreCondition {
            namespace_regexes: vec!["(".into()],
            ..Default::default()
        };
        assert!(!namespace_admitted(&[bad_regex], "(", &BTreeMap::new()));
        let bad_operator = ClusterSecretStoreCondition {
            namespace_selector: Some(LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "a".into(),
                    operator: "Matches".into(),
                    values: None,
                }]),
            }),
            ..Default::default()
        };
        assert!(!namespace_admitted(
            &[bad_operator],
            "x",
            &labels(&[("a", "b")])
        ));
        assert!(!namespace_admitted(
            &[ClusterSecretStoreCondition::default()],
            "x",
            &BTreeMap::new()
        ));
    }
}
