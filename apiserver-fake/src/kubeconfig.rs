//! Kubeconfig files pointing at a running fake (server URL, CA data, bearer token).

use std::path::Path;

use base64::Engine;
use serde_json::json;

use crate::FakeError;

/// Render a kubeconfig whose current context (`apiserver-fake`) points at `server`.
pub fn render(server: &str, ca_pem: Option<&str>, token: Option<&str>) -> String {
    let mut cluster = json!({"server": server});
    if let Some(ca) = ca_pem {
        cluster["certificate-authority-data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    // Without a required token the fake accepts any; a placeholder still keeps kubectl
    // from prompting for a username on HTTPS.
    let user = json!({"token": token.unwrap_or("apiserver-fake-no-auth")});
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "apiserver-fake", "cluster": cluster}],
        "users": [{"name": "apiserver-fake", "user": user}],
        "contexts": [{"name": "apiserver-fake", "context": {"cluster": "apiserver-fake", "user": "apiserver-fake", "namespace": "default"}}],
        "current-context": "apiserver-fake",
        "preferences": {},
    });
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

/// Write the kubeconfig (mode 0600: it may hold a token).
pub fn write(path: &Path, contents: &str) -> Result<(), FakeError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
