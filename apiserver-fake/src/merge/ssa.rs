//! Server-side apply and managed-fields tracking: the typed walkers of
//! `sigs.k8s.io/structured-merge-diff/v6/typed` (`ToFieldSet`, `Compare`, `Merge`, `RemoveItems`),
//! the `merge.Updater` (`Apply`, `Update`, `prune`), and the field manager chain of
//! `k8s.io/apimachinery/pkg/util/managedfields/internal` (`skipNonApplied` with
//! `before-first-apply`, `capManagers` with `ancient-changes`, `managedFieldsUpdater`,
//! `stripMeta`, `decodeLiveOrNew`, entry encoding and sorting).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, KeyValue, Path, PathElement, go_json, path_string};
use super::types::Node;
use super::{ApplyConflict, ListKind, MergeSchema, PatchError};

// ---------------------------------------------------------------------------------------------
// value helpers

/// Value equality as structured-merge-diff sees it (numbers compared numerically).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    Object,
    Array,
    Scalar,
    /// Both sides present, non-null, of different kinds.
    Mismatch,
}

fn shape_of(v: &Value) -> Option<Shape> {
    match v {
        Value::Null => None,
        Value::Object(_) => Some(Shape::Object),
        Value::Array(_) => Some(Shape::Array),
        _ => Some(Shape::Scalar),
    }
}

fn shape2(l: Option<&Value>, r: Option<&Value>) -> Shape {
    match (l.and_then(shape_of), r.and_then(shape_of)) {
        (Some(a), Some(b)) if a != b => Shape::Mismatch,
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => Shape::Scalar,
    }
}

fn empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// The path element of a list item (`listItemToPathElement`).
fn item_pe(kind: &ListKind, list: &Node, item: &Value) -> Result<PathElement, String> {
    match kind {
        ListKind::Map(keys) => {
            let m = match item {
                Value::Null => {
                    return Err("associative list with keys may not have a null element".into());
                }
                Value::Object(m) => m,
                _ => {
                    return Err("associative list with keys may not have non-map elements".into());
                }
            };
            let mut fields = Vec::new();
            for k in keys {
                if let Some(v) = m.get(k) {
                    fields.push((k.clone(), KeyValue(v.clone())));
                } else if let Some(d) = list.key_defaults.get(k) {
                    fields.push((k.clone(), KeyValue(d.clone())));
                }
            }
            if fields.is_empty() {
                return Err(format!(
                    "associative list with keys has an element that omits all key fields {} (and doesn't have default values for any key fields)",
                    go_json(&Value::Array(
                        keys.iter().map(|k| Value::String(k.clone())).collect()
                    ))
                ));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        ListKind::Set => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => {
                Err("associative list without keys has an element that's a list type".into())
            }
            v => Ok(PathElement::Value(KeyValue(v.clone()))),
        },
        ListKind::Atomic => Err("invalid indexing of non-associative list".into()),
    }
}

/// A typed-value error, with the path it happened at.
#[derive(Debug)]
pub(crate) struct TypedError {
    path: Path,
    msg: String,
}

impl std::fmt::Display for TypedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}: {}", path_string(&self.path), self.msg)
        }
    }
}

fn terr(path: &[PathElement], msg: String) -> TypedError {
    TypedError {
        path: path.to_vec(),
        msg,
    }
}

/// Computes the path elements of a non-atomic list, rejecting duplicates when asked.
fn list_pes(
    kind: &ListKind,
    node: &Node,
    list: &[Value],
    path: &[PathElement],
    reject_duplicates: bool,
) -> Result<Vec<PathElement>, TypedError> {
    let mut pes: Vec<PathElement> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let pe = item_pe(kind, node, item).map_err(|e| terr(path, format!("element {i}: {e}")))?;
        if reject_duplicates && pes.contains(&pe) {
            return Err(terr(
                path,
                format!("duplicate entries for key {}", pe.display()),
            ));
        }
        pes.push(pe);
    }
    Ok(pes)
}

/// Validates the applied configuration as `ObjectToTyped` does (associative list keys present,
/// no duplicates, set items scalar).
pub(crate) fn validate_typed(v: &Value, node: &Node, path: &mut Path) -> Result<(), TypedError> {
    match v {
        Value::Object(m) if !node.atomic => {
            for (k, cv) in m {
                let (cn, _) = node.child(k);
                path.push(PathElement::Field(k.clone()));
                validate_typed(cv, cn, path)?;
                path.pop();
            }
            Ok(())
        }
        Value::Array(a) => {
            let kind = node.list_kind();
            if *kind == ListKind::Atomic {
                return Ok(());
            }
            let pes = list_pes(kind, node, a, path, true)?;
            for (pe, item) in pes.into_iter().zip(a) {
                path.push(pe);
                validate_typed(item, node.item(), path)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// ToFieldSet

pub(crate) fn to_field_set(v: &Value, node: &Node) -> FieldSet {
    let mut out = FieldSet::new();
    tfs(v, node, &mut Vec::new(), &mut out);
    out
}

fn tfs(v: &Value, node: &Node, path: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) => {
            if node.atomic {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
                return;
            }
            for (k, cv) in m {
                let (cn, named) = node.child(k);
                path.push(PathElement::Field(k.clone()));
                tfs(cv, cn, path, out);
                let empty_map = cv.as_object().is_some_and(Map::is_empty);
                if cv.is_null() || empty_map || !named {
                    out.insert(path.clone());
                }
                path.pop();
            }
        }
        Value::Array(a) => {
            let kind = node.list_kind();
            if *kind == ListKind::Atomic {
                out.insert(path.clone());
                return;
            }
            let pes: Vec<Option<PathElement>> =
                a.iter().map(|i| item_pe(kind, node, i).ok()).collect();
            for (idx, (pe, item)) in pes.iter().zip(a).enumerate() {
                let Some(pe) = pe else { continue };
                let dup = pes
                    .iter()
                    .enumerate()
                    .any(|(j, other)| j != idx && other.as_ref() == Some(pe));
                path.push(pe.clone());
                if !dup {
                    tfs(item, node.item(), path, out);
                }
                out.insert(path.clone());
                path.pop();
            }
        }
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

/// `Set.EnsureNamedFieldsAreMembers`: adds, as members, the prefixes of members that are named
/// struct fields.
pub(crate) fn ensure_named(set: &FieldSet, root: &Node) -> FieldSet {
    let mut out = set.clone();
    for p in set.paths() {
        let mut node = root;
        for i in 0..p.len().saturating_sub(1) {
            match &p[i] {
                PathElement::Field(k) => {
                    let (n, named) = node.child(k);
                    if named {
                        out.insert(p[..=i].to_vec());
                    }
                    node = n;
                }
                _ => node = node.item(),
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Compare

#[derive(Debug, Default, Clone)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    fn exclude(mut self, ignored: &FieldSet) -> Comparison {
        if ignored.is_empty() {
            return self;
        }
        self.added = self.added.recursive_difference(ignored);
        self.modified = self.modified.recursive_difference(ignored);
        self.removed = self.removed.recursive_difference(ignored);
        self
    }
}

static NULL: Value = Value::Null;

pub(crate) fn compare(lhs: &Value, rhs: &Value, root: &Node) -> Result<Comparison, TypedError> {
    let mut c = Comparison::default();
    cmp_node(Some(lhs), Some(rhs), root, &mut Vec::new(), &mut c)?;
    Ok(c)
}

fn cmp_leaf(l: Option<&Value>, r: Option<&Value>, path: &[PathElement], c: &mut Comparison) {
    if path.is_empty() {
        return;
    }
    match (l, r) {
        (None, Some(_)) => c.added.insert(path.to_vec()),
        (Some(_), None) => c.removed.insert(path.to_vec()),
        (Some(a), Some(b)) if !json_eq(a, b) => c.modified.insert(path.to_vec()),
        _ => {}
    }
}

fn cmp_node(
    l: Option<&Value>,
    r: Option<&Value>,
    node: &Node,
    path: &mut Path,
    c: &mut Comparison,
) -> Result<(), TypedError> {
    let (l, r) = if node.always_present {
        (l.or(Some(&NULL)), r.or(Some(&NULL)))
    } else {
        (l, r)
    };
    match shape2(l, r) {
        Shape::Scalar | Shape::Mismatch => cmp_leaf(l, r, path, c),
        Shape::Object => {
            if node.atomic || (empty_container(l) && empty_container(r)) {
                cmp_leaf(l, r, path, c);
                return Ok(());
            }
            let lm = l.and_then(Value::as_object);
            let rm = r.and_then(Value::as_object);
            let mut keys: Vec<&String> = lm.map(|m| m.keys().collect()).unwrap_or_default();
            if let Some(rm) = rm {
                for k in rm.keys() {
                    if !lm.is_some_and(|m| m.contains_key(k)) {
                        keys.push(k);
                    }
                }
            }
            for k in keys {
                let (cn, _) = node.child(k);
                path.push(PathElement::Field(k.clone()));
                cmp_node(
                    lm.and_then(|m| m.get(k)),
                    rm.and_then(|m| m.get(k)),
                    cn,
                    path,
                    c,
                )?;
                path.pop();
            }
            cmp_tail(l, r, path, c);
        }
        Shape::Array => {
            let kind = node.list_kind();
            if *kind == ListKind::Atomic || (empty_container(l) && empty_container(r)) {
                cmp_leaf(l, r, path, c);
                return Ok(());
            }
            let empty: Vec<Value> = Vec::new();
            let la = l.and_then(Value::as_array).unwrap_or(&empty);
            let ra = r.and_then(Value::as_array).unwrap_or(&empty);
            let lp = list_pes(kind, node, la, path, false)?;
            let rp = list_pes(kind, node, ra, path, false)?;
            let mut all: Vec<&PathElement> = Vec::new();
            for pe in lp.iter().chain(rp.iter()) {
                if !all.contains(&pe) {
                    all.push(pe);
                }
            }
            for pe in all {
                let ll: Vec<&Value> = lp
                    .iter()
                    .zip(la)
                    .filter(|(p, _)| *p == pe)
                    .map(|(_, v)| v)
                    .collect();
                let rl: Vec<&Value> = rp
                    .iter()
                    .zip(ra)
                    .filter(|(p, _)| *p == pe)
                    .map(|(_, v)| v)
                    .collect();
                path.push(pe.clone());
                match (ll.len(), rl.len()) {
                    (a, b) if a <= 1 && b <= 1 => {
                        cmp_node(
                            ll.first().copied(),
                            rl.first().copied(),
                            node.item(),
                            path,
                            c,
                        )?;
                    }
                    (a, b) if a >= 2 && b >= 2 => {
                        let same = a == b && ll.iter().zip(&rl).all(|(x, y)| json_eq(x, y));
                        if !same {
                            c.modified.insert(path.clone());
                        }
                    }
                    (a, _) if a >= 2 => {
                        if let Some(rv) = rl.first() {
                            cmp_node(None, Some(rv), node.item(), path, c)?;
                        }
                        c.removed.insert(path.clone());
                    }
                    _ => {
                        if let Some(lv) = ll.first() {
                            cmp_node(Some(lv), None, node.item(), path, c)?;
                        }
                        c.added.insert(path.clone());
                    }
                }
                path.pop();
            }
            cmp_tail(l, r, path, c);
        }
    }
    Ok(())
}

fn cmp_tail(l: Option<&Value>, r: Option<&Value>, path: &[PathElement], c: &mut Comparison) {
    if path.is_empty() {
        return;
    }
    if l.is_none() {
        c.added.insert(path.to_vec());
    } else if r.is_none() {
        c.removed.insert(path.to_vec());
    }
}

// ---------------------------------------------------------------------------------------------
// Merge (live.Merge(config)): the right-hand side wins for leaves.

pub(crate) fn merge(lhs: &Value, rhs: &Value, root: &Node) -> Result<Value, TypedError> {
    Ok(merge_node(Some(lhs), Some(rhs), root, &mut Vec::new())?.unwrap_or(Value::Null))
}

fn merge_node(
    l: Option<&Value>,
    r: Option<&Value>,
    node: &Node,
    path: &mut Path,
) -> Result<Option<Value>, TypedError> {
    if l.is_none() && r.is_none() {
        return Ok(None);
    }
    let leaf = || r.or(l).cloned();
    match shape2(l, r) {
        Shape::Scalar | Shape::Mismatch => Ok(leaf()),
        Shape::Object => {
            if node.atomic || (empty_container(l) && empty_container(r)) {
                return Ok(leaf());
            }
            let lm = l.and_then(Value::as_object);
            let rm = r.and_then(Value::as_object);
            let mut out = Map::new();
            let mut keys: Vec<&String> = lm.map(|m| m.keys().collect()).unwrap_or_default();
            if let Some(rm) = rm {
                for k in rm.keys() {
                    if !lm.is_some_and(|m| m.contains_key(k)) {
                        keys.push(k);
                    }
                }
            }
            for k in keys {
                let (cn, _) = node.child(k);
                path.push(PathElement::Field(k.clone()));
                if let Some(v) = merge_node(
                    lm.and_then(|m| m.get(k)),
                    rm.and_then(|m| m.get(k)),
                    cn,
                    path,
                )? {
                    out.insert(k.clone(), v);
                }
                path.pop();
            }
            Ok(if out.is_empty() {
                None
            } else {
                Some(Value::Object(out))
            })
        }
        Shape::Array => {
            let kind = node.list_kind();
            if *kind == ListKind::Atomic || (empty_container(l) && empty_container(r)) {
                return Ok(leaf());
            }
            let empty: Vec<Value> = Vec::new();
            let la = l.and_then(Value::as_array).unwrap_or(&empty);
            let ra = r.and_then(Value::as_array).unwrap_or(&empty);
            let rp = list_pes(kind, node, ra, path, true)?;
            let lp = list_pes(kind, node, la, path, false)?;
            Ok(merge_list(la, &lp, ra, &rp, node, path)?.map(Value::Array))
        }
    }
}

/// `mergingWalker.visitListItems`: shared items follow the right-hand order, left-only items
/// keep their relative place.
fn merge_list(
    la: &[Value],
    lp: &[PathElement],
    ra: &[Value],
    rp: &[PathElement],
    node: &Node,
    path: &mut Path,
) -> Result<Option<Vec<Value>>, TypedError> {
    // The value for a key on the left; `None` inside when the key is duplicated there.
    let observed_l = |pe: &PathElement| -> Option<Option<&Value>> {
        let mut found = lp.iter().zip(la).filter(|(p, _)| *p == pe);
        let first = found.next()?;
        Some(if found.next().is_some() {
            None
        } else {
            Some(first.1)
        })
    };
    let observed_r = |pe: &PathElement| -> Option<&Value> {
        rp.iter().zip(ra).find(|(p, _)| *p == pe).map(|(_, v)| v)
    };
    let mut shared: std::collections::VecDeque<&PathElement> =
        rp.iter().filter(|pe| observed_l(pe).is_some()).collect();
    let mut next_shared = shared.pop_front();
    let mut merged_r: Vec<&PathElement> = Vec::new();
    let mut out = Vec::new();
    let merge_item = |pe: &PathElement,
                      lv: Option<&Value>,
                      rv: Option<&Value>,
                      out: &mut Vec<Value>,
                      path: &mut Path|
     -> Result<(), TypedError> {
        path.push(pe.clone());
        let v = merge_node(lv, rv, node.item(), path)?;
        path.pop();
        if let Some(v) = v {
            out.push(v);
        }
        Ok(())
    };
    let (ll, rl) = (lp.len(), rp.len());
    let (mut li, mut ri) = (0, 0);
    while li < ll || ri < rl {
        if li < ll && ri < rl {
            let pe = &lp[li];
            if *pe == rp[ri] {
                merged_r.push(pe);
                merge_item(pe, observed_l(pe).flatten(), observed_r(pe), &mut out, path)?;
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if observed_r(pe).is_some() && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < ll {
            let pe = &lp[li];
            if observed_r(pe).is_none() {
                merge_item(pe, Some(&la[li]), None, &mut out, path)?;
                li += 1;
                continue;
            } else if merged_r.contains(&pe) {
                li += 1;
            }
        }
        if ri < rl {
            let pe = &rp[ri];
            merged_r.push(pe);
            merge_item(pe, observed_l(pe).flatten(), observed_r(pe), &mut out, path)?;
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

// ---------------------------------------------------------------------------------------------
// RemoveItems

/// Removes the members of `set` (and everything under them). Like structured-merge-diff, a
/// container emptied by the removal becomes `null` (see [`drop_removal_nulls`]).
pub(crate) fn remove_items(v: &Value, set: &FieldSet, node: &Node) -> Value {
    match v {
        Value::Object(m) => {
            if m.is_empty() || node.atomic {
                return Value::Null;
            }
            let mut out = Map::new();
            for (k, cv) in m {
                let pe = PathElement::Field(k.clone());
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                if set.has_under(&pe) {
                    let (cn, _) = node.child(k);
                    out.insert(k.clone(), remove_items(cv, &set.with_prefix(&pe), cn));
                } else {
                    out.insert(k.clone(), cv.clone());
                }
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Object(out)
            }
        }
        Value::Array(a) => {
            let kind = node.list_kind();
            if a.is_empty() || *kind == ListKind::Atomic {
                return Value::Null;
            }
            let mut out = Vec::new();
            for item in a {
                let Ok(pe) = item_pe(kind, node, item) else {
                    out.push(item.clone());
                    continue;
                };
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                if set.has_under(&pe) {
                    let r = remove_items(item, &set.with_prefix(&pe), node.item());
                    if !r.is_null() {
                        out.push(r);
                    }
                } else {
                    out.push(item.clone());
                }
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Array(out)
            }
        }
        other => other.clone(),
    }
}

/// Drops the `null`s that removal left where `reference` has a value (the typed decoding of the
/// real server, or the CRD null pruning, would drop them too).
pub(crate) fn drop_removal_nulls(v: &mut Value, reference: &Value) {
    if let (Value::Object(m), Value::Object(r)) = (v, reference) {
        m.retain(|k, cv| !(cv.is_null() && r.get(k).is_some_and(|rv| !rv.is_null())));
        for (k, cv) in m.iter_mut() {
            if let Some(rv) = r.get(k) {
                drop_removal_nulls(cv, rv);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// managed fields

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: String,
    pub time: Option<String>,
    pub set: FieldSet,
}

impl Entry {
    fn applied(&self) -> bool {
        self.operation == "Apply"
    }

    /// `printManager`.
    pub(crate) fn describe(&self) -> String {
        let mut s = go_json(&Value::String(self.manager.clone()));
        if !self.subresource.is_empty() {
            s = format!(
                "{s} with subresource {}",
                go_json(&Value::String(self.subresource.clone()))
            );
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// `BuildManagerIdentifier`: the JSON of the entry without fields, time, and (for appliers)
/// apiVersion.
pub(crate) fn identifier(manager: &str, operation: &str, api_version: &str, sub: &str) -> String {
    let q = |s: &str| go_json(&Value::String(s.to_string()));
    let mut parts = Vec::new();
    if !manager.is_empty() {
        parts.push(format!("\"manager\":{}", q(manager)));
    }
    if !operation.is_empty() {
        parts.push(format!("\"operation\":{}", q(operation)));
    }
    if operation != "Apply" && !api_version.is_empty() {
        parts.push(format!("\"apiVersion\":{}", q(api_version)));
    }
    if !sub.is_empty() {
        parts.push(format!("\"subresource\":{}", q(sub)));
    }
    format!("{{{}}}", parts.join(","))
}

pub(crate) type Managed = BTreeMap<String, Entry>;

/// `DecodeManagedFields`.
pub(crate) fn decode_managed(v: Option<&Value>) -> Result<Managed, String> {
    let mut out = Managed::new();
    let Some(v) = v else { return Ok(out) };
    let list = match v {
        Value::Null => return Ok(out),
        Value::Array(a) => a,
        _ => return Err("managedFields must be a list".into()),
    };
    for (i, e) in list.iter().enumerate() {
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let operation = s("operation");
        if operation != "Apply" && operation != "Update" {
            return Err("operation must be `Apply` or `Update`".into());
        }
        let api_version = s("apiVersion");
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".into());
        }
        match s("fieldsType").as_str() {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {} in managed fields entry {i}",
                    go_json(&Value::String(other.to_string()))
                ));
            }
        }
        let set = match e.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(f) => FieldSet::from_fields_v1(f).map_err(|err| {
                format!("error decoding versioned set from entry {i}: error decoding set: {err}")
            })?,
        };
        let manager = s("manager");
        let subresource = s("subresource");
        let time = e.get("time").and_then(Value::as_str).map(str::to_string);
        let id = identifier(&manager, &operation, &api_version, &subresource);
        out.insert(
            id,
            Entry {
                manager,
                operation,
                api_version,
                subresource,
                time,
                set,
            },
        );
    }
    Ok(out)
}

/// Seconds since the epoch of an RFC 3339 timestamp (0 when unparsable, as Go's zero time).
pub(crate) fn rfc3339_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |a: usize, z: usize| s.get(a..z)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, se) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        rest = &r[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh = rest.get(1..3)?.parse::<i64>().ok()?;
            let om = rest.get(4..6)?.parse::<i64>().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    // days from civil (Howard Hinnant's algorithm)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// Formats seconds since the epoch as `metav1.Time` does (RFC 3339, seconds, UTC).
pub(crate) fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn normalize_time(now: &str) -> String {
    rfc3339_seconds(now)
        .map(format_rfc3339)
        .unwrap_or_else(|| now.to_string())
}

/// `encodeManagedFields` with `sortEncodedManagedFields`.
pub(crate) fn encode_managed(m: &Managed) -> Option<Value> {
    if m.is_empty() {
        return None;
    }
    let mut entries: Vec<&Entry> = m.values().collect();
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| {
                let ps = p.time.as_deref().and_then(rfc3339_seconds).unwrap_or(0);
                let qs = q.time.as_deref().and_then(rfc3339_seconds).unwrap_or(0);
                ps.cmp(&qs)
            })
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    Some(Value::Array(
        entries
            .into_iter()
            .map(|e| {
                let mut o = Map::new();
                if !e.manager.is_empty() {
                    o.insert("manager".into(), Value::String(e.manager.clone()));
                }
                o.insert("operation".into(), Value::String(e.operation.clone()));
                o.insert("apiVersion".into(), Value::String(e.api_version.clone()));
                if let Some(t) = &e.time {
                    o.insert("time".into(), Value::String(t.clone()));
                }
                o.insert("fieldsType".into(), Value::String("FieldsV1".into()));
                o.insert("fieldsV1".into(), e.set.to_fields_v1());
                if !e.subresource.is_empty() {
                    o.insert("subresource".into(), Value::String(e.subresource.clone()));
                }
                Value::Object(o)
            })
            .collect(),
    ))
}

fn strip_set() -> FieldSet {
    let mut s = FieldSet::new();
    let f = |x: &str| PathElement::Field(x.to_string());
    s.insert(vec![f("apiVersion")]);
    s.insert(vec![f("kind")]);
    s.insert(vec![f("metadata")]);
    for k in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(vec![f("metadata"), f(k)]);
    }
    s
}

/// `stripMetaManager.stripFields`.
fn strip_meta(m: &mut Managed, id: &str) {
    if let Some(e) = m.get_mut(id) {
        e.set = e.set.difference(&strip_set());
        if e.set.is_empty() {
            m.remove(id);
        }
    }
}

/// The reset fields of the resource (`GetResetFields` of its strategy), ignored by ownership.
fn ignored_fields(schema: &MergeSchema, subresource: Option<&str>) -> FieldSet {
    let mut s = FieldSet::new();
    if schema.status_subresource {
        match subresource {
            None => s.insert(vec![PathElement::Field("status".into())]),
            Some("status") => s.insert(vec![PathElement::Field("spec".into())]),
            Some(_) => {}
        }
    }
    s
}

/// `Updater.update`: takes the changed fields away from the other managers (or reports them as
/// conflicts) and the removed fields from everyone.
fn smd_update(
    live: &Value,
    new: &Value,
    managed: &mut Managed,
    workflow: &str,
    force: bool,
    root: &Node,
    ignored: &FieldSet,
) -> Result<Comparison, PatchError> {
    let cmp = compare(live, new, root)
        .map_err(|e| PatchError::Internal(format!("failed to compare objects: {e}")))?
        .exclude(ignored);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts: Vec<(String, FieldSet)> = Vec::new();
    for (id, e) in managed.iter() {
        if id == workflow {
            continue;
        }
        let c = e.set.intersection(&changed);
        if !c.is_empty() {
            conflicts.push((id.clone(), c));
        }
    }
    if !force && !conflicts.is_empty() {
        let mut list = Vec::new();
        for (id, set) in &conflicts {
            let e = &managed[id];
            for p in set.iter_ordered() {
                list.push(ApplyConflict {
                    manager: e.manager.clone(),
                    field: path_string(&p),
                    described: e.describe(),
                });
            }
        }
        return Err(PatchError::Conflict { conflicts: list });
    }
    for (id, c) in conflicts {
        if let Some(e) = managed.get_mut(&id) {
            e.set = e.set.difference(&c);
        }
    }
    if !cmp.removed.is_empty() {
        for (id, e) in managed.iter_mut() {
            if *id != workflow {
                e.set = e.set.difference(&cmp.removed);
            }
        }
    }
    managed.retain(|_, e| !e.set.is_empty());
    Ok(cmp)
}

/// The field-manager `Update` chain (managedFieldsUpdater + stripMeta + Updater.Update).
fn tracked_update(
    live: &Value,
    new: &Value,
    managed: &mut Managed,
    entry: Entry,
    schema: &MergeSchema,
    now: &str,
    ignored: &FieldSet,
) -> Result<(), PatchError> {
    const CURRENT: &str = "current-operation";
    let id = identifier(
        &entry.manager,
        &entry.operation,
        &entry.api_version,
        &entry.subresource,
    );
    let cmp = smd_update(live, new, managed, CURRENT, true, &schema.root, ignored)?;
    let mut set = cmp.modified.union(&cmp.added);
    set = set.recursive_difference(ignored);
    set = set.difference(&strip_set());
    if set.is_empty() {
        return Ok(());
    }
    let previous = managed.remove(&id).map(|e| e.set).unwrap_or_default();
    managed.insert(
        id,
        Entry {
            set: set.union(&previous),
            time: Some(normalize_time(now)),
            ..entry
        },
    );
    Ok(())
}

const MAX_UPDATE_MANAGERS: usize = 10;

/// `capManagersManager.capUpdateManagers`.
fn cap_update_managers(m: &mut Managed) {
    let mut updaters: Vec<String> = m
        .iter()
        .filter(|(_, e)| !e.applied())
        .map(|(id, _)| id.clone())
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    let secs = |m: &Managed, id: &str| m[id].time.as_deref().and_then(rfc3339_seconds).unwrap_or(0);
    updaters.sort_by(|a, b| secs(m, a).cmp(&secs(m, b)).then_with(|| a.cmp(b)));
    let mut first_by_version: BTreeMap<String, String> = BTreeMap::new();
    let mut length = updaters.len();
    for id in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(e) = m.get(&id).cloned() else {
            continue;
        };
        let bucket = identifier("ancient-changes", "Update", &e.api_version, "");
        if let Some(first) = first_by_version.get(&e.api_version) {
            if !m.contains_key(&bucket)
                && let Some(f) = m.remove(first)
            {
                m.insert(
                    bucket.clone(),
                    Entry {
                        manager: "ancient-changes".into(),
                        operation: "Update".into(),
                        subresource: String::new(),
                        ..f
                    },
                );
            }
            if let Some(b) = m.get_mut(&bucket) {
                b.set = e.set.union(&b.set);
                b.time = e.time.clone();
            }
            if id != bucket {
                m.remove(&id);
            }
            length -= 1;
        } else {
            first_by_version.insert(e.api_version.clone(), id);
        }
    }
}

fn metadata_str<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get("metadata")?.get(k)?.as_str()
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

fn set_managed_fields(v: &mut Value, managed: &Managed) {
    let encoded = encode_managed(managed);
    let Some(o) = v.as_object_mut() else { return };
    match encoded {
        Some(e) => {
            let meta = o
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(m) = meta.as_object_mut() {
                m.insert("managedFields".into(), e);
            }
        }
        None => {
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
        }
    }
}

/// `isResetManagedFields`: `[]` or `[{}]`.
fn is_reset(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Array(a)) => {
            a.is_empty() || (a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty))
        }
        _ => false,
    }
}

fn gv_kind_string(api_version: &str, kind: &str) -> String {
    // schema.GroupVersionKind.String(): "group/version, Kind=kind" ("/v1, Kind=Secret").
    let (g, v) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    format!("{g}/{v}, Kind={kind}")
}

pub(crate) fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    schema: &MergeSchema,
    now: &str,
    subresource: Option<&str>,
) -> Result<Value, PatchError> {
    let Some(cfg) = applied.as_object() else {
        return Err(PatchError::BadRequest(
            "error decoding YAML: the apply configuration must be an object".into(),
        ));
    };
    let cfg_api_version = cfg.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let cfg_kind = cfg.get("kind").and_then(Value::as_str).unwrap_or("");
    let expected = schema.gvk.clone().or_else(|| {
        live.map(|l| {
            (
                l.get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                l.get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        })
    });
    if let Some((av, k)) = &expected
        && (av != cfg_api_version || k != cfg_kind)
    {
        return Err(PatchError::BadRequest(format!(
            "invalid object type: {}",
            gv_kind_string(cfg_api_version, cfg_kind)
        )));
    }
    if matches!(
        applied.pointer("/metadata/managedFields"),
        Some(Value::Array(_))
    ) {
        return Err(PatchError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    if manager.is_empty() {
        return Err(PatchError::Invalid(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
                .into(),
        ));
    }
    if let Some(l) = live {
        check_name(applied, l)?;
    }
    let sub = subresource.unwrap_or("");
    let api_version = cfg_api_version.to_string();
    let live_obj = live
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let mut managed = decode_managed(live.and_then(|l| l.pointer("/metadata/managedFields")))
        .map_err(|e| PatchError::Internal(format!("failed to decode managed fields: {e}")))?;
    let config = without_managed_fields(applied);
    let mut path = Vec::new();
    validate_typed(&config, &schema.root, &mut path).map_err(|e| {
        PatchError::Internal(format!(
            "failed to create typed patch object ({}/{}; {}): {e}",
            metadata_str(applied, "namespace").unwrap_or(""),
            metadata_str(applied, "name").unwrap_or(""),
            gv_kind_string(cfg_api_version, cfg_kind)
        ))
    })?;
    let ignored = ignored_fields(schema, subresource);

    // skipNonApplied: an object without managed fields gets its current fields assigned to
    // `before-first-apply` first.
    if managed.is_empty() {
        tracked_update(
            &Value::Object(Map::new()),
            &live_obj,
            &mut managed,
            Entry {
                manager: "before-first-apply".into(),
                operation: "Update".into(),
                api_version: api_version.clone(),
                subresource: sub.to_string(),
                time: None,
                set: FieldSet::new(),
            },
            schema,
            now,
            &ignored,
        )?;
    }

    // Updater.Apply
    let root = &schema.root;
    let merged = merge(&live_obj, &config, root)
        .map_err(|e| PatchError::Internal(format!("failed to merge config: {e}")))?;
    let id = identifier(manager, "Apply", "", sub);
    let last = managed.get(&id).map(|e| e.set.clone());
    let previous_time = managed.get(&id).and_then(|e| e.time.clone());
    let set = to_field_set(&config, root).recursive_difference(&ignored);
    managed.insert(
        id.clone(),
        Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.clone(),
            subresource: sub.to_string(),
            time: previous_time,
            set,
        },
    );
    let mut new_obj = match last {
        Some(last) if !last.is_empty() => prune(&merged, &managed, &last, root),
        _ => merged.clone(),
    };
    smd_update(
        &live_obj,
        &new_obj,
        &mut managed,
        &id,
        force,
        root,
        &ignored,
    )?;
    drop_removal_nulls(&mut new_obj, &merged);
    strip_meta(&mut managed, &id);
    if !json_eq(&live_obj, &new_obj)
        && let Some(e) = managed.get_mut(&id)
    {
        e.time = Some(normalize_time(now));
    }
    cap_update_managers(&mut managed);
    set_managed_fields(&mut new_obj, &managed);
    Ok(new_obj)
}

/// `Updater.prune` with `addBackOwnedItems` and `addBackDanglingItems`.
fn prune(merged: &Value, managed: &Managed, last: &FieldSet, root: &Node) -> Value {
    let pruned = remove_items(merged, &ensure_named(last, root), root);
    let mut all = FieldSet::new();
    for e in managed.values() {
        all = all.union(&e.set);
    }
    let merged_set = ensure_named(&to_field_set(merged, root), root);
    let pruned_set = ensure_named(&to_field_set(&pruned, root), root);
    let pruned = remove_items(
        merged,
        &merged_set.difference(&pruned_set.union(&ensure_named(&all, root))),
        root,
    );
    let pruned_set = ensure_named(&to_field_set(&pruned, root), root);
    let last = ensure_named(last, root);
    remove_items(
        merged,
        &merged_set.difference(&pruned_set).intersection(&last),
        root,
    )
}

fn check_name(applied: &Value, live: &Value) -> Result<(), PatchError> {
    let live_name = metadata_str(live, "name").unwrap_or("");
    if let Some(n) = metadata_str(applied, "name")
        && n != live_name
    {
        return Err(PatchError::BadRequest(format!(
            "the name of the object ({n}) does not match the name on the URL ({live_name})"
        )));
    }
    let live_ns = metadata_str(live, "namespace").unwrap_or("");
    if let Some(ns) = metadata_str(applied, "namespace")
        && !ns.is_empty()
        && !live_ns.is_empty()
        && ns != live_ns
    {
        return Err(PatchError::BadRequest(format!(
            "the namespace of the object ({ns}) does not match the namespace on the URL ({live_ns})"
        )));
    }
    Ok(())
}

pub(crate) fn track_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    schema: &MergeSchema,
    now: &str,
    subresource: Option<&str>,
) -> Value {
    let live_mf = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let new_mf = new.pointer("/metadata/managedFields");
    // decodeLiveOrNew
    let mut managed = if subresource.is_some() {
        decode_managed(live_mf).unwrap_or_default()
    } else if is_reset(new_mf) {
        Managed::new()
    } else {
        match decode_managed(new_mf) {
            Ok(m) if !m.is_empty() => m,
            _ => decode_managed(live_mf).unwrap_or_default(),
        }
    };
    let live_obj = old
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let mut out = without_managed_fields(new);
    // skipNonApplied: an existing object without managed fields stays untracked.
    let existing = old.is_some_and(|o| metadata_str(o, "uid").is_some_and(|u| !u.is_empty()));
    if managed.is_empty() && existing {
        return out;
    }
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .or_else(|| schema.gvk.as_ref().map(|g| g.0.as_str()))
        .unwrap_or("")
        .to_string();
    let ignored = ignored_fields(schema, subresource);
    let before = managed.clone();
    let entry = Entry {
        manager: manager.to_string(),
        operation: "Update".into(),
        api_version,
        subresource: subresource.unwrap_or("").to_string(),
        time: None,
        set: FieldSet::new(),
    };
    match tracked_update(&live_obj, &out, &mut managed, entry, schema, now, &ignored) {
        Ok(()) => {
            cap_update_managers(&mut managed);
            set_managed_fields(&mut out, &managed);
        }
        // UpdateNoErrors: keep the previous managed fields.
        Err(_) => set_managed_fields(&mut out, &before),
    }
    out
}

/// `prefixFromUserAgent`.
pub(crate) fn default_manager(user_agent: Option<&str>) -> String {
    const MAX: usize = 128;
    let prefix = user_agent.unwrap_or("").split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in prefix.chars() {
        let printable = c == ' ' || !(c.is_control() || c.is_whitespace());
        if !printable {
            continue;
        }
        if out.len() + c.len_utf8() > MAX {
            break;
        }
        out.push(c);
    }
    out
}
