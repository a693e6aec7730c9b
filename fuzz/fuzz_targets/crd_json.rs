//! The CRD types read from arbitrary bytes as JSON, as the operator reads what the API server
//! sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagesync::api::{ClusterSecretStore, ExternalSecret, SecretStore};

fuzz_target!(|input: &[u8]| {
    let _ = serde_json::from_slice::<ExternalSecret>(input);
    let _ = serde_json::from_slice::<SecretStore>(input);
    let _ = serde_json::from_slice::<ClusterSecretStore>(input);
});
