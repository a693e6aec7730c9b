//! Patch semantics and server-side apply for the fake API server (initial version;
//! being made faithful).

use serde_json::Value;

/// List semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// Per-path list/map semantics.
#[derive(Debug, Clone, Default)]
pub struct MergeSchema {}

impl MergeSchema {
    pub fn builtin(_api_version: &str, _kind: &str) -> MergeSchema {
        MergeSchema::default()
    }
    pub fn from_openapi(_schema: &Value) -> MergeSchema {
        MergeSchema::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyConflict {
    pub manager: String,
    pub field: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("Apply failed with {} conflicts", conflicts.len())]
    Conflict { conflicts: Vec<ApplyConflict> },
}

pub fn json_merge_patch(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    json_patch::merge(&mut out, patch);
    out
}

pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let p: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchError::Invalid(e.to_string()))?;
    let mut out = target.clone();
    json_patch::patch(&mut out, &p).map_err(|e| PatchError::Invalid(e.to_string()))?;
    Ok(out)
}

pub fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    _schema: &MergeSchema,
) -> Result<Value, PatchError> {
    Ok(json_merge_patch(target, patch))
}

#[allow(clippy::too_many_arguments)]
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    _manager: &str,
    _force: bool,
    _schema: &MergeSchema,
    _now: &str,
    _subresource: Option<&str>,
) -> Result<Value, PatchError> {
    Ok(match live {
        Some(l) => json_merge_patch(l, applied),
        None => applied.clone(),
    })
}

pub fn track_update(
    _old: Option<&Value>,
    new: &Value,
    _manager: &str,
    _schema: &MergeSchema,
    _now: &str,
    _subresource: Option<&str>,
) -> Value {
    new.clone()
}

pub fn default_manager(user_agent: Option<&str>) -> String {
    user_agent
        .and_then(|ua| ua.split('/').next())
        .unwrap_or("unknown")
        .to_string()
}
