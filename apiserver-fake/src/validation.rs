//! Validation and normalization of built-in kinds (what upstream's per-kind strategies
//! check): object names, labels, Secret/ConfigMap data, immutability, Deployment-family
//! selectors, CronJob schedules and job templates, CRD definitions. Custom resources are
//! validated by `schema::CrdSchema`.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, Cause};
use crate::registry::ResourceType;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && !s.is_empty() && s.split('.').all(is_dns1123_label)
}

fn is_config_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s != "."
        && s != ".."
}

fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if prefix.is_some_and(|p| !is_dns1123_subdomain(p)) {
        return false;
    }
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_qualified_name(s) && !s.contains('/')
}

/// Name rules: namespaces are DNS-1123 labels, RBAC names are path segments,
/// everything else a DNS-1123 subdomain.
pub fn validate_name(rt: &ResourceType, name: &str) -> Vec<Cause> {
    let v = json!(name);
    if rt.plural == "namespaces" {
        if !is_dns1123_label(name) {
            return vec![Cause::invalid("metadata.name", &v, DNS1123_LABEL_MSG)];
        }
    } else if rt.group == "rbac.authorization.k8s.io" {
        if name == "." || name == ".." || name.contains('/') || name.contains('%') {
            return vec![Cause::invalid(
                "metadata.name",
                &v,
                "may not contain '/' or '%' and may not be '.' or '..'",
            )];
        }
    } else if !is_dns1123_subdomain(name) {
        return vec![Cause::invalid("metadata.name", &v, DNS1123_SUBDOMAIN_MSG)];
    }
    Vec::new()
}

/// metadata checks every kind gets (name, labels, annotations, finalizers).
pub fn validate_meta(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let meta = &obj["metadata"];
    let mut causes = Vec::new();
    match meta["name"].as_str() {
        Some(n) if !n.is_empty() => causes.extend(validate_name(rt, n)),
        _ => causes.push(Cause::new(
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required",
        )),
    }
    if let Some(labels) = meta["labels"].as_object() {
        for (k, v) in labels {
            if !is_qualified_name(k) {
                causes.push(Cause::invalid(
                    "metadata.labels",
                    &json!(k),
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                ));
            }
            match v.as_str() {
                Some(s) if is_label_value(s) => {}
                _ => causes.push(Cause::invalid(
                    "metadata.labels",
                    v,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                )),
            }
        }
    }
    if let Some(ann) = meta["annotations"].as_object() {
        for k in ann.keys() {
            if !is_qualified_name(k) {
                causes.push(Cause::invalid(
                    "metadata.annotations",
                    &json!(k),
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                ));
            }
        }
    }
    if let Some(fins) = meta["finalizers"].as_array() {
        for (i, f) in fins.iter().enumerate() {
            let s = f.as_str().unwrap_or_default();
            let ok = is_qualified_name(s) || matches!(s, "orphan" | "foregroundDeletion");
            if !ok {
                causes.push(Cause::invalid(
                    &format!("metadata.finalizers[{i}]"),
                    f,
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                ));
            }
        }
    }
    causes
}

/// Decode failures upstream reports as 400 before validation runs (the JSON cannot be
/// turned into the Go type), e.g. non-base64 Secret data.
fn decode_error(rt: &ResourceType, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{} in version \"{}\" cannot be handled as a {}: {}",
        rt.kind, rt.version, rt.kind, why
    ))
}

fn check_base64_map(rt: &ResourceType, obj: &Value, field: &str) -> Result<(), ApiError> {
    if let Some(m) = obj.get(field) {
        if m.is_null() {
            return Ok(());
        }
        let Some(m) = m.as_object() else {
            return Err(decode_error(
                rt,
                &format!(
                    "json: cannot unmarshal {} into Go struct field {}.{field} of type map[string][]uint8",
                    json_type(m),
                    rt.kind
                ),
            ));
        };
        for v in m.values() {
            let s = v.as_str().unwrap_or_default();
            if let Err(e) = base64::engine::general_purpose::STANDARD.decode(s) {
                let byte = match e {
                    base64::DecodeError::InvalidByte(i, _) => i,
                    base64::DecodeError::InvalidLength(i) => i,
                    base64::DecodeError::InvalidLastSymbol(i, _) => i,
                    base64::DecodeError::InvalidPadding => s.len(),
                };
                return Err(decode_error(
                    rt,
                    &format!("illegal base64 data at input byte {byte}"),
                ));
            }
        }
    }
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Decode-time checks with upstream's wording, run before typed decoding (base64 data).
pub fn precheck(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Secret") => check_base64_map(rt, obj, "data"),
        ("", "ConfigMap") => check_base64_map(rt, obj, "binaryData"),
        _ => Ok(()),
    }
}

/// Normalize a built-in object before validation (defaults and write-only fields):
/// Secret `stringData` merged into `data` (and never stored), default `type: Opaque`,
/// Namespace's `kubernetes.io/metadata.name` label and `kubernetes` finalizer.
pub fn normalize(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Secret") => {
            check_base64_map(rt, obj, "data")?;
            let o = obj.as_object_mut().expect("object");
            if let Some(sd) = o.remove("stringData")
                && let Some(sd) = sd.as_object()
            {
                {
                    let data = o.entry("data").or_insert_with(|| Value::Object(Map::new()));
                    if data.is_null() {
                        *data = Value::Object(Map::new());
                    }
                    for (k, v) in sd {
                        let s = v.as_str().unwrap_or_default();
                        data[k.as_str()] =
                            json!(base64::engine::general_purpose::STANDARD.encode(s));
                    }
                }
            }
            if o.get("type")
                .is_none_or(|t| t.as_str().is_none_or(str::is_empty))
            {
                o.insert("type".into(), json!("Opaque"));
            }
        }
        ("", "ConfigMap") => check_base64_map(rt, obj, "binaryData")?,
        ("", "Namespace") => {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let meta = obj["metadata"].as_object_mut().expect("metadata");
            let labels = meta
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if labels.is_null() {
                *labels = json!({});
            }
            labels["kubernetes.io/metadata.name"] = json!(name);
        }
        ("apps", "Deployment") => {
            let spec = obj
                .as_object_mut()
                .expect("object")
                .entry("spec")
                .or_insert_with(|| json!({}));
            if let Some(spec) = spec.as_object_mut() {
                spec.entry("replicas").or_insert(json!(1));
                spec.entry("revisionHistoryLimit").or_insert(json!(10));
                spec.entry("progressDeadlineSeconds").or_insert(json!(600));
                spec.entry("strategy").or_insert(json!({
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}
                }));
            }
        }
        ("batch", "CronJob") => {
            // Upstream's SetDefaults_CronJob (batch/v1).
            let spec = obj
                .as_object_mut()
                .expect("object")
                .entry("spec")
                .or_insert_with(|| json!({}));
            if let Some(spec) = spec.as_object_mut() {
                for (k, v) in [
                    ("concurrencyPolicy", json!("Allow")),
                    ("suspend", json!(false)),
                    ("successfulJobsHistoryLimit", json!(3)),
                    ("failedJobsHistoryLimit", json!(1)),
                ] {
                    let slot = spec.entry(k).or_insert(Value::Null);
                    if slot.is_null() || (k == "concurrencyPolicy" && *slot == json!("")) {
                        *slot = v;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `core.MaxSecretSize`: the most data bytes (all keys, decoded) a Secret may hold.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// Whether `bytes` unmarshal into a Go `map[string]interface{}` (a JSON object, or `null`), with
/// Go's `encoding/json` error text for the common failures.
fn go_json_object(bytes: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_) | Value::Null) => Ok(()),
        Ok(other) => {
            let kind = match other {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                _ => "array",
            };
            Err(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ))
        }
        Err(e) if e.is_eof() => Err("unexpected end of JSON input".into()),
        Err(_) => {
            let first = bytes
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .copied()
                .unwrap_or(b' ');
            Err(match first {
                b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                    "invalid character in JSON input".into()
                }
                c if c.is_ascii_graphic() => {
                    format!(
                        "invalid character '{}' looking for beginning of value",
                        c as char
                    )
                }
                c => format!("invalid character '\\x{c:02x}' looking for beginning of value"),
            })
        }
    }
}

fn validate_config_keys(field: &str, m: &Value, causes: &mut Vec<Cause>) {
    if let Some(m) = m.as_object() {
        for k in m.keys() {
            if !is_config_key(k) {
                causes.push(Cause::invalid(
                    &format!("{field}[{k}]"),
                    &json!(k),
                    CONFIG_KEY_MSG,
                ));
            }
        }
    }
}

/// Kind-specific validation of a create (`old` None) or update.
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Secret") => {
            // Upstream's ValidateSecret (pkg/apis/core/validation).
            validate_config_keys("data", &obj["data"], &mut causes);
            let decoded = |k: &str| -> Option<Vec<u8>> {
                let text = obj["data"].get(k)?.as_str()?;
                base64::engine::general_purpose::STANDARD.decode(text).ok()
            };
            let size: usize = obj["data"]
                .as_object()
                .map(|m| m.keys().filter_map(|k| decoded(k)).map(|v| v.len()).sum())
                .unwrap_or(0);
            if size > MAX_SECRET_SIZE {
                causes.push(Cause::new(
                    "FieldValueTooLong",
                    "data",
                    format!("Too long: may not be more than {MAX_SECRET_SIZE} bytes"),
                ));
            }
            let ty = obj["type"].as_str().unwrap_or("Opaque");
            let has = |k: &str| obj["data"].get(k).is_some();
            match ty {
                "kubernetes.io/service-account-token" => {
                    let name = obj["metadata"]["annotations"]["kubernetes.io/service-account.name"]
                        .as_str()
                        .unwrap_or("");
                    if name.is_empty() {
                        causes.push(Cause::required(
                            "metadata.annotations[kubernetes.io/service-account.name]",
                        ));
                    }
                }
                "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
                    let key = if ty == "kubernetes.io/dockercfg" {
                        ".dockercfg"
                    } else {
                        ".dockerconfigjson"
                    };
                    match decoded(key) {
                        None if !has(key) => causes.push(Cause::required(&format!("data[{key}]"))),
                        config => {
                            if let Err(detail) = go_json_object(&config.unwrap_or_default()) {
                                causes.push(Cause::invalid(
                                    &format!("data[{key}]"),
                                    &json!("<secret contents redacted>"),
                                    &detail,
                                ));
                            }
                        }
                    }
                }
                "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
                    causes.push(Cause::required("data[username]"));
                    causes.push(Cause::required("data[password]"));
                }
                "kubernetes.io/ssh-auth"
                    if decoded("ssh-privatekey").is_none_or(|v| v.is_empty()) =>
                {
                    causes.push(Cause::required("data[ssh-privatekey]"));
                }
                "kubernetes.io/tls" => {
                    for k in ["tls.crt", "tls.key"] {
                        if !has(k) {
                            causes.push(Cause::required(&format!("data[{k}]")));
                        }
                    }
                }
                _ => {}
            }
            if let Some(old) = old {
                let old_ty = old["type"].as_str().unwrap_or("Opaque");
                if old_ty != ty {
                    causes.push(Cause::invalid("type", &json!(ty), "field is immutable"));
                }
                immutable_data(obj, old, &["data"], &mut causes);
            }
        }
        ("", "ConfigMap") => {
            validate_config_keys("data", &obj["data"], &mut causes);
            validate_config_keys("binaryData", &obj["binaryData"], &mut causes);
            if let (Some(d), Some(b)) = (obj["data"].as_object(), obj["binaryData"].as_object()) {
                for k in d.keys().filter(|k| b.contains_key(*k)) {
                    causes.push(Cause::invalid(
                        &format!("data[{k}]"),
                        &json!(k),
                        "duplicate of key present in binaryData",
                    ));
                }
            }
            if let Some(old) = old {
                immutable_data(obj, old, &["data", "binaryData"], &mut causes);
            }
        }
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => {
            let sel = &obj["spec"]["selector"];
            if sel.is_null() {
                causes.push(Cause::required("spec.selector"));
            } else {
                let labels = &obj["spec"]["template"]["metadata"]["labels"];
                let ok = sel["matchLabels"]
                    .as_object()
                    .is_none_or(|ml| ml.iter().all(|(k, v)| labels.get(k) == Some(v)));
                if !ok {
                    causes.push(Cause::invalid(
                        "spec.template.metadata.labels",
                        labels,
                        "`selector` does not match template `labels`",
                    ));
                }
                if let Some(old) = old
                    && old["spec"]["selector"] != *sel
                {
                    causes.push(Cause::invalid("spec.selector", sel, "field is immutable"));
                }
            }
        }
        ("batch", "CronJob") => validate_cron_job(obj, old, &mut causes),
        ("" | "events.k8s.io", "Event") => validate_event(rt, obj, &mut causes),
        ("coordination.k8s.io", "Lease") => {
            if let Some(d) = obj["spec"]["leaseDurationSeconds"].as_i64()
                && d <= 0
            {
                causes.push(Cause::invalid(
                    "spec.leaseDurationSeconds",
                    &json!(d),
                    "must be greater than 0",
                ));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            validate_crd(obj, old, &mut causes);
        }
        _ => {}
    }
    causes
}

const NEGATIVE_MSG: &str = "must be greater than or equal to 0";

/// The simple parts of upstream's ValidateCronJobCreate/Update: schedule present, five fields
/// (or a known `@` descriptor) and no `TZ`, concurrency policy, the job template's restart
/// policy and selector, non-negative limits, names of at most 52 characters. Not checked: the
/// values of the schedule's fields, `timeZone` names, the pod template itself.
fn validate_cron_job(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = &obj["spec"];
    match spec["schedule"].as_str().unwrap_or_default() {
        "" => causes.push(Cause::required("spec.schedule")),
        schedule => {
            if let Err(e) = check_schedule(schedule) {
                causes.push(Cause::invalid("spec.schedule", &json!(schedule), &e));
            }
            let old_tz = old.is_some_and(|o| {
                o["spec"]["schedule"]
                    .as_str()
                    .is_some_and(|s| s.contains("TZ"))
            });
            if schedule.contains("TZ") {
                if !old_tz {
                    causes.push(Cause::invalid(
                        "spec.schedule",
                        &json!(schedule),
                        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                    ));
                } else if spec["timeZone"].is_string() {
                    causes.push(Cause::invalid(
                        "spec.schedule",
                        &json!(schedule),
                        "cannot use both timeZone field and TZ or CRON_TZ in schedule",
                    ));
                }
            }
        }
    }
    let non_negative = |field: &str, causes: &mut Vec<Cause>| {
        if let Some(n) = spec[field].as_i64()
            && n < 0
        {
            causes.push(Cause::invalid(
                &format!("spec.{field}"),
                &json!(n),
                NEGATIVE_MSG,
            ));
        }
    };
    non_negative("startingDeadlineSeconds", causes);
    match spec["concurrencyPolicy"].as_str().unwrap_or_default() {
        "Allow" | "Forbid" | "Replace" => {}
        "" => causes.push(Cause::required("spec.concurrencyPolicy")),
        other => causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.concurrencyPolicy",
            format!(
                "Unsupported value: \"{other}\": supported values: \"Allow\", \"Forbid\", \"Replace\""
            ),
        )),
    }
    let job = &spec["jobTemplate"]["spec"];
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        if let Some(n) = job[f].as_i64()
            && n < 0
        {
            causes.push(Cause::invalid(
                &format!("spec.jobTemplate.spec.{f}"),
                &json!(n),
                NEGATIVE_MSG,
            ));
        }
    }
    // Upstream checks after pod defaulting, where an unset policy has become `Always`.
    let restart = "spec.jobTemplate.spec.template.spec.restartPolicy";
    match job["template"]["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or_default()
    {
        "OnFailure" | "Never" => {}
        "" | "Always" => causes.push(Cause::new(
            "FieldValueRequired",
            restart,
            "Required value: valid values: \"OnFailure\", \"Never\"",
        )),
        other => causes.push(Cause::new(
            "FieldValueNotSupported",
            restart,
            format!("Unsupported value: \"{other}\": supported values: \"OnFailure\", \"Never\""),
        )),
    }
    if !job["selector"].is_null() {
        causes.push(Cause::invalid(
            "spec.jobTemplate.spec.selector",
            &job["selector"],
            "`selector` will be auto-generated",
        ));
    }
    if job["manualSelector"].as_bool() == Some(true) {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.jobTemplate.spec.manualSelector",
            "Unsupported value: true: supported values: \"nil\", \"false\"",
        ));
    }
    non_negative("successfulJobsHistoryLimit", causes);
    non_negative("failedJobsHistoryLimit", causes);
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if old.is_none() && name.len() > 52 {
        // The controller appends an 11-character suffix for the Jobs it creates (63 - 11).
        causes.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be no more than 52 characters",
        ));
    }
}

/// The shape check of robfig/cron's standard parser: five fields or an `@` descriptor
/// (field values and ranges are not checked). Errors are the parser's texts.
fn check_schedule(schedule: &str) -> Result<(), String> {
    let s = schedule.trim();
    let s = match s.split_once(char::is_whitespace) {
        Some((tz, rest)) if tz.starts_with("TZ=") || tz.starts_with("CRON_TZ=") => rest.trim(),
        _ => s,
    };
    if let Some(d) = s.strip_prefix('@') {
        return match d {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            _ if d.starts_with("every ") => Ok(()),
            _ => Err(format!("unrecognized descriptor: {s}")),
        };
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    Ok(())
}

/// Upstream's ValidateEventCreate: events.k8s.io/v1 writes (and core ones that set
/// eventTime) need eventTime, reportingController/Instance, action and reason. `obj` is the
/// stored (core/v1) form; causes name the served version's fields.
fn validate_event(rt: &ResourceType, obj: &Value, causes: &mut Vec<Cause>) {
    let v1 = rt.group == "events.k8s.io";
    if let Some(t) = obj["type"].as_str()
        && !t.is_empty()
        && t != "Normal"
        && t != "Warning"
    {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "type",
            format!("Unsupported value: \"{t}\": supported values: \"Normal\", \"Warning\""),
        ));
    }
    if !v1 && obj["eventTime"].is_null() {
        return;
    }
    let req = |core: &str, ext: &str, causes: &mut Vec<Cause>| {
        if obj[core].is_null() || obj[core] == json!("") {
            causes.push(Cause::required(if v1 { ext } else { core }));
        }
    };
    req("eventTime", "eventTime", causes);
    req("reportingComponent", "reportingController", causes);
    req("reportingInstance", "reportingInstance", causes);
    req("action", "action", causes);
    req("reason", "reason", causes);
    if obj["message"].as_str().is_some_and(|m| m.len() > 1024) {
        causes.push(Cause::new(
            "FieldValueTooLong",
            if v1 { "note" } else { "message" },
            "Too long: may not be more than 1024 bytes",
        ));
    }
}

fn immutable_data(obj: &Value, old: &Value, fields: &[&str], causes: &mut Vec<Cause>) {
    if old["immutable"].as_bool() != Some(true) {
        return;
    }
    for f in fields {
        let norm = |v: &Value| {
            if v.as_object().is_some_and(Map::is_empty) {
                Value::Null
            } else {
                v.clone()
            }
        };
        if norm(&obj[*f]) != norm(&old[*f]) {
            causes.push(Cause::forbidden(
                f,
                "field is immutable when `immutable` is set",
            ));
        }
    }
    if obj["immutable"].as_bool() != Some(true) {
        causes.push(Cause::forbidden(
            "immutable",
            "field is immutable when `immutable` is set",
        ));
    }
}

fn validate_crd(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = &obj["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    if group.is_empty() {
        causes.push(Cause::required("spec.group"));
    } else if !group.contains('.') {
        causes.push(Cause::invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::required("spec.names.plural"));
    }
    if spec["names"]["kind"].as_str().is_none_or(str::is_empty) {
        causes.push(Cause::required("spec.names.kind"));
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    match spec["scope"].as_str() {
        Some("Namespaced" | "Cluster") => {}
        Some(s) => causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.scope",
            format!("Unsupported value: \"{s}\": supported values: \"Cluster\", \"Namespaced\""),
        )),
        None => causes.push(Cause::required("spec.scope")),
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.versions",
            "Invalid value: null: must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions
            .iter()
            .filter(|v| v["storage"].as_bool() == Some(true))
            .count();
        if storage != 1 {
            causes.push(Cause::invalid(
                "spec.versions",
                &Value::Array(versions.clone()),
                "must have exactly one version marked as storage version",
            ));
        }
        for (i, v) in versions.iter().enumerate() {
            if v["name"].as_str().is_none_or(str::is_empty) {
                causes.push(Cause::required(&format!("spec.versions[{i}].name")));
            }
            let root = &v["schema"]["openAPIV3Schema"];
            if root.is_object() {
                structural(
                    root,
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    true,
                    causes,
                );
            }
            if let Some(s) = root.as_object()
                && let Err(e) = crate::schema::CrdSchema::new(&Value::Object(s.clone()))
            {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    format!("Invalid value: {e}"),
                ));
            }
        }
    }
    if let Some(old) = old {
        if old["spec"]["scope"] != spec["scope"] {
            causes.push(Cause::invalid(
                "spec.scope",
                &spec["scope"],
                "field is immutable",
            ));
        }
        if old["spec"]["group"] != spec["group"] {
            causes.push(Cause::invalid(
                "spec.group",
                &spec["group"],
                "field is immutable",
            ));
        }
    }
}

/// The structural-schema rules upstream enforces on CRD schemas (a subset: types
/// everywhere, array items, forbidden keywords, properties/additionalProperties, metadata).
fn structural(node: &Value, path: &str, root: bool, causes: &mut Vec<Cause>) {
    let Some(m) = node.as_object() else {
        return;
    };
    let preserve = m.get("x-kubernetes-preserve-unknown-fields");
    let int_or_string = m.get("x-kubernetes-int-or-string") == Some(&json!(true));
    let embedded = m.get("x-kubernetes-embedded-resource") == Some(&json!(true));
    if preserve == Some(&json!(false)) {
        causes.push(Cause::invalid(
            &format!("{path}.x-kubernetes-preserve-unknown-fields"),
            &json!(false),
            "must be true or undefined",
        ));
    }
    let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
    if ty.is_empty() && !int_or_string && preserve != Some(&json!(true)) && !embedded {
        causes.push(Cause::new(
            "FieldValueRequired",
            &format!("{path}.type"),
            "Required value: must not be empty for specified object fields",
        ));
    }
    if root && !ty.is_empty() && ty != "object" {
        causes.push(Cause::invalid(
            &format!("{path}.type"),
            &json!(ty),
            "must be object at the root",
        ));
    }
    if ty == "array" && m.get("items").is_none() {
        causes.push(Cause::new(
            "FieldValueRequired",
            &format!("{path}.items"),
            "Required value: must be specified",
        ));
    }
    if m.contains_key("properties")
        && m.get("additionalProperties")
            .is_some_and(|a| a != &json!(false))
    {
        causes.push(Cause::forbidden(
            &format!("{path}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if m.get("uniqueItems") == Some(&json!(true)) {
        causes.push(Cause::forbidden(
            &format!("{path}.uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    for k in [
        "$ref",
        "additionalItems",
        "patternProperties",
        "dependencies",
        "definitions",
        "id",
        "$schema",
    ] {
        if m.contains_key(k) {
            causes.push(Cause::forbidden(
                &format!("{path}.{k}"),
                &format!("{k} is not supported"),
            ));
        }
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            let p = format!("{path}.properties[{k}]");
            if root && k == "metadata" {
                let extra = sub["properties"]
                    .as_object()
                    .is_some_and(|mp| mp.keys().any(|f| f != "name" && f != "generateName"))
                    || sub.as_object().is_some_and(|sm| {
                        sm.keys()
                            .any(|f| !matches!(f.as_str(), "type" | "properties" | "description"))
                    });
                if extra {
                    causes.push(Cause::forbidden(
                        &p,
                        "must not specify anything other than name and generateName, but metadata is implicitly specified",
                    ));
                }
                continue;
            }
            structural(sub, &p, false, causes);
        }
    }
    if let Some(items) = m.get("items") {
        structural(items, &format!("{path}.items"), false, causes);
    }
    if let Some(ap) = m.get("additionalProperties").filter(|a| a.is_object()) {
        structural(ap, &format!("{path}.additionalProperties"), false, causes);
    }
    // allOf/anyOf/oneOf/not hold value validations only: no types are required inside.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structural_schema_rules() {
        let mut causes = Vec::new();
        let schema = json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
                "spec": {"properties": {"list": {"type": "array"}, "u": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}}},
                "ok": {"x-kubernetes-int-or-string": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            }
        });
        structural(&schema, "s", true, &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "s.properties[metadata]",
                "s.properties[spec].type",
                "s.properties[spec].properties[list].items",
                "s.properties[spec].properties[u].uniqueItems",
            ]
        );
    }

    /// Upstream's ValidateSecret: the decoded data's size, and each type's required keys.
    #[test]
    fn secret_rules() {
        let registry = crate::registry::Registry::with_builtins();
        let rt = registry.find("", "v1", "secrets").expect("secrets");
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let refused = |ty: &str, data: Value| -> Vec<String> {
            let obj = json!({"metadata": {"name": "s"}, "type": ty, "data": data});
            validate(&rt, &obj, None)
                .iter()
                .map(Cause::render)
                .collect()
        };
        // Exactly 1 MiB of decoded data is fine (base64 padding does not count); one byte more
        // is not.
        let half = b64(&vec![b'x'; MAX_SECRET_SIZE / 2 - 1]);
        let ok = json!({"a": half, "b": half, "c": b64(b"xy")});
        assert!(refused("Opaque", ok).is_empty());
        let over = json!({"a": half, "b": half, "c": b64(b"xyz")});
        assert_eq!(
            refused("Opaque", over),
            ["data: Too long: may not be more than 1048576 bytes"]
        );
        assert_eq!(
            refused("kubernetes.io/tls", json!({"tls.crt": b64(b"c")})),
            ["data[tls.key]: Required value"]
        );
        assert_eq!(
            refused(
                "kubernetes.io/dockerconfigjson",
                json!({".dockerconfigjson": b64(b"auths: x")})
            ),
            [
                "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'a' looking for beginning of value"
            ]
        );
        assert_eq!(
            refused(
                "kubernetes.io/dockercfg",
                json!({".dockercfg": b64(b"[1]")})
            ),
            [
                "data[.dockercfg]: Invalid value: \"<secret contents redacted>\": json: cannot unmarshal array into Go value of type map[string]interface {}"
            ]
        );
        assert!(
            refused(
                "kubernetes.io/dockerconfigjson",
                json!({".dockerconfigjson": b64(b"{}")})
            )
            .is_empty()
        );
        assert_eq!(
            refused("kubernetes.io/basic-auth", json!({})),
            [
                "data[username]: Required value",
                "data[password]: Required value"
            ]
        );
        assert!(refused("kubernetes.io/basic-auth", json!({"password": ""})).is_empty());
        assert_eq!(
            refused("kubernetes.io/ssh-auth", json!({"ssh-privatekey": ""})),
            ["data[ssh-privatekey]: Required value"]
        );
        assert_eq!(
            refused("kubernetes.io/service-account-token", json!({})),
            ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
    }

    #[test]
    fn names() {
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(!is_dns1123_subdomain("A"));
        assert!(!is_dns1123_label("a.b"));
        assert!(is_qualified_name("app.kubernetes.io/name"));
        assert!(!is_qualified_name("-x"));
        assert!(is_config_key("tls.crt"));
        assert!(!is_config_key("bad key"));
    }
}
