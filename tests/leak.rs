//! Secret values never reach a log line, an event, a status or an error message, whatever goes
//! wrong. A test binary of its own: the operator's logs are captured by a process-wide
//! subscriber, which no other test may share.

mod support;

use serde_json::json;
use support::cluster::env;
use support::objects::*;
use support::unique_name;

/// Collects every log line of the process.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Each failure below is made with values that would show if anything echoed them.
#[tokio::test]
async fn secret_values_never_appear_in_logs_events_or_status() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("info,stagesync=trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber of this binary");

    let e = env("leak").await;
    let v = |tag: &str| format!("LEAK-{tag}-{}", unique_name("v").replace(['/', '-'], ""));
    let (ok_value, json_value, text_value) = (v("ok"), v("json"), v("text"));
    let json_key = unique_name("leak/json");
    create_aws(
        &e.aws,
        &json_key,
        &format!(r#"{{"password":"{json_value}","ok":"{ok_value}"}}"#),
    )
    .await;
    let text_key = unique_name("leak/text");
    create_aws(&e.aws, &text_key, &text_value).await;

    let cases = [
        // Synced: the value is written, never shown.
        (
            "synced",
            json!([{"secretKey": "ok", "remoteRef": {"key": json_key, "property": "ok"}}]),
            None,
            "SecretSynced",
        ),
        // A property that does not exist in a JSON value.
        (
            "noprop",
            json!([{"secretKey": "x", "remoteRef": {"key": json_key, "property": "nope"}}]),
            None,
            "PropertyNotFound",
        ),
        // A property asked of a value that is not JSON.
        (
            "notjson",
            json!([{"secretKey": "x", "remoteRef": {"key": text_key, "property": "a"}}]),
            None,
            "InvalidJSON",
        ),
        // Base64 decoding of a value that is not base64.
        (
            "nob64",
            json!([{"secretKey": "x", "remoteRef": {"key": text_key, "decodingStrategy": "Base64"}}]),
            None,
            "DecodingFailed",
        ),
        // A template that fails on the value (mustFromJson of text).
        (
            "tpl",
            json!([{"secretKey": "t", "remoteRef": {"key": text_key}}]),
            Some(json!({"data": {"out": "{{ .t | mustFromJson }}"}})),
            "TemplateFailed",
        ),
    ];
    for (name, data, template, _) in &cases {
        let mut spec = json!({"secretStoreRef": store_ref(), "data": data});
        if let Some(t) = template {
            spec["target"] = json!({"template": t});
        }
        create_es(e.client(), &e.ns, name, spec).await;
    }
    for (name, _, _, reason) in &cases {
        wait_reason(e.client(), &e.ns, name, reason).await;
    }
    wait_data(e.client(), &e.ns, "synced", &[("ok", &ok_value)]).await;

    let mut visible = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for (name, ..) in &cases {
        visible.push_str(&visible_text(e.client(), &e.ns, name).await);
    }
    assert!(
        visible.contains("PropertyNotFound") && visible.contains("sync failed"),
        "the scan must see the operator's output"
    );
    for value in [&ok_value, &json_value, &text_value] {
        assert!(
            !visible.contains(value.as_str()),
            "a secret value leaked into logs, events or status"
        );
    }
}
