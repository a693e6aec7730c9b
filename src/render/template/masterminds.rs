//! Masterminds/semver v3.4.0, the version ESO builds sprig with, for [`super::semver`]. The
//! `semver` crate implements Cargo's rules, which differ (no `v` prefix, no partial versions
//! such as `1.2`, no `x` wildcards, other prerelease rules), so the parsing and matching are
//! written here, tested with Masterminds' own test tables (`testdata/masterminds-semver.tsv`).
//!
//! What Masterminds does, and this with it:
//!
//! - A version is read loosely: `v` prefix, missing minor and patch (`1.2` is `1.2.0`), leading
//!   zeros in the numbers; the prerelease (dot-separated `[0-9A-Za-z-]` identifiers, a numeric
//!   one without a leading zero) and build metadata are checked.
//! - A constraint string is split on `||` (OR); each part is a list of comparisons separated by
//!   spaces or commas (AND), checked against one regular expression first, so text it does not
//!   recognise is an error. `A - B` is rewritten to `>= A, <= B` before anything else.
//! - Operators: none or `=`, `!=`, `>`, `<`, `>=`/`=>`, `<=`/`=<`, `~`/`~>`, `^`. An `x`, `X` or
//!   `*` (or a missing part) makes a comparison a range: `2.x` is `>=2.0.0 <3.0.0`.
//! - A prerelease version satisfies a group of comparisons only if one of that group's
//!   comparisons names a prerelease itself.
//!
//! The regular expressions are Masterminds' own, run by the `regex` crate, whose leftmost-first
//! matching and submatch rules are Go's; `\s` is written as Go's ASCII class.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

/// Why a version or a constraint was refused: Masterminds' error texts, without the text that
/// was parsed (it may come from a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum SemverError {
    #[error("invalid semantic version")]
    InvalidSemVer,
    #[error("invalid prerelease string")]
    InvalidPrerelease,
    #[error("invalid metadata string")]
    InvalidMetadata,
    #[error("version segment starts with 0")]
    SegmentStartsZero,
    #[error("error parsing version segment: value out of range")]
    SegmentOutOfRange,
    #[error("improper constraint")]
    ImproperConstraint,
    #[error("constraint parser error")]
    ConstraintParser,
}

// ---------------------------------------------------------------------------------------------
// Versions.

/// Go's `\s`: no vertical tab, unlike the `regex` crate's ASCII `\s`.
const WS: &str = r"[\t\n\f\r ]";
/// The operators, in Masterminds' order (it matters: the first alternative that lets the whole
/// expression match wins), the empty one included.
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";
/// A version in a constraint: numbers or wildcards, optional prerelease and metadata (9 groups).
const CONSTRAINT_VERSION: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";

fn compiled(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a constant pattern")
}

/// `NewVersion`'s loose form (Masterminds' `CoerceNewVersion`, on by default).
static LOOSE_VERSION: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$",
    )
});

/// A semantic version, as Masterminds' `Version` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Version {
    pub(super) major: u64,
    pub(super) minor: u64,
    pub(super) patch: u64,
    pub(super) pre: String,
    pub(super) metadata: String,
    /// The text parsed (its `v` prefix included).
    pub(super) original: String,
}

/// `strconv.ParseUint(s, 10, 64)` of text the expressions have already limited to digits.
fn segment(digits: &str) -> Result<u64, SemverError> {
    digits.parse().map_err(|_| SemverError::SegmentOutOfRange)
}

fn only(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(allowed)
}

fn identifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn validate_prerelease(pre: &str) -> Result<(), SemverError> {
    for part in pre.split('.') {
        if part.is_empty() {
            return Err(SemverError::InvalidPrerelease);
        } else if only(part, |b| b.is_ascii_digit()) {
            if part.len() > 1 && part.starts_with('0') {
                return Err(SemverError::SegmentStartsZero);
            }
        } else if !only(part, identifier_byte) {
            return Err(SemverError::InvalidPrerelease);
        }
    }
    Ok(())
}

fn validate_metadata(metadata: &str) -> Result<(), SemverError> {
    if metadata
        .split('.')
        .any(|part| part.is_empty() || !only(part, identifier_byte))
    {
        return Err(SemverError::InvalidMetadata);
    }
    Ok(())
}

impl Version {
    /// Masterminds' `NewVersion`.
    pub(super) fn parse(text: &str) -> Result<Self, SemverError> {
        let m = LOOSE_VERSION
            .captures(text)
            .ok_or(SemverError::InvalidSemVer)?;
        let group = |i: usize| m.get(i).map_or("", |g| g.as_str());
        let part = |i: usize| match group(i).strip_prefix('.') {
            Some(digits) => segment(digits),
            None => Ok(0),
        };
        let version = Self {
            major: segment(group(1))?,
            minor: part(2)?,
            patch: part(3)?,
            pre: group(5).to_owned(),
            metadata: group(8).to_owned(),
            original: text.to_owned(),
        };
        if !version.pre.is_empty() {
            validate_prerelease(&version.pre)?;
        }
        if !version.metadata.is_empty() {
            validate_metadata(&version.metadata)?;
        }
        Ok(version)
    }

    /// Go's `String`: the version without its `v` prefix.
    pub(super) fn canonical(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.metadata.is_empty() {
            s.push('+');
            s.push_str(&self.metadata);
        }
        s
    }

    /// `Compare`: numbers, then prerelease (a version without one is greater); metadata is
    /// ignored.
    fn compare(&self, other: &Self) -> Ordering {
        let numbers =
            (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch));
        if numbers != Ordering::Equal {
            return numbers;
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_prerelease(&self.pre, &other.pre),
        }
    }

    /// The `Inc*` methods of v3.4.0: metadata and prerelease dropped, the `v` prefix of the
    /// original kept.
    pub(super) fn incremented(&self, part: Part) -> Self {
        let mut next = self.clone();
        next.pre.clear();
        next.metadata.clear();
        match part {
            // A prerelease of x.y.z increments to x.y.z itself.
            Part::Patch if !self.pre.is_empty() => {}
            Part::Patch => next.patch = self.patch.wrapping_add(1),
            Part::Minor => {
                next.patch = 0;
                next.minor = self.minor.wrapping_add(1);
            }
            Part::Major => {
                next.patch = 0;
                next.minor = 0;
                next.major = self.major.wrapping_add(1);
            }
        }
        let prefix = if self.original.starts_with('v') {
            "v"
        } else {
            ""
        };
        next.original = format!("{prefix}{}", next.canonical());
        next
    }
}

/// The number an `Inc*` method increments.
#[derive(Clone, Copy)]
pub(super) enum Part {
    Major,
    Minor,
    Patch,
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let a: Vec<&str> = a.split('.').collect();
    let b: Vec<&str> = b.split('.').collect();
    for i in 0..a.len().max(b.len()) {
        let d = compare_prerelease_part(
            a.get(i).copied().unwrap_or(""),
            b.get(i).copied().unwrap_or(""),
        );
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

/// Masterminds' `comparePrePart`: a numeric identifier is below an alphanumeric one; two
/// numeric ones compare as numbers (and, as there, two different texts of one number, `01` and
/// `1`, are never equal: the first is less).
fn compare_prerelease_part(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    if a.is_empty() {
        return Ordering::Less;
    }
    if b.is_empty() {
        return Ordering::Greater;
    }
    let number = |s: &str| {
        if only(s, |c| c.is_ascii_digit()) {
            s.parse::<u64>().ok()
        } else {
            None
        }
    };
    match (number(a), number(b)) {
        (None, None) if a > b => Ordering::Greater,
        (None, None) => Ordering::Less,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) if x > y => Ordering::Greater,
        (Some(_), Some(_)) => Ordering::Less,
    }
}

// ---------------------------------------------------------------------------------------------
// Constraints.

static CONSTRAINT: LazyLock<Regex> =
    LazyLock::new(|| compiled(&format!(r"^{WS}*({OPS}){WS}*({CONSTRAINT_VERSION}){WS}*$")));
static RANGE: LazyLock<Regex> = LazyLock::new(|| {
    compiled(&format!(
        r"{WS}*({CONSTRAINT_VERSION}){WS}+-{WS}+({CONSTRAINT_VERSION}){WS}*"
    ))
});
static FIND: LazyLock<Regex> =
    LazyLock::new(|| compiled(&format!(r"({OPS}){WS}*({CONSTRAINT_VERSION})")));
static VALID: LazyLock<Regex> = LazyLock::new(|| {
    compiled(&format!(
        r"^({WS}*({OPS}){WS}*({CONSTRAINT_VERSION}){WS}*)((?:{WS}+|,{WS}*)({OPS}){WS}*({CONSTRAINT_VERSION}){WS}*)*$"
    ))
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

impl Op {
    fn parse(op: &str) -> Option<Self> {
        Some(match op {
            "" | "=" => Self::TildeOrEqual,
            "!=" => Self::NotEqual,
            ">" => Self::Greater,
            "<" => Self::Less,
            ">=" | "=>" => Self::GreaterEqual,
            "<=" | "=<" => Self::LessEqual,
            "~" | "~>" => Self::Tilde,
            "^" => Self::Caret,
            _ => return None,
        })
    }
}

/// One comparison: `>= 1.2` is `GreaterEqual` of 1.2.0, patch dirty (a wildcard).
#[derive(Debug, Clone)]
struct Comparison {
    op: Op,
    version: Version,
    /// Major is a wildcard or missing (`*`, `x`), or minor or patch is.
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_wildcard(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

impl Comparison {
    /// `parseConstraint` of one comparison.
    fn parse(text: &str) -> Result<Self, SemverError> {
        if text.is_empty() {
            // Masterminds reads an empty comparison as `*` (`NewConstraint` never passes one).
            return Ok(Self {
                op: Op::TildeOrEqual,
                version: Version::parse("0.0.0")?,
                dirty: true,
                minor_dirty: false,
                patch_dirty: false,
            });
        }
        let m = CONSTRAINT
            .captures(text)
            .ok_or(SemverError::ImproperConstraint)?;
        let group = |i: usize| m.get(i).map_or("", |g| g.as_str());
        let op = Op::parse(group(1)).ok_or(SemverError::ImproperConstraint)?;
        let (major, minor, patch, pre) = (group(3), group(4), group(5), group(6));
        let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
        let text = if is_wildcard(major) || major.is_empty() {
            dirty = true;
            format!("0.0.0{pre}")
        } else if minor.is_empty() || is_wildcard(minor.strip_prefix('.').unwrap_or(minor)) {
            (dirty, minor_dirty) = (true, true);
            format!("{major}.0.0{pre}")
        } else if patch.is_empty() || is_wildcard(patch.strip_prefix('.').unwrap_or(patch)) {
            (dirty, patch_dirty) = (true, true);
            format!("{major}{minor}.0{pre}")
        } else {
            group(2).to_owned()
        };
        let version = Version::parse(&text).map_err(|_| SemverError::ConstraintParser)?;
        Ok(Self {
            op,
            version,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    /// Whether `v` satisfies this comparison; `include_pre` says whether its group lets
    /// prerelease versions through.
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.version;
        match self.op {
            Op::TildeOrEqual if self.dirty => self.tilde(v),
            Op::TildeOrEqual => v.compare(c) == Ordering::Equal,
            Op::NotEqual => self.not_equal(v),
            Op::Greater => self.greater(v),
            Op::Less => v.compare(c) == Ordering::Less,
            Op::GreaterEqual => v.compare(c) != Ordering::Less,
            Op::LessEqual if !self.dirty => v.compare(c) != Ordering::Greater,
            Op::LessEqual => {
                !(v.major > c.major
                    || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.version;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            } else if self.minor_dirty {
                return false;
            } else if c.patch != v.patch && !self.patch_dirty {
                return true;
            } else if self.patch_dirty {
                if !v.pre.is_empty() || !c.pre.is_empty() {
                    return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                }
                return false;
            }
        }
        v.compare(c) != Ordering::Equal
    }

    fn greater(&self, v: &Version) -> bool {
        let c = &self.version;
        if self.dirty {
            if v.major != c.major {
                return v.major > c.major;
            }
            if self.minor_dirty {
                // `>11` wants 12 or more: 11.1.0 is not greater.
                return false;
            }
            if self.patch_dirty {
                return v.minor > c.minor;
            }
        }
        v.compare(c) == Ordering::Greater
    }

    /// `~1.2.3` is `>=1.2.3 <1.3.0`, `~1` is `>=1.0.0 <2.0.0`, `~*` anything.
    fn tilde(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if (c.major, c.minor, c.patch) == (0, 0, 0) && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    /// `^1.2.3` is `>=1.2.3 <2.0.0`, `^0.2.3` `>=0.2.3 <0.3.0`, `^0.0.3` `>=0.0.3 <0.0.4`.
    fn caret(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

/// Masterminds' `Constraints`: OR groups of AND comparisons.
#[derive(Debug, Clone)]
pub(super) struct Constraints {
    /// Each group, and whether one of its comparisons names a prerelease.
    groups: Vec<(Vec<Comparison>, bool)>,
}

/// `rewriteRange`: each `A - B` becomes `>= A, <= B `, in the text, first occurrence first.
fn rewrite_ranges(text: &str) -> String {
    let mut out = text.to_owned();
    for m in RANGE.captures_iter(text) {
        let (whole, from, to) = (&m[0], &m[1], &m[11]);
        out = out.replacen(whole, &format!(">= {from}, <= {to} "), 1);
    }
    out
}

impl Constraints {
    /// Masterminds' `NewConstraint`.
    pub(super) fn parse(text: &str) -> Result<Self, SemverError> {
        let text = rewrite_ranges(text);
        let mut groups = Vec::new();
        for alternative in text.split("||") {
            if !VALID.is_match(alternative) {
                return Err(SemverError::ImproperConstraint);
            }
            let mut found: Vec<&str> = FIND.find_iter(alternative).map(|m| m.as_str()).collect();
            if found.is_empty() {
                found.push(alternative);
            }
            let comparisons = found
                .into_iter()
                .map(Comparison::parse)
                .collect::<Result<Vec<_>, _>>()?;
            let has_pre = comparisons.iter().any(|c| !c.version.pre.is_empty());
            groups.push((comparisons, has_pre));
        }
        Ok(Self { groups })
    }

    /// `Check`: some group whose comparisons all hold.
    pub(super) fn check(&self, v: &Version) -> bool {
        self.groups
            .iter()
            .any(|(comparisons, has_pre)| comparisons.iter().all(|c| c.check(v, *has_pre)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of one of Masterminds' tables in `testdata/masterminds-semver.tsv`.
    fn table(name: &str) -> Vec<Vec<&'static str>> {
        let rows: Vec<Vec<&str>> = include_str!("testdata/masterminds-semver.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .filter(|fields| fields[0] == name)
            .map(|fields| fields[1..].to_vec())
            .collect();
        assert!(!rows.is_empty(), "no table {name}");
        rows
    }

    fn flag(text: &str) -> bool {
        text.parse().expect("true or false")
    }

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// TestNewVersion ("With loose NewVersion"), TestCoerceString, TestOriginal, TestParts.
    #[test]
    fn versions_parse_loosely() {
        for row in table("new-version") {
            let (text, fails) = (row[0], flag(row[1]));
            assert_eq!(Version::parse(text).is_err(), fails, "{text}");
        }
        for text in ["\n1.2", "\nv1.2"] {
            assert_eq!(Version::parse(text), Err(SemverError::InvalidSemVer));
        }
        for row in table("coerce-string") {
            let v = version(row[0]);
            assert_eq!(v.canonical(), row[1], "{}", row[0]);
            assert_eq!(v.original, row[0]);
        }
        let v = version("1.2.3-beta.1+build.123");
        assert_eq!(
            (
                v.major,
                v.minor,
                v.patch,
                v.pre.as_str(),
                v.metadata.as_str()
            ),
            (1, 2, 3, "beta.1", "build.123")
        );
        // TestNewVersionCheckError's errors (the detailed ones NewVersion gives too).
        assert_eq!(
            Version::parse("1.2.3-dev.01"),
            Err(SemverError::SegmentStartsZero)
        );
        assert_eq!(
            Version::parse("1.2.3-023658"),
            Err(SemverError::SegmentStartsZero)
        );
        assert_eq!(
            Version::parse("1.2.3-dev..1"),
            Err(SemverError::InvalidSemVer)
        );
        assert_eq!(
            Version::parse("1.2.3+a..b"),
            Err(SemverError::InvalidSemVer)
        );
        assert_eq!(
            Version::parse("18446744073709551616.0.0"),
            Err(SemverError::SegmentOutOfRange)
        );
    }

    /// TestCompare, TestGreaterThan, TestEqual.
    #[test]
    fn versions_compare() {
        for row in table("compare") {
            let want = match row[2] {
                "-1" => Ordering::Less,
                "0" => Ordering::Equal,
                "1" => Ordering::Greater,
                other => panic!("{other}"),
            };
            assert_eq!(version(row[0]).compare(&version(row[1])), want, "{row:?}");
        }
        for row in table("greater-than") {
            let greater = version(row[0]).compare(&version(row[1])) == Ordering::Greater;
            assert_eq!(greater, flag(row[2]), "{row:?}");
        }
        assert_eq!(
            version("3.2-beta+foo").compare(&version("3.2-beta+bar")),
            Ordering::Equal
        );
    }

    /// TestInc: the version and the original after IncPatch, IncMinor, IncMajor.
    #[test]
    fn versions_increment() {
        for row in table("inc") {
            let part = match row[2] {
                "patch" => Part::Patch,
                "minor" => Part::Minor,
                "major" => Part::Major,
                other => panic!("{other}"),
            };
            let next = version(row[0]).incremented(part);
            assert_eq!(next.canonical(), row[1], "{row:?}");
            assert_eq!(next.original, row[3], "{row:?}");
        }
    }

    /// TestParseConstraint and TestConstraintCheck: one comparison, checked with prereleases
    /// let through when it names one.
    #[test]
    fn single_comparisons() {
        for row in table("parse-constraint") {
            let parsed = Comparison::parse(row[0]);
            if flag(row[3]) {
                assert!(parsed.is_err(), "{row:?}");
                continue;
            }
            let c = parsed.unwrap_or_else(|e| panic!("{row:?}: {e}"));
            assert_eq!(format!("{:?}", c.op), row[1], "{row:?}");
            assert_eq!(c.version.canonical(), row[2], "{row:?}");
        }
        for row in table("constraint-check") {
            let c = Comparison::parse(row[0]).unwrap_or_else(|e| panic!("{row:?}: {e}"));
            let has_pre = !c.version.pre.is_empty();
            assert_eq!(c.check(&version(row[1]), has_pre), flag(row[2]), "{row:?}");
        }
        // The empty comparison (only Masterminds' tests reach it) is `*`.
        assert!(Comparison::parse("").unwrap().check(&version("1"), false));
    }

    /// TestNewConstraint (OR groups, comparisons in the first group, errors) and
    /// TestRewriteRange.
    #[test]
    fn constraints_parse() {
        for row in table("new-constraint") {
            let parsed = Constraints::parse(row[0]);
            if flag(row[3]) {
                assert!(parsed.is_err(), "{row:?}");
                continue;
            }
            let c = parsed.unwrap_or_else(|e| panic!("{row:?}: {e}"));
            assert_eq!(c.groups.len().to_string(), row[1], "{row:?}");
            assert_eq!(c.groups[0].0.len().to_string(), row[2], "{row:?}");
        }
        for row in table("rewrite-range") {
            assert_eq!(rewrite_ranges(row[0]), row[1], "{row:?}");
        }
        assert_eq!(
            Constraints::parse("foo").unwrap_err(),
            SemverError::ImproperConstraint
        );
        assert_eq!(
            Constraints::parse(">= 99999999999999999999").unwrap_err(),
            SemverError::ConstraintParser
        );
    }

    /// TestConstraintsCheck: whole constraint strings.
    #[test]
    fn constraints_check() {
        for row in table("constraints-check") {
            let c = Constraints::parse(row[0]).unwrap_or_else(|e| panic!("{row:?}: {e}"));
            assert_eq!(c.check(&version(row[1])), flag(row[2]), "{row:?}");
        }
    }
}
