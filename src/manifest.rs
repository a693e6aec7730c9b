//! Kubernetes manifests read from files, directories or standard input, as `kubectl apply -f`
//! reads them: multi-document YAML (Helm and Kustomize output included), JSON, and `kind: List`.
//! Each object keeps where it came from — file, and the line of every field — so that tools
//! reporting on manifests (`stagesync check`) can point at the line to fix.
//!
//! Parsing is `serde-saphyr` (already in the tree through kube) with its YAML 1.1 scalars, as
//! sigs.k8s.io/yaml resolves them (`yes`, `on` are booleans); a duplicate mapping key is an
//! error, as kubectl's strict decoding makes it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// Why manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path as given or found.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One input: its name (a path, or `-` for standard input) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The path as it should be shown to the user.
    pub name: String,
    /// The whole text.
    pub text: String,
}

/// Reads `paths`: files, directories (recursively, `.yaml`, `.yml` and `.json` files in name
/// order, hidden entries skipped) and `-` for standard input.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, ManifestError> {
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| ManifestError::Io {
                    path: "-".into(),
                    source,
                })?;
            out.push(Source {
                name: "-".into(),
                text,
            });
        } else {
            read_path(path, true, &mut out)?;
        }
    }
    Ok(out)
}

fn read_path(path: &Path, given: bool, out: &mut Vec<Source>) -> Result<(), ManifestError> {
    let io = |source| ManifestError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        for entry in entries {
            read_path(&entry, false, out)?;
        }
        return Ok(());
    }
    let wanted = path
        .extension()
        .is_some_and(|e| matches!(e.to_str(), Some("yaml" | "yml" | "json")));
    // A file named on the command line is read whatever its extension; in a directory only
    // manifest files are.
    if given || wanted {
        let text = std::fs::read_to_string(path).map_err(io)?;
        out.push(Source {
            name: path.display().to_string(),
            text,
        });
    }
    Ok(())
}

/// One object of a manifest, with where each of its fields is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The source's name.
    pub file: String,
    /// Line (1-based) where the object starts.
    pub line: u64,
    /// The object as JSON.
    pub object: Value,
    /// Line of each field, by its path as the API server names fields (`spec.data[0].key`).
    lines: BTreeMap<String, u64>,
}

impl Manifest {
    /// The line of a field path (`spec.data[0].remoteRef.key`): the field's own line, or the
    /// line of its nearest written parent, or the object's line.
    pub fn line_of(&self, field: &str) -> u64 {
        let mut path = field;
        loop {
            if let Some(line) = self.lines.get(path) {
                return *line;
            }
            match path.rfind(['.', '[']) {
                Some(i) => path = &path[..i],
                None => return self.line,
            }
        }
    }

    /// `apiVersion` of the object.
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }

    /// `kind` of the object.
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    /// `metadata.name` of the object.
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// `metadata.namespace` of the object, if written.
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
    }
}

/// A source that is not valid YAML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseProblem {
    /// The source's name.
    pub file: String,
    /// Line of the problem, when the parser knows it.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Parses every document of a source; a source that does not parse yields one problem and no
/// manifests (its documents cannot be told apart reliably). Empty documents are skipped, and
/// the items of a `kind: List` become manifests of their own.
pub fn parse(source: &Source) -> Result<Vec<Manifest>, ParseProblem> {
    let docs: Vec<Spanned<Node>> = serde_saphyr::from_multiple(&source.text).map_err(|e| {
        let location = e.location();
        ParseProblem {
            file: source.name.clone(),
            line: location.map(|l| l.line()).unwrap_or(0),
            message: first_line(&e.to_string()),
        }
    })?;
    let mut out = Vec::new();
    for doc in docs {
        let line = doc.referenced.line();
        let mut lines = BTreeMap::new();
        let object = doc.value.into_json("", &mut lines);
        if object.is_null() {
            continue;
        }
        let is_list = object["kind"]
            .as_str()
            .is_some_and(|k| k == "List" || k.ends_with("List"))
            && object["items"].is_array();
        if is_list {
            for (i, item) in object["items"].as_array().into_iter().flatten().enumerate() {
                let prefix = format!("items[{i}]");
                let item_lines: BTreeMap<String, u64> = lines
                    .iter()
                    .filter_map(|(k, v)| {
                        let rest = k.strip_prefix(&prefix)?;
                        let rest = rest.strip_prefix('.').unwrap_or(rest);
                        (rest.is_empty() || !rest.starts_with('[')).then(|| (rest.to_owned(), *v))
                    })
                    .collect();
                out.push(Manifest {
                    file: source.name.clone(),
                    line: lines.get(&prefix).copied().unwrap_or(line),
                    object: item.clone(),
                    lines: item_lines,
                });
            }
        } else {
            out.push(Manifest {
                file: source.name.clone(),
                line,
                object,
                lines,
            });
        }
    }
    Ok(out)
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().to_owned()
}

/// A YAML node with the positions of its children.
#[derive(Debug)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    /// Entries with the line of their key.
    Map(Vec<(String, u64, Spanned<Node>)>),
}

impl Node {
    fn into_json(self, path: &str, lines: &mut BTreeMap<String, u64>) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Int(i) => Value::from(i),
            Node::Uint(u) => Value::from(u),
            Node::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s),
            Node::Seq(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let child = format!("{path}[{i}]");
                        lines.insert(child.clone(), item.referenced.line());
                        item.value.into_json(&child, lines)
                    })
                    .collect(),
            ),
            Node::Map(entries) => {
                let mut map = Map::new();
                for (key, key_line, value) in entries {
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    lines.insert(child.clone(), key_line);
                    map.insert(key, value.value.into_json(&child, lines));
                }
                Value::Object(map)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Uint(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        // `!!binary` scalars: Kubernetes' YAML-to-JSON conversion gives them as base64 text.
        use base64::Engine as _;
        Ok(Node::Str(
            base64::engine::general_purpose::STANDARD.encode(v),
        ))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, u64, Spanned<Node>)> = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let key_line = key.referenced.line();
            let key = match key.value {
                Node::Str(s) => s,
                Node::Bool(b) => b.to_string(),
                Node::Int(i) => i.to_string(),
                Node::Uint(u) => u.to_string(),
                Node::Float(f) => f.to_string(),
                Node::Null => "null".to_owned(),
                Node::Seq(_) | Node::Map(_) => {
                    return Err(de::Error::custom("a mapping key must be a scalar"));
                }
            };
            let value = map.next_value::<Spanned<Node>>()?;
            if entries.iter().any(|(k, _, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            entries.push((key, key_line, value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Vec<Manifest> {
        parse(&Source {
            name: "m.yaml".into(),
            text: text.into(),
        })
        .expect("parses")
    }

    #[test]
    fn documents_objects_and_field_lines() {
        let text = "\
# Source: chart/templates/es.yaml
apiVersion: stagesync.io/v1alpha1
kind: ExternalSecret
metadata:
  name: a
spec:
  data:
    - secretKey: k
      remoteRef:
        key: db
---
---
apiVersion: v1
kind: Secret
metadata: {name: b, namespace: team-a}
";
        let m = parse_text(text);
        assert_eq!(m.len(), 2, "the empty document is skipped");
        assert_eq!(
            (m[0].kind(), m[0].name(), m[0].namespace()),
            ("ExternalSecret", "a", None)
        );
        assert_eq!(m[0].line_of("spec.data[0].remoteRef.key"), 10);
        assert_eq!(m[0].line_of("spec.data[0].secretKey"), 8);
        // A field that is not written points at its nearest written parent.
        assert_eq!(m[0].line_of("spec.data[0].remoteRef.property"), 9);
        assert_eq!(m[0].line_of("spec.refreshInterval"), 6);
        assert_eq!(m[1].namespace(), Some("team-a"));
        assert_eq!(m[1].line_of("metadata.name"), 15);
    }

    #[test]
    fn yaml_one_one_scalars_as_kubernetes_reads_them() {
        let m = parse_text("a: yes\nb: n\nc: 1.5\nd: ~\ne: '1'\nf: 12\n");
        let o = &m[0].object;
        assert_eq!(o["a"], Value::Bool(true));
        assert_eq!(o["b"], Value::Bool(false), "go-yaml v2 reads n as false");
        assert_eq!(o["c"], serde_json::json!(1.5));
        assert_eq!(o["d"], Value::Null);
        assert_eq!(o["e"], Value::String("1".into()));
        assert_eq!(o["f"], serde_json::json!(12));
    }

    #[test]
    fn list_items_become_manifests_with_their_own_lines() {
        let text = "\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: one
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: two
";
        let m = parse_text(text);
        assert_eq!(
            m.iter().map(Manifest::name).collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert_eq!(m[1].line, 8);
        assert_eq!(m[1].line_of("metadata.name"), 11);
    }

    #[test]
    fn invalid_yaml_and_duplicate_keys_are_problems_with_a_line() {
        let bad = parse(&Source {
            name: "bad.yaml".into(),
            text: "a: 1\nb: [unclosed\n".into(),
        })
        .unwrap_err();
        assert_eq!(bad.file, "bad.yaml");
        assert!(bad.line >= 2, "{bad:?}");
        let dup = parse(&Source {
            name: "dup.yaml".into(),
            text: "metadata:\n  name: a\n  name: b\n".into(),
        })
        .unwrap_err();
        assert!(dup.message.contains("duplicate"), "{dup:?}");
    }

    #[test]
    fn directories_are_read_recursively_in_order() {
        let dir = std::env::temp_dir().join(format!("stagesync-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("b.yaml"), "kind: B\n").unwrap();
        std::fs::write(dir.join("sub/a.yml"), "kind: A\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
        std::fs::write(dir.join(".hidden.yaml"), "kind: H\n").unwrap();
        let sources = read_sources(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<_> = sources
            .iter()
            .map(|s| {
                s.name
                    .strip_prefix(&*dir.to_string_lossy())
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, ["/b.yaml", "/sub/a.yml"]);
        let missing = read_sources(&[dir.join("nope.yaml")]).unwrap_err();
        assert!(missing.to_string().contains("nope.yaml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
