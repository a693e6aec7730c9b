//! Which version of an AWS secret a reference reads: a staging label or a pinned version id.

use std::fmt;

/// The staging label AWS moves to a secret's newest version.
pub const AWS_CURRENT: &str = "AWSCURRENT";
/// The staging label AWS gives the version that was current before the last rotation.
pub const AWS_PREVIOUS: &str = "AWSPREVIOUS";
/// The staging label of a version created by a rotation that has not been promoted yet.
pub const AWS_PENDING: &str = "AWSPENDING";

/// ESO's prefix in `remoteRef.version` that marks a version id rather than a stage.
const ESO_VERSION_ID_PREFIX: &str = "uuid/";

/// A version of an AWS secret: by staging label (moves on rotation) or by id (pinned).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionSelector {
    /// The version carrying this staging label (`AWSCURRENT`, `AWSPREVIOUS`, `AWSPENDING` or a
    /// custom label).
    Stage(String),
    /// The version with this id.
    Id(String),
}

impl Default for VersionSelector {
    fn default() -> Self {
        Self::Stage(AWS_CURRENT.to_owned())
    }
}

impl VersionSelector {
    /// Resolves the three spec fields. The CRD schema makes them mutually exclusive; should more
    /// than one still be set (an object stored before validation), a version id wins, then a
    /// stage, then ESO's `version`, because pinning is the least surprising reading.
    pub fn from_fields(stage: Option<&str>, id: Option<&str>, eso_version: Option<&str>) -> Self {
        let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some(id) = nonempty(id) {
            return Self::Id(id);
        }
        if let Some(stage) = nonempty(stage) {
            return Self::Stage(stage);
        }
        match nonempty(eso_version) {
            Some(v) => match v.strip_prefix(ESO_VERSION_ID_PREFIX) {
                Some(id) => Self::Id(id.to_owned()),
                None => Self::Stage(v),
            },
            None => Self::default(),
        }
    }
}

impl fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stage(s) => write!(f, "stage {s}"),
            Self::Id(id) => write!(f, "version id {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_awscurrent() {
        assert_eq!(
            VersionSelector::from_fields(None, None, None),
            VersionSelector::Stage("AWSCURRENT".into())
        );
        assert_eq!(
            VersionSelector::from_fields(Some(""), None, Some("")),
            VersionSelector::Stage("AWSCURRENT".into())
        );
    }

    #[test]
    fn eso_version_syntax() {
        assert_eq!(
            VersionSelector::from_fields(None, None, Some("uuid/abc")),
            VersionSelector::Id("abc".into())
        );
        assert_eq!(
            VersionSelector::from_fields(None, None, Some("AWSPREVIOUS")),
            VersionSelector::Stage("AWSPREVIOUS".into())
        );
    }

    #[test]
    fn explicit_fields() {
        assert_eq!(
            VersionSelector::from_fields(Some("AWSPENDING"), None, None),
            VersionSelector::Stage("AWSPENDING".into())
        );
        assert_eq!(
            VersionSelector::from_fields(Some("AWSPENDING"), Some("v1"), None),
            VersionSelector::Id("v1".into())
        );
    }
}
