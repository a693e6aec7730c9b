//! Field paths and field sets, as in `sigs.k8s.io/structured-merge-diff/v6/fieldpath`, plus the
//! `FieldsV1` wire format of `metadata.managedFields[].fieldsV1`.
//!
//! A [`FieldSet`] is a set of paths. A path is "a member" of the set when the set owns it; the
//! prefixes of members are only children (they appear as nested objects in `fieldsV1`, with a `.`
//! key when the prefix itself is a member too).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// A scalar (or, rarely, composite) JSON value with a total order, used inside key and value
/// path elements.
#[derive(Clone, Debug)]
pub(crate) struct KeyValue(pub Value);

fn value_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Number(_) => 1,
        Value::String(_) => 2,
        Value::Bool(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

impl Ord for KeyValue {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.0, &other.0);
        match value_rank(a).cmp(&value_rank(b)) {
            Ordering::Equal => {}
            o => return o,
        }
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                    return x.cmp(&y);
                }
                let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                x.total_cmp(&y)
            }
            (Value::String(x), Value::String(y)) => x.cmp(y),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Null, Value::Null) => Ordering::Equal,
            _ => a.to_string().cmp(&b.to_string()),
        }
    }
}
impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for KeyValue {}

/// One step of a field path.
///
/// The variant order gives the same ordering as structured-merge-diff's `PathElement.Compare`:
/// field names, then keys, then values, then indexes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PathElement {
    /// `f:<name>`: a field of a struct or a key of a map.
    Field(String),
    /// `k:{...}`: an item of an associative list, by its key fields (sorted by name).
    Key(Vec<(String, KeyValue)>),
    /// `v:<json>`: an item of a set list.
    Value(KeyValue),
    /// `i:<n>`: an item of a list by index (only ever read, never produced here).
    Index(i64),
}

/// Go's `value.ToString` (used by `PathElement.String()` in conflict messages).
fn go_value_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_value_string).collect::<Vec<_>>().join(",")
        ),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", go_value_string(v)))
            .collect::<Vec<_>>()
            .join(""),
    }
}

/// JSON as Go's `encoding/json` (and jsoniter's standard-library-compatible mode) writes it: compact,
/// with `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub(crate) fn go_json(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if !s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return s;
    }
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

impl PathElement {
    /// The element as printed in conflict messages (`.data.foo`, `[name="x"]`, `[="v"]`).
    pub(crate) fn display(&self) -> String {
        match self {
            PathElement::Field(f) => format!(".{f}"),
            PathElement::Key(fields) => format!(
                "[{}]",
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", go_value_string(&v.0)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            PathElement::Value(v) => format!("[={}]", go_value_string(&v.0)),
            PathElement::Index(i) => format!("[{i}]"),
        }
    }

    /// The element as a `fieldsV1` key (`f:name`, `k:{"name":"x"}`, `v:"x"`, `i:0`).
    pub(crate) fn to_fields_key(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(fields) => {
                let mut s = String::from("k:{");
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(&go_json(&Value::String(k.clone())));
                    s.push(':');
                    s.push_str(&go_json(&v.0));
                }
                s.push('}');
                s
            }
            PathElement::Value(v) => format!("v:{}", go_json(&v.0)),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `fieldsV1` key.
    pub(crate) fn from_fields_key(s: &str) -> Result<PathElement, String> {
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("missing colon: {s}"))?;
        match kind {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "v" => {
                let v: Value = serde_json::from_str(rest).map_err(|e| e.to_string())?;
                Ok(PathElement::Value(KeyValue(v)))
            }
            "k" => {
                let v: Map<String, Value> =
                    serde_json::from_str(rest).map_err(|e| e.to_string())?;
                let mut fields: Vec<(String, KeyValue)> =
                    v.into_iter().map(|(k, v)| (k, KeyValue(v))).collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(PathElement::Key(fields))
            }
            "i" => rest
                .parse::<i64>()
                .map(PathElement::Index)
                .map_err(|e| e.to_string()),
            _ => Err("unknown path element type".into()),
        }
    }
}

/// A field path.
pub(crate) type Path = Vec<PathElement>;

/// Prints a path as structured-merge-diff does (`.spec.containers[name="a"].image`).
pub(crate) fn path_string(p: &[PathElement]) -> String {
    p.iter().map(PathElement::display).collect()
}

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    paths: BTreeSet<Path>,
}

#[derive(Default)]
struct Trie {
    member: bool,
    children: BTreeMap<PathElement, Trie>,
}

impl Trie {
    fn insert(&mut self, p: &[PathElement]) {
        match p.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// structured-merge-diff's `Set.Iterate`: the members of a level first, then each child.
    fn iterate(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for (pe, child) in &self.children {
            if child.member {
                prefix.push(pe.clone());
                out.push(prefix.clone());
                prefix.pop();
            }
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.iterate(prefix, out);
            prefix.pop();
        }
    }

    fn to_fields(&self) -> Value {
        let mut m = Map::new();
        for (pe, child) in &self.children {
            let mut inner = match child.to_fields() {
                Value::Object(o) => o,
                _ => Map::new(),
            };
            if child.member && !child.children.is_empty() {
                inner.insert(".".into(), Value::Object(Map::new()));
            }
            m.insert(pe.to_fields_key(), Value::Object(inner));
        }
        Value::Object(m)
    }
}

impl FieldSet {
    pub(crate) fn new() -> FieldSet {
        FieldSet::default()
    }

    pub(crate) fn insert(&mut self, p: Path) {
        self.paths.insert(p);
    }

    pub(crate) fn has(&self, p: &[PathElement]) -> bool {
        self.paths.contains(p)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.paths.len()
    }

    pub(crate) fn paths(&self) -> impl Iterator<Item = &Path> {
        self.paths.iter()
    }

    pub(crate) fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.union(&other.paths).cloned().collect(),
        }
    }

    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.difference(&other.paths).cloned().collect(),
        }
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.intersection(&other.paths).cloned().collect(),
        }
    }

    /// Removes every path that is, or lies under, a member of `other`.
    pub(crate) fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self
                .paths
                .iter()
                .filter(|p| !(1..=p.len()).any(|n| other.paths.contains(&p[..n])))
                .cloned()
                .collect(),
        }
    }

    /// The paths under `pe`, with `pe` stripped (`Set.WithPrefix`).
    pub(crate) fn with_prefix(&self, pe: &PathElement) -> FieldSet {
        FieldSet {
            paths: self
                .paths
                .iter()
                .filter(|p| p.len() > 1 && &p[0] == pe)
                .map(|p| p[1..].to_vec())
                .collect(),
        }
    }

    /// True when some path strictly under `pe` is in the set.
    pub(crate) fn has_under(&self, pe: &PathElement) -> bool {
        self.paths.iter().any(|p| p.len() > 1 && &p[0] == pe)
    }

    /// The paths in structured-merge-diff's iteration order.
    pub(crate) fn iter_ordered(&self) -> Vec<Path> {
        let t = self.trie();
        let mut out = Vec::with_capacity(self.paths.len());
        let mut prefix = Vec::new();
        t.iterate(&mut prefix, &mut out);
        out
    }

    fn trie(&self) -> Trie {
        let mut t = Trie::default();
        for p in &self.paths {
            t.insert(p);
        }
        t
    }

    /// Encodes the set in the `FieldsV1` format.
    pub(crate) fn to_fields_v1(&self) -> Value {
        self.trie().to_fields()
    }

    /// Decodes a `FieldsV1` object.
    pub(crate) fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        fn walk(v: &Value, prefix: &mut Path, out: &mut FieldSet) -> Result<(), String> {
            let m = v
                .as_object()
                .ok_or_else(|| "FieldsV1 must be an object".to_string())?;
            if prefix.is_empty() && m.is_empty() {
                return Ok(());
            }
            if m.is_empty() {
                out.insert(prefix.clone());
                return Ok(());
            }
            for (k, child) in m {
                if k == "." {
                    if !prefix.is_empty() {
                        out.insert(prefix.clone());
                    }
                    continue;
                }
                prefix.push(PathElement::from_fields_key(k)?);
                walk(child, prefix, out)?;
                prefix.pop();
            }
            Ok(())
        }
        let mut out = FieldSet::new();
        walk(v, &mut Vec::new(), &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(s: &str) -> PathElement {
        PathElement::Field(s.into())
    }

    #[test]
    fn fields_v1_round_trip_with_dot_members() {
        // Shape taken from a real Deployment's managedFields entry (kubectl create):
        // the list item is a member itself (".") and has members below it.
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}},
            "f:finalizers": {"v:\"a/b\"": {}}
        });
        let s = FieldSet::from_fields_v1(&v).unwrap();
        assert!(s.has(&[f("metadata"), f("labels")]));
        assert!(s.has(&[f("metadata"), f("labels"), f("app")]));
        assert!(!s.has(&[f("metadata")]));
        let key = PathElement::Key(vec![("name".into(), KeyValue(json!("nginx")))]);
        assert!(s.has(&[
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            key.clone()
        ]));
        assert_eq!(s.to_fields_v1(), v);
        assert_eq!(
            path_string(&[f("spec"), f("containers"), key, f("image")]),
            ".spec.containers[name=\"nginx\"].image"
        );
    }

    #[test]
    fn key_serialization_is_sorted_and_go_escaped() {
        let pe = PathElement::Key(vec![
            ("containerPort".into(), KeyValue(json!(80))),
            ("protocol".into(), KeyValue(json!("TCP"))),
        ]);
        assert_eq!(
            pe.to_fields_key(),
            r#"k:{"containerPort":80,"protocol":"TCP"}"#
        );
        assert_eq!(pe.display(), r#"[containerPort=80,protocol="TCP"]"#);
        let v = PathElement::Value(KeyValue(json!("a<b")));
        assert_eq!(v.to_fields_key(), r#"v:"a\u003cb""#);
        assert_eq!(
            PathElement::from_fields_key(r#"k:{"protocol":"TCP","containerPort":80}"#).unwrap(),
            pe
        );
    }

    #[test]
    fn iteration_lists_members_of_a_level_before_children() {
        let mut s = FieldSet::new();
        s.insert(vec![f("data"), f("a")]);
        s.insert(vec![f("type")]);
        s.insert(vec![f("spec"), f("x")]);
        let got: Vec<String> = s.iter_ordered().iter().map(|p| path_string(p)).collect();
        assert_eq!(got, vec![".type", ".data.a", ".spec.x"]);
    }

    #[test]
    fn recursive_difference_drops_children() {
        let mut s = FieldSet::new();
        s.insert(vec![f("status"), f("x")]);
        s.insert(vec![f("spec"), f("x")]);
        let mut ign = FieldSet::new();
        ign.insert(vec![f("status")]);
        let r = s.recursive_difference(&ign);
        assert_eq!(r.len(), 1);
        assert!(r.has(&[f("spec"), f("x")]));
    }
}
