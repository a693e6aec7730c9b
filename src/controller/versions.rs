//! When each synced version became current in the Secret: `status.syncedVersions[].currentSince`
//! is stamped when a sync writes a version id it did not write before for that AWS secret, and
//! carried over unchanged while the version id stays (level-based: only the previous status is
//! needed).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::externalsecret::SyncedVersions;

/// Stamps `now` on the versions that are new or moved since `previous`, and carries the old
/// stamp over on the others (a status written before the field existed keeps none: the time
/// it became current is unknown).
pub(super) fn stamp_current_since(
    previous: &SyncedVersions,
    synced: &mut SyncedVersions,
    now: Time,
) {
    for (key, version) in synced.iter_mut() {
        version.current_since = match previous.get(key) {
            Some(old) if old.version_id == version.version_id => old.current_since.clone(),
            _ => Some(now.clone()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::externalsecret::SyncedVersion;

    fn at(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn version(id: &str, since: Option<&str>) -> SyncedVersion {
        SyncedVersion {
            version_id: id.to_owned(),
            version_stages: vec!["AWSCURRENT".into()],
            current_since: since.map(at),
        }
    }

    #[test]
    fn stamps_new_and_moved_versions_and_keeps_the_others() {
        let previous = SyncedVersions::from_iter([
            ("db".to_owned(), version("v1", Some("2026-01-01T00:00:00Z"))),
            (
                "api".to_owned(),
                version("a1", Some("2026-01-01T00:00:00Z")),
            ),
            ("legacy".to_owned(), version("l1", None)),
        ]);
        let mut synced = SyncedVersions::from_iter([
            ("db".to_owned(), version("v2", None)),
            ("api".to_owned(), version("a1", None)),
            ("legacy".to_owned(), version("l1", None)),
            ("new".to_owned(), version("n1", None)),
        ]);
        let now = at("2026-01-02T00:00:00Z");
        stamp_current_since(&previous, &mut synced, now.clone());
        assert_eq!(
            synced.get("db").unwrap().current_since,
            Some(now.clone()),
            "moved"
        );
        assert_eq!(
            synced.get("api").unwrap().current_since,
            Some(at("2026-01-01T00:00:00Z")),
            "unchanged: the old stamp stays"
        );
        assert_eq!(
            synced.get("legacy").unwrap().current_since,
            None,
            "unknown stays unknown"
        );
        assert_eq!(
            synced.get("new").unwrap().current_since,
            Some(now),
            "new key"
        );
    }
}
