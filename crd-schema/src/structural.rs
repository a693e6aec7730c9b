//! The structural schema tree a CRD version's `openAPIV3Schema` is parsed into.

use super::*;

/// One node of a structural schema.
#[derive(Debug, Default)]
pub(crate) struct Sch {
    pub(crate) types: Option<String>,
    pub(crate) nullable: bool,
    pub(crate) int_or_string: bool,
    pub(crate) preserve_unknown: bool,
    pub(crate) embedded: bool,
    pub(crate) format: Option<String>,
    pub(crate) properties: BTreeMap<String, Sch>,
    pub(crate) additional: Option<Box<Sch>>,
    pub(crate) items: Option<Box<Sch>>,
    pub(crate) required: Vec<String>,
    pub(crate) enumeration: Option<Vec<Value>>,
    pub(crate) pattern: Option<(String, regex::Regex)>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_maximum: bool,
    pub(crate) minimum: Option<f64>,
    pub(crate) exclusive_minimum: bool,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) max_length: Option<u64>,
    pub(crate) min_length: Option<u64>,
    pub(crate) max_items: Option<u64>,
    pub(crate) min_items: Option<u64>,
    pub(crate) max_properties: Option<u64>,
    pub(crate) min_properties: Option<u64>,
    pub(crate) all_of: Vec<Sch>,
    pub(crate) any_of: Vec<Sch>,
    pub(crate) one_of: Vec<Sch>,
    pub(crate) not: Option<Box<Sch>>,
    pub(crate) default: Option<Value>,
    pub(crate) list_type: Option<String>,
    pub(crate) list_map_keys: Vec<String>,
}

pub(crate) fn u64_of(m: &Map<String, Value>, k: &str) -> Option<u64> {
    m.get(k).and_then(Value::as_u64)
}

impl Sch {
    pub(crate) fn parse(v: &Value, path: &str) -> Result<Sch, String> {
        let Some(m) = v.as_object() else {
            return Err(format!("{path}: must be an object"));
        };
        let mut s = Sch {
            types: m.get("type").and_then(Value::as_str).map(str::to_string),
            nullable: m.get("nullable").and_then(Value::as_bool).unwrap_or(false),
            int_or_string: m
                .get("x-kubernetes-int-or-string")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            preserve_unknown: m
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            embedded: m
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            format: m.get("format").and_then(Value::as_str).map(str::to_string),
            required: m
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            enumeration: m.get("enum").and_then(Value::as_array).cloned(),
            maximum: m.get("maximum").and_then(Value::as_f64),
            exclusive_maximum: m
                .get("exclusiveMaximum")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            minimum: m.get("minimum").and_then(Value::as_f64),
            exclusive_minimum: m
                .get("exclusiveMinimum")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            multiple_of: m.get("multipleOf").and_then(Value::as_f64),
            max_length: u64_of(m, "maxLength"),
            min_length: u64_of(m, "minLength"),
            max_items: u64_of(m, "maxItems"),
            min_items: u64_of(m, "minItems"),
            max_properties: u64_of(m, "maxProperties"),
            min_properties: u64_of(m, "minProperties"),
            default: m.get("default").cloned(),
            list_type: m
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .map(str::to_string),
            list_map_keys: m
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            ..Sch::default()
        };
        if let Some(p) = m.get("pattern").and_then(Value::as_str) {
            let re = regex::Regex::new(p)
                .map_err(|e| format!("{path}.pattern: invalid regular expression {p:?}: {e}"))?;
            s.pattern = Some((p.to_string(), re));
        }
        if let Some(props) = m.get("properties").and_then(Value::as_object) {
            for (k, pv) in props {
                s.properties.insert(
                    k.clone(),
                    Sch::parse(pv, &format!("{path}.properties[{k}]"))?,
                );
            }
        }
        if let Some(ap) = m.get("additionalProperties")
            && ap.is_object()
        {
            s.additional = Some(Box::new(Sch::parse(
                ap,
                &format!("{path}.additionalProperties"),
            )?));
        }
        if let Some(items) = m.get("items") {
            s.items = Some(Box::new(Sch::parse(items, &format!("{path}.items"))?));
        }
        for (key, dst) in [
            ("allOf", &mut s.all_of),
            ("anyOf", &mut s.any_of),
            ("oneOf", &mut s.one_of),
        ] {
            if let Some(a) = m.get(key).and_then(Value::as_array) {
                for (i, b) in a.iter().enumerate() {
                    dst.push(Sch::parse(b, &format!("{path}.{key}[{i}]"))?);
                }
            }
        }
        if let Some(n) = m.get("not") {
            s.not = Some(Box::new(Sch::parse(n, &format!("{path}.not"))?));
        }
        Ok(s)
    }

    pub(crate) fn child(&self, key: &str) -> Option<&Sch> {
        self.properties.get(key).or(self.additional.as_deref())
    }
}
