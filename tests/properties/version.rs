//! `api::version::VersionSelector::from_fields` and the `remoteRef` fields it reads
//! (`versionStage`, `versionId`, ESO's `version`). Total: every combination of the three fields
//! gives one selector, by the documented precedence (id, then stage, then ESO's `version`, then
//! `AWSCURRENT`); and every combination the CRD schema admits sets at most one of them, so the
//! selector is exactly the field that was written.

use proptest::prelude::*;
use serde_json::{Value, json};
use stagesync::api::ExternalSecret;
use stagesync::api::version::VersionSelector;

use crate::crd::admit;
use crate::{Found, Target, config, regressions};

const TOTAL: u32 = 2000;
const ADMITTED: u32 = 600;

pub const TARGETS: &[Target] = &[
    Target {
        test: "version_selector_is_total",
        code: "`api::version::VersionSelector::from_fields`",
        checks: "model: every combination of absent, empty and arbitrary `versionStage`, \
                 `versionId` and `version` (`uuid/…`, stages, unicode) gives the selector of the \
                 documented precedence, and prints",
        cases: TOTAL,
    },
    Target {
        test: "admitted_remote_refs_select_exactly_the_written_field",
        code: "`remoteRef` through the CRD schema and serde",
        checks: "every `data[].remoteRef` and `dataFrom[].extract` combination of the three \
                 fields that the schema admits has at most one of them, and its selector is that \
                 field's (or `AWSCURRENT`)",
        cases: ADMITTED,
    },
];

pub const FOUND: &[Found] = &[];

fn field() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.6,
        prop_oneof![
            Just(String::new()),
            prop::sample::select(vec![
                "AWSCURRENT",
                "AWSPREVIOUS",
                "AWSPENDING",
                "custom-label"
            ])
            .prop_map(str::to_owned),
            "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}",
            "uuid/[a-f0-9-]{0,40}",
            Just("uuid/".to_owned()),
            any::<String>(),
        ],
    )
}

/// The documented precedence, written out.
fn model(stage: Option<&str>, id: Option<&str>, version: Option<&str>) -> VersionSelector {
    let set = |f: Option<&str>| f.filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(id) = set(id) {
        VersionSelector::Id(id)
    } else if let Some(stage) = set(stage) {
        VersionSelector::Stage(stage)
    } else if let Some(v) = set(version) {
        match v.strip_prefix("uuid/") {
            Some(id) => VersionSelector::Id(id.to_owned()),
            None => VersionSelector::Stage(v),
        }
    } else {
        VersionSelector::Stage("AWSCURRENT".into())
    }
}

proptest! {
    #![proptest_config(config(regressions!("version"), TOTAL))]

    #[test]
    fn version_selector_is_total(stage in field(), id in field(), version in field()) {
        let selector = VersionSelector::from_fields(stage.as_deref(), id.as_deref(), version.as_deref());
        prop_assert_eq!(&selector, &model(stage.as_deref(), id.as_deref(), version.as_deref()));
        let printed = selector.to_string();
        let (VersionSelector::Stage(s) | VersionSelector::Id(s)) = &selector;
        prop_assert!(printed.ends_with(s.as_str()), "{}", printed);
    }
}

proptest! {
    #![proptest_config(config(regressions!("version"), ADMITTED))]

    #[test]
    fn admitted_remote_refs_select_exactly_the_written_field(
        stage in field(),
        id in field(),
        version in field(),
        in_data_from in any::<bool>(),
    ) {
        let mut remote = json!({"key": "app/db"});
        for (name, value) in [("versionStage", &stage), ("versionId", &id), ("version", &version)] {
            if let Some(v) = value {
                remote[name] = json!(v);
            }
        }
        let spec = if in_data_from {
            json!({"secretStoreRef": {"name": "aws"}, "dataFrom": [{"extract": remote}]})
        } else {
            json!({"secretStoreRef": {"name": "aws"}, "data": [{"secretKey": "k", "remoteRef": remote}]})
        };
        let obj = json!({
            "apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
            "metadata": {"name": "es", "namespace": "ns"}, "spec": spec,
        });
        let Some(admitted) = admit(&obj) else { return Ok(()) };
        let written = [&stage, &id, &version].iter().filter(|f| f.is_some()).count();
        prop_assert!(written <= 1, "admitted with {} version fields: {}", written, obj);
        let es: ExternalSecret = serde_json::from_value(admitted).unwrap();
        let selector = if in_data_from {
            es.spec.data_from[0].extract.as_ref().unwrap().version_selector()
        } else {
            es.spec.data[0].remote_ref.version_selector()
        };
        let only = |f: &Option<String>| if written == 1 { f.clone() } else { None };
        let (stage, id, version) = (only(&stage), only(&id), only(&version));
        prop_assert_eq!(selector, model(stage.as_deref(), id.as_deref(), version.as_deref()));
    }
}

#[test]
fn the_generator_reaches_admitted_refs_with_each_field() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = [false; 3];
    for _ in 0..400 {
        let fields: Vec<Option<String>> = (0..3)
            .map(|_| field().new_tree(&mut runner).unwrap().current())
            .collect();
        let mut remote = json!({"key": "k"});
        for (name, value) in ["versionStage", "versionId", "version"].iter().zip(&fields) {
            if let Some(v) = value {
                remote[*name] = Value::from(v.clone());
            }
        }
        let obj = json!({
            "apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
            "metadata": {"name": "es", "namespace": "ns"},
            "spec": {"secretStoreRef": {"name": "aws"}, "data": [{"secretKey": "k", "remoteRef": remote}]},
        });
        if admit(&obj).is_some() {
            for (i, f) in fields.iter().enumerate() {
                seen[i] |= f.is_some();
            }
        }
    }
    assert_eq!(seen, [true; 3]);
}
