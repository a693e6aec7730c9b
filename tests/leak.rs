//! Secret values never reach a log line, an event, a status, `/metrics`, an error answer or a
//! panic message, whatever goes wrong.
//!
//! Every integration test takes part in the leak scan (`tests/support/leak.rs`): the values it
//! puts into AWS and Secrets are canaries, and each cluster stop scans for them. This binary
//! proves the scan finds what it looks for (planted canaries, in every place and form), drives
//! the operator (in process and as a process, at trace level) through the failures most likely
//! to echo a value, and writes what is scanned into `docs/reliability.md`.

mod support;

use std::process::Stdio;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use stagesync::api::externalsecret::ExternalSecret;
use std::time::Duration;

use stagesync::controller::ControllerConfig;
use support::cluster::{TestCluster, eventually, test_policy};
use support::leak::{self, FORMS, Form, MIN_CANARY_LEN, PLACES, Place};
use support::moto::moto;
use support::objects::*;
use support::unique_name;

/// A value unique to this run, long enough to be a canary, with characters JSON escapes.
fn canary(tag: &str) -> String {
    format!(
        "LEAK-{tag}-{}\"q\\",
        unique_name("v").replace(['/', '-'], "")
    )
}

/// A canary that is also a valid object name (for the places that echo names).
fn name_canary(tag: &str) -> String {
    format!("planted-{tag}-{}", unique_name("n").replace('/', "-"))
}

/// The scan finds a planted value in every place and in every form: a scan that cannot fail
/// would prove nothing.
#[tokio::test]
async fn the_scan_finds_planted_values_everywhere_it_looks() {
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("leak-plant").await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);

    // Logs: a line of the process, at trace level.
    let in_log = canary("log");
    let mut expected = vec![(leak::plant(&in_log), Place::Logs, Form::JsonEscaped)];
    tracing::trace!(target: "stagesync::planted", value = ?in_log, "planted");

    // Events: an event whose note carries a value in base64.
    let in_event = canary("event");
    expected.push((leak::plant(&in_event), Place::Events, Form::Base64));
    // ... and one quoted inside the note (a JSON string): escaped twice.
    let in_quoted = canary("quoted");
    expected.push((
        leak::plant(&in_quoted),
        Place::Events,
        Form::JsonEscapedTwice,
    ));
    let event: k8s_openapi::api::events::v1::Event = serde_json::from_value(json!({
        "metadata": {"name": unique_name("planted").replace('/', "-"), "namespace": ns},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "tests", "reportingInstance": "tests",
        "action": "Plant", "reason": "Planted", "type": "Normal",
        "note": format!("note {} {in_quoted:?}", b64(&in_event)),
    }))
    .unwrap();
    Api::<k8s_openapi::api::events::v1::Event>::namespaced(cluster.client.clone(), &ns)
        .create(&PostParams::default(), &event)
        .await
        .unwrap();

    // Statuses: an ExternalSecret's status carrying a value JSON-escaped (it has a quote).
    let in_status = canary("status");
    expected.push((leak::plant(&in_status), Place::Statuses, Form::JsonEscaped));
    let es = create_es(
        &cluster.client,
        &ns,
        "planted",
        json!({"secretStoreRef": store_ref(), "data": [{"secretKey": "x", "remoteRef": {"key": "k"}}]}),
    )
    .await;
    let api = Api::<ExternalSecret>::namespaced(cluster.client.clone(), &ns);
    let status = json!({"status": {"binding": {"name": in_status}}, "metadata": {"resourceVersion": es.metadata.resource_version}});
    api.patch_status("planted", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();

    // Error answers: a 404 echoes the name asked for.
    let in_error = name_canary("error");
    expected.push((leak::plant(&in_error), Place::ErrorResponses, Form::Plain));
    assert!(
        Api::<Secret>::namespaced(cluster.client.clone(), &ns)
            .get_opt(&in_error)
            .await
            .unwrap()
            .is_none()
    );

    // Metrics: a store label.
    let in_metrics = name_canary("metrics");
    expected.push((leak::plant(&in_metrics), Place::Metrics, Form::Plain));
    let metrics = std::sync::Arc::new(stagesync::metrics::Metrics::default());
    metrics.values_fetched(&in_metrics, 1);
    cluster.scan_metrics_of(metrics);

    // Panics of the operator's code (this hook input is what a panic in `src/` gives).
    let in_panic = canary("panic");
    expected.push((leak::plant(&in_panic), Place::Panics, Form::Plain));
    leak::scan_panic_message("src/planted.rs", 1, &format!("panicked with {in_panic}"));
    // ... but not a test's own assertion, which may print what it compared.
    leak::scan_panic_message("tests/planted.rs", 1, &format!("assert {in_panic}"));

    // Process logs: what a process writes to its scanned log file.
    let in_process = canary("process");
    expected.push((leak::plant(&in_process), Place::ProcessLogs, Form::Plain));
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args(["-c", "printf '%s\\n' \"$PLANTED\" >&2"])
        .env("PLANTED", &in_process)
        .stdout(Stdio::null());
    leak::log_to_scanned_file(&mut cmd, "a planted process");
    assert!(cmd.status().await.unwrap().success());

    let report = cluster.leak_scan();
    assert!(report.hits.is_empty(), "{:?}", report.failure());
    let planted: Vec<leak::Hit> = report
        .planted
        .into_iter()
        .chain(leak::take_planted())
        .collect();
    for (canary, place, form) in &expected {
        assert!(
            planted
                .iter()
                .any(|h| h.canary == *canary && h.place == *place && h.form == *form),
            "the value planted in {place:?} ({form:?}) was not found: {planted:?}"
        );
    }
    assert!(
        !planted.iter().any(|h| h.item.contains("tests/planted.rs")),
        "a test's own assertion is not the operator's panic: {planted:?}"
    );
}

/// The failures most likely to echo a value, each with values that would show if anything
/// printed them: the in-process operator and a `stagesync run` process, both at trace level.
/// Any hit fails the test at the cluster's stop (or here, in the explicit scan).
#[tokio::test]
async fn secret_values_never_appear_anywhere_whatever_fails() {
    // The in-process operator watches its own namespace; a `stagesync run` process another.
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("leak").await;
    create_store(&cluster.client, &ns, &moto().endpoint).await;
    let _operator = cluster.run_operator_with(
        test_policy(&moto().endpoint),
        ControllerConfig {
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(2),
            namespaces: vec![ns.clone()],
            ..ControllerConfig::default()
        },
    );
    let e = Scenario {
        aws: moto().admin_client().await,
        cluster,
        ns,
    };
    let v = |tag: &str| canary(tag);
    let (ok_value, json_value, text_value, nested) = (v("ok"), v("json"), v("text"), v("nested"));
    let b64_value = base64::engine::general_purpose::STANDARD.encode(v("b64"));
    let json_key = unique_name("leak/json");
    let json_doc = json!({"password": json_value, "ok": ok_value, "db": {"pw": nested}});
    create_aws(&e.aws, &json_key, &json_doc.to_string()).await;
    let text_key = unique_name("leak/text");
    create_aws(&e.aws, &text_key, &text_value).await;
    let b64_key = unique_name("leak/b64");
    create_aws(&e.aws, &b64_key, &b64_value).await;
    // A templateFrom Secret holding a value too.
    let in_secret = v("tplsecret");
    create_secret(e.client(), &e.ns, "tpl-source", json!({"t": in_secret})).await;

    let data = |key: &str, extra: serde_json::Value| {
        let mut r = json!({"key": key});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!([{"secretKey": "x", "remoteRef": r}])
    };
    let tpl = |t: serde_json::Value| json!({"template": t});
    #[rustfmt::skip]
    let cases: Vec<(&str, serde_json::Value, Option<serde_json::Value>, &str)> = vec![
        ("synced", data(&json_key, json!({"property": "ok"})), None, "SecretSynced"),
        ("noprop", data(&json_key, json!({"property": "nope"})), None, "PropertyNotFound"),
        ("notjson", data(&text_key, json!({"property": "a"})), None, "InvalidJSON"),
        ("nob64", data(&text_key, json!({"decodingStrategy": "Base64"})), None, "DecodingFailed"),
        ("tpl-json", data(&text_key, json!({})), Some(tpl(json!({"data": {"o": "{{ .x | mustFromJson }}"}}))), "TemplateFailed"),
        // A template printing a value (and forms of it) into its own error.
        ("tpl-fail", data(&text_key, json!({})), Some(tpl(json!({"data": {"o": "{{ fail .x }}"}}))), "TemplateFailed"),
        ("tpl-fail64", data(&text_key, json!({})), Some(tpl(json!({"data": {"o": "{{ .x | b64enc | fail }}"}}))), "TemplateFailed"),
        ("tpl-failq", data(&text_key, json!({})), Some(tpl(json!({"data": {"o": "{{ .x | quote | fail }}"}}))), "TemplateFailed"),
        ("tpl-leaf", data(&json_key, json!({})), Some(tpl(json!({"data": {"o": "{{ (.x | fromJson).db.pw | fail }}"}}))), "TemplateFailed"),
        ("tpl-dec", data(&b64_key, json!({})), Some(tpl(json!({"data": {"o": "{{ .x | b64dec | fail }}"}}))), "TemplateFailed"),
        ("tpl-range", data(&text_key, json!({})), Some(tpl(json!({"data": {"o": "{{ range .x }}{{ end }}"}}))), "TemplateFailed"),
        ("tpl-field", data(&text_key, json!({})), Some(tpl(json!({"data": {"o": "{{ .x.field }}"}}))), "TemplateFailed"),
        ("tpl-from", data(&text_key, json!({})), Some(tpl(json!({"templateFrom": [{"secret": {"name": "tpl-source", "items": [{"key": "t", "templateAs": "KeysAndValues"}]}}]}))), "TemplateFailed"),
        ("tpl-yaml", data(&text_key, json!({})), Some(tpl(json!({"templateFrom": [{"literal": "{{ .x }}: [", "target": "Data"}]}))), "TemplateFailed"),
        // A value made into a label that is not a valid label value: refused before the API
        // server could quote it back.
        ("label", data(&text_key, json!({})), Some(tpl(json!({"metadata": {"labels": {"l": "{{ .x }}"}}}))), "TemplateFailed"),
        ("label-key", data(&text_key, json!({})), Some(tpl(json!({"templateFrom": [{"literal": "{{ .x | quote }}: v", "target": "Labels"}]}))), "TemplateFailed"),
        // A value made into a Secret key.
        ("key", data(&text_key, json!({})), Some(tpl(json!({"templateFrom": [{"literal": "{{ .x | quote }}: v"}]}))), "InvalidKey"),
    ];
    for (name, data, template, _) in &cases {
        let mut spec =
            json!({"secretStoreRef": store_ref(), "refreshInterval": "1s", "data": data});
        if let Some(t) = template {
            spec["target"] = t.clone();
        }
        create_es(e.client(), &e.ns, name, spec).await;
    }
    // extract of a value that is not an object, and find over values with rewrites.
    create_es(
        e.client(),
        &e.ns,
        "extract",
        json!({"secretStoreRef": store_ref(), "dataFrom": [{"extract": {"key": text_key}}]}),
    )
    .await;
    let mut reasons = Vec::new();
    for (name, _, _, want) in &cases {
        let (_, reason, _) =
            eventually(support::objects::WAIT, &format!("{name} done"), || async {
                ready(e.client(), &e.ns, name).await
            })
            .await;
        reasons.push((name.to_string(), reason, want.to_string()));
    }
    wait_reason(e.client(), &e.ns, "extract", "InvalidJSON").await;
    wait_data(e.client(), &e.ns, "synced", &[("x", &ok_value)]).await;
    for (name, got, want) in &reasons {
        assert_eq!(got, want, "{name}: Ready reason");
    }
    for (name, ..) in &cases {
        eventually(
            support::objects::WAIT,
            &format!("an event about {name}"),
            || async { (!events_about(e.client(), &e.ns, name).await.is_empty()).then_some(()) },
        )
        .await;
    }

    // The same store and values through a `stagesync run` process at trace level.
    let other = e.cluster.namespace("leak-proc").await;
    create_store(e.client(), &other, &moto().endpoint).await;
    let port = support::free_port();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagesync"));
    cmd.arg("run")
        .arg("--kubeconfig")
        .arg(&e.cluster.operator_kubeconfig)
        .args(["--namespace", &other, "--leader-elect=false"])
        .args(["--sts-endpoint", &moto().endpoint])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .args(["--log-format", "json"])
        .stdout(Stdio::null())
        .kill_on_drop(true);
    leak::log_to_scanned_file(&mut cmd, "stagesync run (tests/leak.rs)");
    let _process = cmd.spawn().expect("stagesync starts");
    for (name, data, template, _) in &cases {
        let mut spec =
            json!({"secretStoreRef": store_ref(), "refreshInterval": "1s", "data": data});
        if let Some(t) = template {
            spec["target"] = t.clone();
        }
        if name.starts_with("tpl-from") {
            continue;
        }
        create_es(e.client(), &other, name, spec).await;
    }
    for (name, _, _, want) in &cases {
        if name.starts_with("tpl-from") {
            continue;
        }
        eventually(
            support::objects::WAIT,
            &format!("{other}/{name} done"),
            || async {
                let (_, reason, _) = ready(e.client(), &other, name).await?;
                (reason == *want).then_some(())
            },
        )
        .await;
    }
    let metrics = eventually(support::objects::WAIT, "the process's /metrics", || async {
        http_get(port, "/metrics")
    })
    .await;
    assert!(metrics.contains("stagesync_syncs_total"), "{metrics}");
    leak::scan_text(Place::Metrics, "the /metrics of stagesync run", &metrics);

    let report = e.cluster.leak_scan();
    if let Some(failure) = report.failure() {
        panic!("{failure}");
    }
    let (canaries, _) = leak::canary_counts();
    assert!(canaries >= FLOOR_CANARIES, "{canaries} canaries");
    let scanned = leak::scanned();
    for place in [
        Place::Logs,
        Place::ProcessLogs,
        Place::Events,
        Place::Statuses,
        Place::Metrics,
        Place::ErrorResponses,
    ] {
        assert!(
            scanned[&place] > 0,
            "{place:?} was not scanned: {scanned:?}"
        );
    }
}

struct Scenario {
    cluster: TestCluster,
    ns: String,
    aws: aws_sdk_secretsmanager::Client,
}

impl Scenario {
    fn client(&self) -> &kube::Client {
        &self.cluster.client
    }
}

/// Canaries this binary's scenario registers at least (its values and their JSON leaves).
const FLOOR_CANARIES: usize = 8;

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    (body.get(9..12) == Some("200")).then_some(body)
}

/// `docs/reliability.md`'s leak-scan block, from the scan's own definitions.
#[test]
fn reliability_doc_says_what_the_leak_scan_covers() {
    let mut doc = String::new();
    doc.push_str(
        "Every integration test takes part without doing anything (`tests/support/leak.rs`): \
         the values tests put into AWS (`create_aws`, `stage_pending`, `rotate`, `put_current`) \
         and into Secrets (`create_secret`, the credential Secret's secret access key) are \
         registered as canaries, and every cluster stop scans for them; a hit fails the test, \
         naming the place, the form and the test that registered the value (never the value).\n\n",
    );
    doc.push_str(&format!(
        "- **Canaries**: each value, and each string leaf of a JSON value, of at least {MIN_CANARY_LEN} \
         bytes. Shorter values (`v`, `one`, `2`, ...) could appear by chance in names, version ids \
         or numbers: they are left out and counted. A test value of {MIN_CANARY_LEN} bytes or more \
         also used as a name would be reported as a leak: the suite passing shows none is.\n"
    ));
    doc.push_str(&format!(
        "- **Forms**: {}.\n",
        FORMS.map(|f| f.describe()).join(", ")
    ));
    doc.push_str("- **Places**:\n");
    for place in PLACES {
        doc.push_str(&format!("  - {}\n", place.describe()));
    }
    doc.push_str(&format!(
        "- **Proof that it can fail**: `the_scan_finds_planted_values_everywhere_it_looks` plants \
         values in each place and in each form, and the scan finds each where it was put. \
         `secret_values_never_appear_anywhere_whatever_fails` drives the in-process operator and a \
         `stagesync run` process (both at trace level) through {} failures most likely to echo a \
         value (property, JSON, base64 and template errors, templates printing a value or its \
         base64/quoted/decoded forms or a JSON leaf into their own error, a value made into a \
         label or a key) and asserts at least {FLOOR_CANARIES} canaries and every place scanned.\n",
        LEAK_CASES
    ));
    doc.push_str(
        "- **A full run**: each test binary writes its running totals (canaries, short values left \
         out, items scanned per place) to `target/tmp/leak-scan/<binary>.txt` and prints them at \
         each cluster stop.\n",
    );
    support::docs::check_block("docs/reliability.md", "leak-scan", &doc);
}

/// Failure cases of `secret_values_never_appear_anywhere_whatever_fails` (its table, `extract`).
const LEAK_CASES: usize = 18;
