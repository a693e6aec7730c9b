//! CEL `x-kubernetes-validations` errors converted to the API server's field errors.

use super::*;

// ---------------------------------------------------------------------------------------------
// CEL errors

/// The value at a kube-cel field path (`spec.data[0].key`).
pub(crate) fn value_at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    if path.is_empty() {
        return Some(cur);
    }
    for seg in path.split('.') {
        let (name, mut rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let idx: usize = r[..end].parse().ok()?;
            cur = cur.get(idx)?;
            rest = &r[end + 1..];
        }
    }
    Some(cur)
}

/// `fieldErrorForReason` of apiextensions' CEL validator.
pub(crate) fn cel_cause(e: &kube_cel::ValidationError, obj: &Value) -> FieldCause {
    let field = e.field_path.clone();
    let value = value_at(obj, &field);
    let composite = matches!(value, Some(Value::Object(_) | Value::Array(_)) | None);
    let detail = e.message.trim().to_string();
    if e.kind != kube_cel::ErrorKind::ValidationFailure {
        let ty = value.map(json_type).unwrap_or("object");
        return cause(
            "FieldValueInvalid",
            &field,
            format!("Invalid value: {}: {detail}", go_quote(ty)),
        );
    }
    match e.reason.as_deref() {
        Some("FieldValueForbidden") => cause(
            "FieldValueForbidden",
            &field,
            format!("Forbidden: {detail}"),
        ),
        Some("FieldValueRequired") => cause(
            "FieldValueRequired",
            &field,
            format!("Required value: {detail}"),
        ),
        Some("FieldValueDuplicate") => {
            let shown = match value {
                Some(v) if !composite => bad_value(v),
                Some(v) => go_quote(json_type(v)),
                None => "\"object\"".into(),
            };
            cause(
                "FieldValueDuplicate",
                &field,
                format!("Duplicate value: {shown}"),
            )
        }
        _ => {
            let message = match value {
                Some(v) if !composite => format!("Invalid value: {}: {detail}", bad_value(v)),
                _ => format!("Invalid value: {detail}"),
            };
            cause("FieldValueInvalid", &field, message)
        }
    }
}
