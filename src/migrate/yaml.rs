//! A YAML stream read as documents of nodes that know where they are in the text (byte spans,
//! line and column), so that a translation can rewrite a few bytes and leave every other byte as
//! the user wrote it. Events come from `granit-parser`, the parser `serde-saphyr` is built on
//! (re-exported by it); plain scalars resolve as sigs.k8s.io/yaml resolves them (YAML 1.1:
//! `yes`/`on` are booleans), which only matters for the JSON view the checks read.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, StructureStyle};

/// Why a text is not YAML.
#[derive(Debug, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem.
    pub column: usize,
    /// What the parser said.
    pub message: String,
}

/// One node with its place in the source.
#[derive(Clone, Debug)]
pub struct Node {
    /// What the node holds.
    pub value: NodeValue,
    /// Byte offset where the node's text starts (a block collection: its first key or `-`).
    pub start: usize,
    /// Byte offset just past the node's text (a block collection: past its last descendant).
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// 0-based column of `start`, in characters.
    pub column: usize,
    /// The anchor this node defines (0: none).
    pub anchor: usize,
}

/// The content of a node.
#[derive(Clone, Debug)]
pub enum NodeValue {
    /// A scalar: its value after escapes, and how it was written.
    Scalar {
        /// The value.
        text: String,
        /// Plain, quoted or block.
        style: ScalarStyle,
        /// Tagged `!!str`: a string whatever it looks like.
        forced_string: bool,
    },
    /// A sequence.
    Seq {
        /// The items.
        items: Vec<Node>,
        /// `[a, b]` rather than `- a` lines.
        flow: bool,
    },
    /// A mapping, in source order.
    Map {
        /// The entries.
        entries: Vec<Entry>,
        /// `{a: b}` rather than `a: b` lines.
        flow: bool,
    },
    /// `*name`: the node with that anchor id.
    Alias(usize),
}

/// One `key: value` of a mapping.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The key node (a scalar in any manifest).
    pub key: Node,
    /// The value node.
    pub value: Node,
}

/// One document of a stream.
#[derive(Clone, Debug)]
pub struct Document {
    /// The root node; `None` for an empty document.
    pub root: Option<Node>,
}

impl Node {
    /// The scalar's text, if it is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The entries, if it is a mapping.
    pub fn entries(&self) -> &[Entry] {
        match &self.value {
            NodeValue::Map { entries, .. } => entries,
            _ => &[],
        }
    }

    /// The items, if it is a sequence.
    pub fn items(&self) -> &[Node] {
        match &self.value {
            NodeValue::Seq { items, .. } => items,
            _ => &[],
        }
    }

    /// The entry whose key is `key`, if this is a mapping that has one.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries().iter().find(|e| e.key.as_str() == Some(key))
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The value at a path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |node, key| node.get(key))
    }

    /// Whether this is a block (not flow) mapping.
    pub fn is_block_map(&self) -> bool {
        matches!(self.value, NodeValue::Map { flow: false, .. })
    }

    /// Whether this is a flow mapping (`{...}`).
    pub fn is_flow_map(&self) -> bool {
        matches!(self.value, NodeValue::Map { flow: true, .. })
    }

    /// The scalar's style, if it is a scalar.
    pub fn style(&self) -> Option<ScalarStyle> {
        match &self.value {
            NodeValue::Scalar { style, .. } => Some(*style),
            _ => None,
        }
    }
}

/// Parses a whole stream.
pub fn parse(text: &str) -> Result<Vec<Document>, ParseError> {
    let mut builder = Builder {
        stack: Vec::new(),
        documents: Vec::new(),
        root: None,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| ParseError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info(),
        })?;
        let start = span.start.byte_offset().unwrap_or(0);
        let end = span.end.byte_offset().unwrap_or(start);
        let here = Place {
            start,
            end,
            line: span.start.line(),
            column: span.start.col(),
        };
        builder.event(event, here);
    }
    Ok(builder.documents)
}

#[derive(Clone, Copy)]
struct Place {
    start: usize,
    end: usize,
    line: usize,
    column: usize,
}

/// A collection being read: its node so far, and for mappings a key waiting for its value.
struct Open {
    node: Node,
    pending_key: Option<Node>,
}

struct Builder {
    stack: Vec<Open>,
    documents: Vec<Document>,
    root: Option<Node>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, at: Place) {
        match event {
            Event::DocumentStart(..) => self.root = None,
            Event::DocumentEnd => self.documents.push(Document {
                root: self.root.take(),
            }),
            Event::Scalar(text, style, anchor, tag) => {
                let forced_string =
                    tag.is_some_and(|t| t.handle() == "tag:yaml.org,2002:" && t.suffix() == "str");
                self.add(Node {
                    value: NodeValue::Scalar {
                        text: text.into_owned(),
                        style,
                        forced_string,
                    },
                    start: at.start,
                    end: at.end,
                    line: at.line,
                    column: at.column,
                    anchor,
                })
            }
            Event::Alias(id) => self.add(Node {
                value: NodeValue::Alias(id),
                start: at.start,
                end: at.end,
                line: at.line,
                column: at.column,
                anchor: 0,
            }),
            Event::SequenceStart(style, anchor, _) => self.open(
                NodeValue::Seq {
                    items: Vec::new(),
                    flow: style == StructureStyle::Flow,
                },
                at,
                anchor,
            ),
            Event::MappingStart(style, anchor, _) => self.open(
                NodeValue::Map {
                    entries: Vec::new(),
                    flow: style == StructureStyle::Flow,
                },
                at,
                anchor,
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else { return };
                let mut node = open.node;
                let flow = matches!(
                    node.value,
                    NodeValue::Seq { flow: true, .. } | NodeValue::Map { flow: true, .. }
                );
                node.end = if flow {
                    at.end
                } else {
                    last_end(&node).unwrap_or(node.start)
                };
                self.add(node);
            }
            // Stream markers, comments, anchors' metadata: nothing to keep (the text keeps them).
            _ => {}
        }
    }

    fn open(&mut self, value: NodeValue, at: Place, anchor: usize) {
        self.stack.push(Open {
            node: Node {
                value,
                start: at.start,
                end: at.end,
                line: at.line,
                column: at.column,
                anchor,
            },
            pending_key: None,
        });
    }

    fn add(&mut self, node: Node) {
        let Some(top) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut top.node.value {
            NodeValue::Seq { items, .. } => items.push(node),
            NodeValue::Map { entries, .. } => match top.pending_key.take() {
                None => top.pending_key = Some(node),
                Some(key) => entries.push(Entry { key, value: node }),
            },
            _ => {}
        }
    }
}

/// The end of a block collection's last descendant.
fn last_end(node: &Node) -> Option<usize> {
    match &node.value {
        NodeValue::Seq { items, .. } => items.last().map(|n| n.end),
        NodeValue::Map { entries, .. } => entries.last().map(|e| e.value.end),
        _ => Some(node.end),
    }
}

/// The JSON view of a node (aliases resolved against the anchors defined before them).
pub fn to_json(node: &Node) -> Value {
    let mut anchors = HashMap::new();
    json_of(node, &mut anchors)
}

fn json_of(node: &Node, anchors: &mut HashMap<usize, Value>) -> Value {
    let value = match &node.value {
        NodeValue::Scalar {
            text,
            style,
            forced_string,
        } => {
            if *style == ScalarStyle::Plain && !forced_string {
                resolve_plain(text)
            } else {
                Value::String(text.clone())
            }
        }
        NodeValue::Seq { items, .. } => {
            Value::Array(items.iter().map(|n| json_of(n, anchors)).collect())
        }
        NodeValue::Map { entries, .. } => {
            let mut map = Map::new();
            for e in entries {
                let key = match json_of(&e.key, anchors) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let value = json_of(&e.value, anchors);
                map.insert(key, value);
            }
            Value::Object(map)
        }
        NodeValue::Alias(id) => anchors.get(id).cloned().unwrap_or(Value::Null),
    };
    if node.anchor != 0 {
        anchors.insert(node.anchor, value.clone());
    }
    value
}

/// A plain scalar's value under YAML 1.1 rules, as sigs.k8s.io/yaml reads manifests.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            return Value::Bool(true);
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    let digits = text.replace('_', "");
    let (sign, unsigned) = match digits.strip_prefix('-') {
        Some(rest) => (-1i64, rest),
        None => (1, digits.strip_prefix('+').unwrap_or(&digits)),
    };
    let int = if let Some(hex) = unsigned.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = unsigned.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if unsigned.len() > 1
        && unsigned.starts_with('0')
        && unsigned.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(unsigned, 8).ok()
    } else if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        unsigned.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(n) = int {
        return Value::Number(Number::from(sign * n));
    }
    let looks_float = unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && unsigned.bytes().any(|b| b.is_ascii_digit())
        && unsigned.contains('.');
    if looks_float
        && let Ok(f) = digits.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const STREAM: &str = "# leading\napiVersion: v1  # trailing\nkind: Service\nmetadata:\n  name: web\n  annotations: {a: \"b\", c: d}\nspec:\n  ports:\n    - port: 80\n      name: http\n  text: |\n    line\n---\n---\nplain: yes\nquoted: \"yes\"\nnum: 010\nanchored: &x [1, 2]\nalias: *x\n";

    #[test]
    fn spans_point_at_the_source_text() {
        let docs = parse(STREAM).unwrap();
        assert_eq!(docs.len(), 3, "an empty document counts");
        let root = docs[0].root.as_ref().unwrap();
        let api = root.get("apiVersion").unwrap();
        assert_eq!(&STREAM[api.start..api.end], "v1");
        assert_eq!((api.line, api.column), (2, 12));
        let annotations = root.path(&["metadata", "annotations"]).unwrap();
        assert!(annotations.is_flow_map());
        assert_eq!(
            &STREAM[annotations.start..annotations.end],
            "{a: \"b\", c: d}"
        );
        let b = annotations.get("a").unwrap();
        assert_eq!(&STREAM[b.start..b.end], "\"b\"");
        assert_eq!(b.style(), Some(ScalarStyle::DoubleQuoted));
        let ports = root.path(&["spec", "ports"]).unwrap();
        assert_eq!(
            &STREAM[ports.start..ports.end],
            "- port: 80\n      name: http"
        );
        let metadata = root.get("metadata").unwrap();
        assert!(metadata.is_block_map());
        assert_eq!(
            &STREAM[metadata.start..metadata.end],
            "name: web\n  annotations: {a: \"b\", c: d}"
        );
        // An empty document is a null scalar.
        assert_eq!(to_json(docs[1].root.as_ref().unwrap()), Value::Null);
    }

    #[test]
    fn json_view_follows_yaml_1_1() {
        let docs = parse(STREAM).unwrap();
        let json = to_json(docs[2].root.as_ref().unwrap());
        assert_eq!(
            json,
            json!({"plain": true, "quoted": "yes", "num": 8, "anchored": [1, 2], "alias": [1, 2]})
        );
        assert_eq!(resolve_plain("1.5"), json!(1.5));
        assert_eq!(resolve_plain("1h"), json!("1h"));
        assert_eq!(resolve_plain("-3"), json!(-3));
        assert_eq!(resolve_plain("v1.2.3"), json!("v1.2.3"));
    }

    #[test]
    fn errors_say_where() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.line >= 1, "{err}");
        assert!(parse("a: b\n c: d: e\n").is_err());
    }
}
