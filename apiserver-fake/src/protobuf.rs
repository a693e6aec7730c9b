//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`:
//! the `k8s\0` magic + `runtime.Unknown` envelope) into JSON, for the kinds kubectl's
//! imperative generators send that way: ConfigMap, Secret, Namespace, ServiceAccount,
//! RBAC roles/bindings, and what `kubectl create token` / `kubectl auth can-i|whoami` send
//! (TokenRequest, the access/rules/self reviews, TokenReview). Field numbers follow the
//! upstream `generated.proto` files.

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    Int,
    Time,
    Msg(&'static [F]),
    MapStr,
    MapBytes,
    /// FieldsV1: raw JSON bytes.
    RawJson,
}

/// One message field: number, JSON name, type, repeated.
#[derive(Clone, Copy)]
struct F(u32, &'static str, Ty, bool);

const TIME_SECONDS: u32 = 1;

const OWNER_REF: &[F] = &[
    F(5, "apiVersion", Ty::Str, false),
    F(1, "kind", Ty::Str, false),
    F(3, "name", Ty::Str, false),
    F(4, "uid", Ty::Str, false),
    F(6, "controller", Ty::Bool, false),
    F(7, "blockOwnerDeletion", Ty::Bool, false),
];
const MANAGED_FIELDS: &[F] = &[
    F(1, "manager", Ty::Str, false),
    F(2, "operation", Ty::Str, false),
    F(3, "apiVersion", Ty::Str, false),
    F(4, "time", Ty::Time, false),
    F(6, "fieldsType", Ty::Str, false),
    F(7, "fieldsV1", Ty::RawJson, false),
    F(8, "subresource", Ty::Str, false),
];
const OBJECT_META: &[F] = &[
    F(1, "name", Ty::Str, false),
    F(2, "generateName", Ty::Str, false),
    F(3, "namespace", Ty::Str, false),
    F(4, "selfLink", Ty::Str, false),
    F(5, "uid", Ty::Str, false),
    F(6, "resourceVersion", Ty::Str, false),
    F(7, "generation", Ty::Int, false),
    F(8, "creationTimestamp", Ty::Time, false),
    F(9, "deletionTimestamp", Ty::Time, false),
    F(10, "deletionGracePeriodSeconds", Ty::Int, false),
    F(11, "labels", Ty::MapStr, false),
    F(12, "annotations", Ty::MapStr, false),
    F(13, "ownerReferences", Ty::Msg(OWNER_REF), true),
    F(14, "finalizers", Ty::Str, true),
    F(17, "managedFields", Ty::Msg(MANAGED_FIELDS), true),
];
const META: F = F(1, "metadata", Ty::Msg(OBJECT_META), false);
const CONFIG_MAP: &[F] = &[
    META,
    F(4, "immutable", Ty::Bool, false),
    F(2, "data", Ty::MapStr, false),
    F(3, "binaryData", Ty::MapBytes, false),
];
const SECRET: &[F] = &[
    META,
    F(5, "immutable", Ty::Bool, false),
    F(2, "data", Ty::MapBytes, false),
    F(4, "stringData", Ty::MapStr, false),
    F(3, "type", Ty::Str, false),
];
const NAMESPACE: &[F] = &[
    META,
    F(
        2,
        "spec",
        Ty::Msg(&[F(1, "finalizers", Ty::Str, true)]),
        false,
    ),
    F(
        3,
        "status",
        Ty::Msg(&[F(1, "phase", Ty::Str, false)]),
        false,
    ),
];
const OBJECT_REF: &[F] = &[
    F(1, "kind", Ty::Str, false),
    F(2, "namespace", Ty::Str, false),
    F(3, "name", Ty::Str, false),
    F(4, "uid", Ty::Str, false),
    F(5, "apiVersion", Ty::Str, false),
    F(6, "resourceVersion", Ty::Str, false),
    F(7, "fieldPath", Ty::Str, false),
];
const SERVICE_ACCOUNT: &[F] = &[
    META,
    F(2, "secrets", Ty::Msg(OBJECT_REF), true),
    F(
        3,
        "imagePullSecrets",
        Ty::Msg(&[F(1, "name", Ty::Str, false)]),
        true,
    ),
    F(4, "automountServiceAccountToken", Ty::Bool, false),
];
const POLICY_RULE: &[F] = &[
    F(1, "verbs", Ty::Str, true),
    F(2, "apiGroups", Ty::Str, true),
    F(3, "resources", Ty::Str, true),
    F(4, "resourceNames", Ty::Str, true),
    F(5, "nonResourceURLs", Ty::Str, true),
];
const ROLE: &[F] = &[META, F(2, "rules", Ty::Msg(POLICY_RULE), true)];
const BINDING: &[F] = &[
    META,
    F(
        2,
        "subjects",
        Ty::Msg(&[
            F(1, "kind", Ty::Str, false),
            F(2, "apiGroup", Ty::Str, false),
            F(3, "name", Ty::Str, false),
            F(4, "namespace", Ty::Str, false),
        ]),
        true,
    ),
    F(
        3,
        "roleRef",
        Ty::Msg(&[
            F(1, "apiGroup", Ty::Str, false),
            F(2, "kind", Ty::Str, false),
            F(3, "name", Ty::Str, false),
        ]),
        false,
    ),
];

const TOKEN_REQUEST: &[F] = &[
    META,
    F(
        2,
        "spec",
        Ty::Msg(&[
            F(1, "audiences", Ty::Str, true),
            F(4, "expirationSeconds", Ty::Int, false),
            F(
                3,
                "boundObjectRef",
                Ty::Msg(&[
                    F(1, "kind", Ty::Str, false),
                    F(2, "apiVersion", Ty::Str, false),
                    F(3, "name", Ty::Str, false),
                    F(4, "uid", Ty::Str, false),
                ]),
                false,
            ),
        ]),
        false,
    ),
];
const TOKEN_REVIEW: &[F] = &[
    META,
    F(
        2,
        "spec",
        Ty::Msg(&[
            F(1, "token", Ty::Str, false),
            F(2, "audiences", Ty::Str, true),
        ]),
        false,
    ),
];
const SELF_SUBJECT_REVIEW: &[F] = &[META];
const RESOURCE_ATTRIBUTES: &[F] = &[
    F(1, "namespace", Ty::Str, false),
    F(2, "verb", Ty::Str, false),
    F(3, "group", Ty::Str, false),
    F(4, "version", Ty::Str, false),
    F(5, "resource", Ty::Str, false),
    F(6, "subresource", Ty::Str, false),
    F(7, "name", Ty::Str, false),
];
const NON_RESOURCE_ATTRIBUTES: &[F] = &[F(1, "path", Ty::Str, false), F(2, "verb", Ty::Str, false)];
const SELF_SUBJECT_ACCESS_REVIEW: &[F] = &[
    META,
    F(
        2,
        "spec",
        Ty::Msg(&[
            F(1, "resourceAttributes", Ty::Msg(RESOURCE_ATTRIBUTES), false),
            F(
                2,
                "nonResourceAttributes",
                Ty::Msg(NON_RESOURCE_ATTRIBUTES),
                false,
            ),
        ]),
        false,
    ),
];
const SUBJECT_ACCESS_REVIEW: &[F] = &[
    META,
    F(
        2,
        "spec",
        Ty::Msg(&[
            F(1, "resourceAttributes", Ty::Msg(RESOURCE_ATTRIBUTES), false),
            F(
                2,
                "nonResourceAttributes",
                Ty::Msg(NON_RESOURCE_ATTRIBUTES),
                false,
            ),
            F(3, "user", Ty::Str, false),
            F(4, "groups", Ty::Str, true),
            F(6, "uid", Ty::Str, false),
        ]),
        false,
    ),
];
const SELF_SUBJECT_RULES_REVIEW: &[F] = &[
    META,
    F(
        2,
        "spec",
        Ty::Msg(&[F(1, "namespace", Ty::Str, false)]),
        false,
    ),
];

fn schema_for(group: &str, kind: &str) -> Option<&'static [F]> {
    Some(match (group, kind) {
        ("", "ConfigMap") => CONFIG_MAP,
        ("", "Secret") => SECRET,
        ("", "Namespace") => NAMESPACE,
        ("", "ServiceAccount") => SERVICE_ACCOUNT,
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => ROLE,
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => BINDING,
        ("authentication.k8s.io", "TokenRequest") => TOKEN_REQUEST,
        ("authentication.k8s.io", "TokenReview") => TOKEN_REVIEW,
        ("authentication.k8s.io", "SelfSubjectReview") => SELF_SUBJECT_REVIEW,
        ("authorization.k8s.io", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io", "SubjectAccessReview" | "LocalSubjectAccessReview") => {
            SUBJECT_ACCESS_REVIEW
        }
        ("authorization.k8s.io", "SelfSubjectRulesReview") => SELF_SUBJECT_RULES_REVIEW,
        _ => return None,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let num = (key >> 3) as u32;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            2 => {
                let len = self.varint()? as usize;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or("truncated field")?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Wire::Bytes(b)
            }
            1 => {
                self.pos += 8;
                Wire::Fixed
            }
            5 => {
                self.pos += 4;
                Wire::Fixed
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        Ok(Some((num, wire)))
    }
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| e.to_string())
}

fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), String> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((num, w)) = r.next()? {
        if let Wire::Bytes(b) = w {
            match num {
                1 => k = utf8(b)?,
                2 if bytes_value => v = json!(base64::engine::general_purpose::STANDARD.encode(b)),
                2 => v = json!(utf8(b)?),
                _ => {}
            }
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Value, String> {
    let mut r = Reader::new(b);
    let mut secs = 0i64;
    while let Some((num, w)) = r.next()? {
        if let (TIME_SECONDS, Wire::Varint(v)) = (num, w) {
            secs = v as i64;
        }
    }
    let ts = jiff::Timestamp::from_second(secs).map_err(|e| e.to_string())?;
    Ok(json!(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn message(b: &[u8], fields: &[F]) -> Result<Value, String> {
    let mut out = Map::new();
    let mut r = Reader::new(b);
    while let Some((num, w)) = r.next()? {
        let Some(&F(_, name, ty, repeated)) = fields.iter().find(|f| f.0 == num) else {
            continue;
        };
        let v = match (ty, w) {
            (Ty::Str, Wire::Bytes(b)) => json!(utf8(b)?),
            (Ty::Bool, Wire::Varint(v)) => json!(v != 0),
            (Ty::Int, Wire::Varint(v)) => json!(v as i64),
            (Ty::Time, Wire::Bytes(b)) => time(b)?,
            (Ty::Msg(sub), Wire::Bytes(b)) => message(b, sub)?,
            (Ty::RawJson, Wire::Bytes(b)) => {
                let mut r = Reader::new(b);
                let mut raw = Value::Null;
                while let Some((1, Wire::Bytes(j))) = r.next()? {
                    raw = serde_json::from_slice(j).map_err(|e| e.to_string())?;
                }
                raw
            }
            (Ty::MapStr | Ty::MapBytes, Wire::Bytes(b)) => {
                let (k, v) = map_entry(b, matches!(ty, Ty::MapBytes))?;
                let m = out.entry(name).or_insert_with(|| json!({}));
                m[k.as_str()] = v;
                continue;
            }
            _ => return Err(format!("field {name}: unexpected wire type")),
        };
        // Go's encoder writes zero values of non-pointer fields, which its JSON
        // encoder then omits (omitempty): skip them.
        if !repeated && matches!(&v, Value::String(s) if s.is_empty())
            || v == json!(false)
            || v == json!(0)
        {
            continue;
        }
        if repeated {
            match out.entry(name).or_insert_with(|| json!([])) {
                Value::Array(a) => a.push(v),
                _ => return Err(format!("field {name} repeated inconsistently")),
            }
        } else {
            out.insert(name.to_string(), v);
        }
    }
    Ok(Value::Object(out))
}

/// Decode a protobuf request body for the kind the URL names. `Err` carries a message
/// for a 400 (malformed) or None when this kind has no protobuf support here (415).
pub fn decode(body: &[u8], group: &str, kind: &str) -> Result<Value, Option<String>> {
    let Some(fields) = schema_for(group, kind) else {
        return Err(None);
    };
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| Some("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]".to_string()))?;
    let mut r = Reader::new(rest);
    let (mut api_version, mut kind_in, mut raw) = (String::new(), String::new(), None);
    while let Some((num, w)) = r.next().map_err(Some)? {
        match (num, w) {
            (1, Wire::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((n, w)) = t.next().map_err(Some)? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = utf8(b).map_err(Some)?,
                        (2, Wire::Bytes(b)) => kind_in = utf8(b).map_err(Some)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = Some(b),
            _ => {}
        }
    }
    let mut obj = message(raw.unwrap_or_default(), fields).map_err(Some)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind_in);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_configmap_envelope() {
        let mut meta = field(1, b"cfg");
        meta.extend(field(11, &[field(1, b"app"), field(2, b"web")].concat()));
        let mut cm = field(1, &meta);
        cm.extend(field(2, &[field(1, b"k"), field(2, b"v")].concat()));
        cm.extend(field(3, &[field(1, b"bin"), field(2, &[0, 1, 2])].concat()));
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let mut body = MAGIC.to_vec();
        body.extend(field(1, &tm));
        body.extend(field(2, &cm));
        let v = decode(&body, "", "ConfigMap").unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cfg", "labels": {"app": "web"}},
                   "data": {"k": "v"}, "binaryData": {"bin": "AAEC"}})
        );
        assert!(decode(&body, "apps", "Deployment").unwrap_err().is_none());
        assert!(decode(b"{}", "", "ConfigMap").unwrap_err().is_some());
    }
}
