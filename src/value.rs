//! `SecretBytes`: secret material that cannot leak by accident. It has no `Display`, its `Debug`
//! prints only the length, and it is never serialized, so a value cannot reach a log line, an
//! event, a status or an error message through formatting. Its memory is zeroed when it is
//! dropped (`zeroize`), so a value evicted from the cache does not linger in freed memory.

use std::fmt;

use zeroize::Zeroize;

/// Bytes of a secret value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps secret material.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The secret bytes, for the code that must hand them on (render, Secret writing).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret bytes, by value (the caller now owns the material).
    pub fn into_exposed(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }

    /// Length in bytes; safe to log.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty; safe to log.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted, {} bytes>)", self.0.len())
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<String> for SecretBytes {
    fn from(s: String) -> Self {
        Self(s.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let v = SecretBytes::from("hunter2-super-secret".to_owned());
        let printed = format!("{v:?} {:#?}", v);
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("20 bytes"), "{printed}");
    }
}
