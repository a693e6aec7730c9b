//! The value cache of one store: secret values by `(ARN, version id)`. A version's value never
//! changes in AWS, so an entry is valid until evicted; the cap in entries and bytes and the TTL
//! bound how much secret material the operator holds. In memory only, zeroised on drop (by
//! [`SecretBytes`](crate::value::SecretBytes)); never written to disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::provider::RemoteSecret;

/// Bounds of a value cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most values held.
    pub max_entries: usize,
    /// Most bytes of values held.
    pub max_bytes: usize,
    /// How long a value is kept after it was fetched.
    pub ttl: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_entries: 20_000,
            max_bytes: 64 * 1024 * 1024,
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug)]
struct Slot {
    value: Arc<RemoteSecret>,
    fetched: Instant,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<(String, String), Slot>,
    bytes: usize,
    clock: u64,
}

/// The cache.
#[derive(Debug, Default)]
pub struct ValueCache {
    limits: CacheLimits,
    inner: Mutex<Inner>,
}

impl ValueCache {
    /// An empty cache with these bounds.
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            limits,
            inner: Mutex::default(),
        }
    }

    /// The value of a version, if held and not expired.
    pub fn get(&self, arn: &str, version_id: &str) -> Option<Arc<RemoteSecret>> {
        let mut inner = self.inner.lock().expect("value cache lock");
        inner.clock += 1;
        let clock = inner.clock;
        let key = (arn.to_owned(), version_id.to_owned());
        let expired = match inner.slots.get_mut(&key) {
            None => return None,
            Some(slot) if slot.fetched.elapsed() > self.limits.ttl => true,
            Some(slot) => {
                slot.last_used = clock;
                return Some(slot.value.clone());
            }
        };
        if expired && let Some(slot) = inner.slots.remove(&key) {
            inner.bytes -= slot.value.payload.bytes().len();
        }
        None
    }

    /// Holds a value, evicting the least recently used ones beyond the bounds. A value larger
    /// than the whole byte budget is not held.
    pub fn insert(&self, value: Arc<RemoteSecret>) {
        let size = value.payload.bytes().len();
        if value.arn.is_empty() || value.version_id.is_empty() || size > self.limits.max_bytes {
            return;
        }
        let mut inner = self.inner.lock().expect("value cache lock");
        inner.clock += 1;
        let clock = inner.clock;
        let key = (value.arn.clone(), value.version_id.clone());
        if let Some(old) = inner.slots.insert(
            key,
            Slot {
                value,
                fetched: Instant::now(),
                last_used: clock,
            },
        ) {
            inner.bytes -= old.value.payload.bytes().len();
        }
        inner.bytes += size;
        while inner.slots.len() > self.limits.max_entries || inner.bytes > self.limits.max_bytes {
            let Some(oldest) = inner
                .slots
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(slot) = inner.slots.remove(&oldest) {
                inner.bytes -= slot.value.payload.bytes().len();
            }
        }
    }

    /// Entries and bytes held.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.inner.lock().expect("value cache lock");
        (inner.slots.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Payload;
    use crate::value::SecretBytes;

    fn value(arn: &str, version: &str, size: usize) -> Arc<RemoteSecret> {
        Arc::new(RemoteSecret {
            name: arn.to_owned(),
            arn: arn.to_owned(),
            version_id: version.to_owned(),
            version_stages: vec![],
            payload: Payload::Text(SecretBytes::new(vec![b'x'; size])),
        })
    }

    #[test]
    fn holds_values_by_arn_and_version() {
        let c = ValueCache::default();
        c.insert(value("a", "v1", 3));
        assert!(c.get("a", "v1").is_some());
        assert!(c.get("a", "v2").is_none());
        assert!(c.get("b", "v1").is_none());
        assert_eq!(c.usage(), (1, 3));
    }

    #[test]
    fn evicts_least_recently_used_beyond_entry_and_byte_caps() {
        let c = ValueCache::new(CacheLimits {
            max_entries: 2,
            max_bytes: 10,
            ttl: Duration::from_secs(60),
        });
        c.insert(value("a", "v", 4));
        c.insert(value("b", "v", 4));
        assert!(c.get("a", "v").is_some()); // a is now more recent than b
        c.insert(value("c", "v", 4));
        assert!(c.get("b", "v").is_none(), "b was least recently used");
        assert!(c.get("a", "v").is_some() && c.get("c", "v").is_some());
        c.insert(value("d", "v", 9));
        assert_eq!(c.usage(), (1, 9), "byte cap: only d fits");
        c.insert(value("e", "v", 11));
        assert!(
            c.get("e", "v").is_none(),
            "larger than the budget: not held"
        );
        assert!(c.get("d", "v").is_some());
    }

    #[test]
    fn expires_after_the_ttl() {
        let c = ValueCache::new(CacheLimits {
            ttl: Duration::ZERO,
            ..CacheLimits::default()
        });
        c.insert(value("a", "v", 1));
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.get("a", "v").is_none());
        assert_eq!(c.usage(), (0, 0));
    }
}
