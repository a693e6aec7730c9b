//! Strategic merge patch, following `k8s.io/apimachinery/pkg/util/strategicpatch` (`mergeMap`,
//! `mergeSlice`, the `$patch`, `$retainKeys`, `$deleteFromPrimitiveList/` and
//! `$setElementOrder/` directives) with the options the API server uses
//! (`MergeParallelList: true`, `IgnoreUnmatchedNulls: true`).

use serde_json::{Map, Value};

use super::PatchError;
use super::types::{Node, Smp};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList";
const SET_ORDER: &str = "$setElementOrder";

const ERR_BAD_JSON_DOC: &str = "invalid JSON document";
const ERR_NO_LIST_OF_LISTS: &str = "lists of lists are not supported";
const ERR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_SET_ORDER: &str = "invalid patch format of setElementOrder list";

/// Go's `%v` rendering of a decoded JSON value, for error messages.
pub(crate) fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `==` on decoded JSON scalars (all numbers are float64).
pub(crate) fn go_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn internal(msg: impl Into<String>) -> PatchError {
    PatchError::Internal(msg.into())
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> PatchError {
    internal(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt(&Value::Object(m.clone()))
    ))
}

fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    internal(format!(
        "expected a {expected}, but received a {}",
        go_type(actual)
    ))
}

/// Applies a strategic merge patch to an object.
pub(crate) fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    root: &Node,
) -> Result<Value, PatchError> {
    let Value::Object(original) = target else {
        return Err(PatchError::BadRequest(ERR_BAD_JSON_DOC.into()));
    };
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadRequest(ERR_BAD_JSON_DOC.into()));
    };
    let merged = merge_map(original.clone(), patch.clone(), root)?;
    let mut out = Value::Object(merged);
    // The server decodes the result into the typed object, which drops any leftover directive
    // (unknown field).
    strip_dollar_keys(&mut out);
    Ok(out)
}

fn strip_dollar_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_dollar_keys);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_dollar_keys),
        _ => {}
    }
}

/// `removeDirectives`: drops maps carrying `$patch`; `None` means "do not keep".
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// `discardNullValuesFromPatch`.
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

fn extract_key<'a>(s: &'a str, prefix: &str, err: &str) -> Result<&'a str, PatchError> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest),
        _ => Err(PatchError::BadRequest(err.into())),
    }
}

fn same_go_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    node: &Node,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(d) = patch.get(DIRECTIVE) {
        return match d.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(internal(format!(
                "unknown patch type: {} in map: {}",
                go_fmt(d),
                go_fmt(&Value::Object(patch.clone()))
            ))),
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, node)?;

    let keys: Vec<String> = patch.keys().cloned().collect();
    for k in keys {
        let Some(pv) = patch.remove(&k) else { continue };
        let (key, is_delete_list) = if k.starts_with(DELETE_PRIMITIVE) {
            (
                extract_key(&k, DELETE_PRIMITIVE, ERR_PRIMITIVE_LIST)?.to_string(),
                true,
            )
        } else {
            (k, false)
        };
        if pv.is_null() {
            original.remove(&key);
            continue;
        }
        let replace_with_patch = match original.get(&key) {
            None => true,
            Some(ov) => !same_go_type(ov, &pv),
        };
        if replace_with_patch {
            if !is_delete_list {
                let mut pv = pv;
                discard_nulls(&mut pv);
                match remove_directives(pv) {
                    Some(v) => {
                        original.insert(key, v);
                    }
                    None => {
                        original.remove(&key);
                    }
                }
            }
            continue;
        }
        let (child, _) = node.child(&key);
        let ov = original.remove(&key).unwrap_or(Value::Null);
        let merged = match (ov, pv) {
            (Value::Object(om), Value::Object(pm)) => {
                if child.smp == Smp::Replace {
                    Some(Value::Object(pm))
                } else {
                    Some(Value::Object(merge_map(om, pm, child)?))
                }
            }
            (Value::Array(ol), Value::Array(pl)) => Some(Value::Array(merge_slice_handler(
                ol,
                pl,
                child,
                is_delete_list,
            )?)),
            (_, pv) => remove_directives(pv),
        };
        if let Some(v) = merged {
            original.insert(key, v);
        }
    }
    Ok(original)
}

fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(rk) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(list) = rk else {
        return Err(PatchError::BadRequest(ERR_RETAIN_KEYS.into()));
    };
    let retained = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_PRIMITIVE) || k.starts_with(SET_ORDER) {
            continue;
        }
        if !retained(k) {
            return Err(PatchError::BadRequest(ERR_RETAIN_KEYS.into()));
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ElemKind {
    Map,
    Scalar,
}

fn slice_element_kind(slices: &[&[Value]]) -> Result<ElemKind, PatchError> {
    let mut prev: Option<&Value> = None;
    for s in slices {
        for v in s.iter() {
            match prev {
                None => {
                    if v.is_array() {
                        return Err(PatchError::Invalid(ERR_NO_LIST_OF_LISTS.into()));
                    }
                    prev = Some(v);
                }
                Some(p) => {
                    if !same_go_type(p, v) {
                        let all: Vec<Value> =
                            slices.iter().map(|s| Value::Array(s.to_vec())).collect();
                        return Err(internal(format!(
                            "list element types are not identical: {}",
                            go_fmt(&Value::Array(all))
                        )));
                    }
                }
            }
        }
    }
    match prev {
        None => Err(internal("no elements in any of the given slices")),
        Some(Value::Object(_)) => Ok(ElemKind::Map),
        Some(_) => Ok(ElemKind::Scalar),
    }
}

fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    node: &Node,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    match &node.smp {
        Smp::Merge(key) => {
            merge_slice(original, patch, node.item(), key.as_deref(), is_delete_list)
        }
        _ => Ok(patch),
    }
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    item: &Node,
    merge_key: Option<&str>,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_kind(&[&original, &patch])?;
    let (original, patch, merged) = if kind == ElemKind::Scalar {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.iter().any(|d| go_eq(d, v)))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::new();
        for v in original.iter().chain(patch.iter()) {
            if !merged.iter().any(|m| go_eq(m, v)) {
                merged.push(v.clone());
            }
        }
        (original, patch, merged)
    } else {
        let Some(key) = merge_key else {
            return Err(internal(
                "cannot merge lists without merge key for type struct",
            ));
        };
        let (original, patch) = merge_slice_with_special_elements(original, patch, key)?;
        let merged = merge_slice_without_special_elements(original.clone(), &patch, key, item)?;
        (original, patch, merged)
    };
    let (patch_items, server_only) = partition(&merged, &patch, merge_key, kind)?;
    normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)
}

fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut without = Vec::new();
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            without.push(v);
            continue;
        };
        match m.get(DIRECTIVE) {
            None => without.push(v),
            Some(d) => match d.as_str() {
                Some("delete") => {
                    let Some(kv) = m.get(key) else {
                        return Err(no_merge_key(m, key));
                    };
                    let mut kept = Vec::with_capacity(original.len());
                    for o in original {
                        let Value::Object(om) = &o else {
                            return Err(internal(format!(
                                "value for key {} is not a map.",
                                kept.len()
                            )));
                        };
                        if om.get(key).is_some_and(|ov| go_eq(ov, kv)) {
                            continue;
                        }
                        kept.push(o);
                    }
                    original = kept;
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(internal(
                        "merging lists cannot yet be specified in the patch",
                    ));
                }
                _ => {
                    return Err(internal(format!(
                        "unknown patch type: {} in map: {}",
                        go_fmt(d),
                        go_fmt(&v)
                    )));
                }
            },
        }
    }
    if replace {
        return Ok((without, Vec::new()));
    }
    Ok((original, without))
}

fn find_by_key(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, PatchError> {
    for (i, v) in list.iter().enumerate() {
        let Value::Object(m) = v else {
            return Err(internal(format!("value for key {i} is not a map.")));
        };
        if m.get(key).is_some_and(|x| go_eq(x, value)) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
    item: &Node,
) -> Result<Vec<Value>, PatchError> {
    for v in patch {
        let Value::Object(pm) = v else {
            return Err(bad_arg_type("map[string]interface {}", v));
        };
        let Some(kv) = pm.get(key) else {
            return Err(no_merge_key(pm, key));
        };
        match find_by_key(&original, key, kv)? {
            Some(i) => {
                let om = match std::mem::take(&mut original[i]) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(om, pm.clone(), item)?);
            }
            None => {
                let mut nv = v.clone();
                discard_nulls(&mut nv);
                if let Some(nv) = remove_directives(nv) {
                    original.push(nv);
                }
            }
        }
    }
    Ok(original)
}

fn merge_key_value<'a>(v: &'a Value, key: &str) -> Result<&'a Value, PatchError> {
    match v {
        Value::Object(m) => m.get(key).ok_or_else(|| no_merge_key(m, key)),
        other => Err(bad_arg_type("map[string]interface {}", other)),
    }
}

/// Position of `v` in `list`, by merge key for maps and by value for scalars (`index`).
fn index_of(list: &[Value], v: &Value, key: Option<&str>, kind: ElemKind) -> Option<usize> {
    let get = |x: &'_ Value| -> Option<Value> {
        match kind {
            ElemKind::Map => x.as_object().and_then(|m| m.get(key?)).cloned(),
            ElemKind::Scalar => Some(x.clone()),
        }
    };
    let needle = get(v);
    list.iter().position(|x| match (&get(x), &needle) {
        (Some(a), Some(b)) => go_eq(a, b),
        (None, None) => true,
        _ => false,
    })
}

fn partition(
    merged: &[Value],
    by: &[Value],
    key: Option<&str>,
    kind: ElemKind,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut patch = Vec::new();
    let mut server_only = Vec::new();
    for v in merged {
        let found = match (kind, key) {
            (ElemKind::Map, Some(k)) => {
                let kv = merge_key_value(v, k)?;
                find_by_key(by, k, kv)?.is_some()
            }
            _ => by.iter().any(|b| go_eq(b, v)),
        };
        if found {
            patch.push(v.clone());
        } else {
            server_only.push(v.clone());
        }
    }
    Ok((patch, server_only))
}

fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    key: Option<&str>,
    kind: ElemKind,
) -> Result<Vec<Value>, PatchError> {
    let mut to_delete = Vec::new();
    let mut keep = to_sort;
    if kind == ElemKind::Map {
        if let Some(k) = key {
            for v in keep.iter().chain(order.iter()) {
                merge_key_value(v, k)?;
            }
        }
        let (d, k): (Vec<Value>, Vec<Value>) = keep.into_iter().partition(|v| {
            v.as_object()
                .and_then(|m| m.get(DIRECTIVE))
                .and_then(Value::as_str)
                == Some("delete")
        });
        to_delete = d;
        keep = k;
    }
    // Every item is found in `order` on the paths that reach here; items that are not keep
    // their relative order after the found ones.
    keep.sort_by_key(|v| index_of(order, v, key, kind).unwrap_or(usize::MAX));
    keep.extend(to_delete);
    Ok(keep)
}

fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
    kind: ElemKind,
) -> Result<Vec<Value>, PatchError> {
    let patch = normalize_slice_order(patch, patch_order, key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, key, kind)?;
    // mergeSortedSlice: insert server-only items into the patch items, using the live order.
    let (left, right) = (server_only, patch);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        if i >= left.len() {
            out.push(right[j].clone());
            j += 1;
        } else if j >= right.len() {
            out.push(left[i].clone());
            i += 1;
        } else {
            let li = index_of(server_order, &left[i], key, kind);
            let ri = index_of(server_order, &right[j], key, kind);
            match (li, ri) {
                (Some(a), Some(b)) if a < b => {
                    out.push(left[i].clone());
                    i += 1;
                }
                _ => {
                    out.push(right[j].clone());
                    j += 1;
                }
            }
        }
    }
    Ok(out)
}

fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    key: Option<&str>,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if key.is_some() {
        patch_list
            .iter()
            .filter(|v| {
                v.as_object()
                    .and_then(|m| m.get(DIRECTIVE))
                    .and_then(Value::as_str)
                    != Some("delete")
            })
            .collect()
    } else {
        patch_list.iter().collect()
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < non_delete.len() && oi < order.len() {
        if non_delete[pi]
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE))
        {
            pi += 1;
            continue;
        }
        let equal = match key {
            None => go_eq(non_delete[pi], &order[oi]),
            Some(k) => go_eq(
                merge_key_value(non_delete[pi], k)?,
                merge_key_value(&order[oi], k)?,
            ),
        };
        if equal {
            pi += 1;
        }
        oi += 1;
    }
    if pi < non_delete.len() && oi >= order.len() {
        return Err(internal(format!(
            "the order in patch list:\n{}\n doesn't match {SET_ORDER} list:\n{}",
            go_fmt(&Value::Array(patch_list.to_vec())),
            go_fmt(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    node: &Node,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ORDER))
        .cloned()
        .collect();
    for k in keys {
        let Some(order_v) = patch.remove(&k) else {
            continue;
        };
        let Value::Array(order) = &order_v else {
            return Err(bad_arg_type("[]interface {}", &order_v));
        };
        let field = extract_key(&k, SET_ORDER, ERR_SET_ORDER)?.to_string();
        let original_list = match original.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad_arg_type("[]interface {}", other)),
        };
        let patch_list = match patch.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad_arg_type("[]interface {}", other)),
        };
        let (child, _) = node.child(&field);
        let merge_key = match &child.smp {
            Smp::Merge(k) => k.clone(),
            _ => None,
        };
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or(&[]),
            order,
            merge_key.as_deref(),
        )?;
        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => match remove_directives(Value::Array(p.clone())) {
                Some(Value::Array(a)) => a,
                _ => continue,
            },
            (Some(o), Some(p)) => merge_slice_handler(o.clone(), p.clone(), child, false)?,
            (None, None) => continue,
        };
        let orig = original_list.unwrap_or_default();
        let kind = slice_element_kind(&[&orig, patch_list.as_deref().unwrap_or(&[])])?;
        let key = if kind == ElemKind::Map {
            merge_key.as_deref()
        } else {
            None
        };
        let (patch_items, server_only) = partition(&merged, order, key, kind)?;
        let both = normalize_element_order(patch_items, server_only, order, &orig, key, kind)?;
        original.insert(field.clone(), Value::Array(both));
        patch.remove(&field);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{MergeSchema, PatchError, strategic_merge_patch};
    use serde_json::json;

    fn pod() -> MergeSchema {
        MergeSchema::builtin("v1", "Pod")
    }

    fn deployment() -> MergeSchema {
        MergeSchema::builtin("apps/v1", "Deployment")
    }

    // Cases below mirror strategicpatch/patch_test.go ("Merge lists by merge key", "Delete
    // items in lists of maps", "$retainKeys", "$setElementOrder").

    #[test]
    fn containers_are_merged_by_name() {
        let live = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ]}});
        let patch = json!({"spec": {"containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
            {"name": "c", "image": "c:1"}
        ]}});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        // Items named in the patch come first, in the patch's order; items only on the server
        // follow (mergeSortedSlice). The "Update API Objects in Place Using kubectl patch" task
        // page shows the same: the patched-in container is listed before the existing one.
        assert_eq!(
            out,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]},
                {"name": "c", "image": "c:1"},
                {"name": "b", "image": "b:1"}
            ]}})
        );
    }

    #[test]
    fn tolerations_have_no_merge_key_and_are_replaced() {
        let live = json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}});
        let patch = json!({"spec": {"tolerations": [{"key": "c"}]}});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        assert_eq!(out, json!({"spec": {"tolerations": [{"key": "c"}]}}));
    }

    #[test]
    fn patch_delete_removes_a_list_item() {
        let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        assert_eq!(out, json!({"spec": {"containers": [{"name": "b"}]}}));
    }

    #[test]
    fn patch_delete_without_merge_key_is_an_error() {
        let live = json!({"spec": {"containers": [{"name": "a"}]}});
        let patch = json!({"spec": {"containers": [{"image": "x", "$patch": "delete"}]}});
        let err = strategic_merge_patch(&live, &patch, &pod()).unwrap_err();
        assert!(
            matches!(err, PatchError::Internal(ref m) if m.contains("does not contain declared merge key: name")),
            "{err:?}"
        );
    }

    #[test]
    fn patch_replace_on_list_and_map() {
        let live = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
                          "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"metadata": {"labels": {"c": "3", "$patch": "replace"}},
                           "spec": {"containers": [{"name": "z"}, {"$patch": "replace"}]}});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"c": "3"}}, "spec": {"containers": [{"name": "z"}]}})
        );
    }

    #[test]
    fn patch_delete_on_a_map_empties_it_and_merge_on_a_list_is_rejected() {
        let live = json!({"metadata": {"labels": {"a": "1"}}});
        let out = strategic_merge_patch(
            &live,
            &json!({"metadata": {"labels": {"$patch": "delete"}}}),
            &pod(),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"labels": {}}}));
        let live = json!({"spec": {"containers": [{"name": "a"}]}});
        let err = strategic_merge_patch(
            &live,
            &json!({"spec": {"containers": [{"$patch": "merge"}]}}),
            &pod(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "merging lists cannot yet be specified in the patch"
        );
    }

    #[test]
    fn null_deletes_keys_and_nested_nulls_of_new_values_are_dropped() {
        let live = json!({"data": {"a": "1", "b": "2"}});
        let patch = json!({"data": {"a": null}, "metadata": {"labels": {"x": "1", "y": null}}});
        let out =
            strategic_merge_patch(&live, &patch, &MergeSchema::builtin("v1", "Secret")).unwrap();
        assert_eq!(
            out,
            json!({"data": {"b": "2"}, "metadata": {"labels": {"x": "1"}}})
        );
    }

    #[test]
    fn finalizers_are_a_merged_set_and_delete_from_primitive_list_works() {
        let live = json!({"metadata": {"finalizers": ["a", "b"]}});
        let patch = json!({"metadata": {"finalizers": ["b", "c"]}});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        assert_eq!(out, json!({"metadata": {"finalizers": ["a", "b", "c"]}}));
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        assert_eq!(out, json!({"metadata": {"finalizers": ["b"]}}));
    }

    #[test]
    fn ports_merge_on_container_port() {
        let live = json!({"spec": {"containers": [{"name": "a", "ports": [
            {"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}
        ]}]}});
        let patch = json!({"spec": {"containers": [{"name": "a", "ports": [
            {"containerPort": 80, "name": "http"}
        ]}]}});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        assert_eq!(
            out["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}])
        );
    }

    #[test]
    fn patch_order_wins_for_merged_items_and_live_items_are_interleaved() {
        // patch_test.go "Merge lists by merge key ... order": items present in the patch take
        // the patch order, server-only items keep their place relative to them.
        let live = json!({"spec": {"volumes": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        let patch = json!({"spec": {"volumes": [{"name": "d"}, {"name": "a"}]}});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        let names: Vec<&str> = out["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["d", "a", "b", "c"]);
    }

    #[test]
    fn set_element_order_reorders_the_list() {
        let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
            "containers": [{"name": "c", "image": "x"}]
        }});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "c", "image": "x"}, {"name": "a"}, {"name": "b"}]}})
        );
    }

    #[test]
    fn retain_keys_clears_other_fields() {
        let live = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let out = strategic_merge_patch(&live, &patch, &deployment()).unwrap();
        assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));
        let bad = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
        let err = strategic_merge_patch(&live, &bad, &deployment()).unwrap_err();
        assert!(
            matches!(err, PatchError::BadRequest(ref m) if m == "invalid patch format of retainKeys")
        );
    }

    #[test]
    fn directives_are_not_stored_in_new_values() {
        let live = json!({"spec": {}});
        let patch = json!({"spec": {"containers": [{"name": "a", "env": [{"name": "x", "$patch": "delete"}]}]}});
        let out = strategic_merge_patch(&live, &patch, &pod()).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "a", "env": []}]}})
        );
    }

    #[test]
    fn owner_references_merge_by_uid_and_finalizer_order_directive() {
        let live = json!({"metadata": {
            "ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}],
            "finalizers": ["x", "y"]
        }});
        let patch = json!({"metadata": {
            "ownerReferences": [{"uid": "2", "controller": true}],
            "$setElementOrder/finalizers": ["z", "y", "x"],
            "finalizers": ["z"]
        }});
        let out =
            strategic_merge_patch(&live, &patch, &MergeSchema::builtin("v1", "ConfigMap")).unwrap();
        assert_eq!(
            out["metadata"]["ownerReferences"],
            // Both items are on the server: the server's relative order is kept.
            json!([{"uid": "1", "name": "a"}, {"uid": "2", "name": "b", "controller": true}])
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["z", "y", "x"]));
    }

    #[test]
    fn custom_resources_reject_strategic_merge_patch() {
        let s = MergeSchema::from_openapi(&json!({"type": "object"}));
        let err = strategic_merge_patch(&json!({}), &json!({}), &s).unwrap_err();
        assert!(matches!(err, PatchError::UnsupportedMediaType(_)));
        assert_eq!(err.code(), 415);
    }

    #[test]
    fn list_of_lists_is_unprocessable() {
        let live = json!({"metadata": {"finalizers": [["a"]]}});
        let patch = json!({"metadata": {"finalizers": [["b"]]}});
        let err = strategic_merge_patch(&live, &patch, &pod()).unwrap_err();
        assert_eq!(err.code(), 422);
    }
}
