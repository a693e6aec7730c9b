//! CRD structural schema validation, pruning and defaulting (initial version).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

#[derive(Debug, Clone)]
pub struct CrdSchema {
    schema: Value,
}

impl CrdSchema {
    pub fn new(open_api_v3_schema: &Value) -> Result<CrdSchema, String> {
        if !open_api_v3_schema.is_object() {
            return Err("openAPIV3Schema must be an object".into());
        }
        Ok(CrdSchema {
            schema: open_api_v3_schema.clone(),
        })
    }

    pub fn admit(&self, obj: &mut Value, _old: Option<&Value>) -> Result<(), Vec<FieldCause>> {
        let _ = &self.schema;
        if !obj.is_object() {
            return Err(vec![FieldCause {
                reason: "FieldValueTypeInvalid".into(),
                message: "Invalid value: object must be an object".into(),
                field: "".into(),
            }]);
        }
        Ok(())
    }
}
