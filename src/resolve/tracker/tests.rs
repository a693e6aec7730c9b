//! Unit tests of the tracker's rules, with time passed in.

use super::*;

/// [`Tracker::apply`] with an answer of the tests' own.
fn apply(
    t: &mut Tracker,
    key: &str,
    meta: Option<SecretMetadata>,
    described: bool,
    now: Instant,
) -> Applied {
    t.apply(key, meta.map(Arc::new), described, now)
}

fn es(name: &str) -> EsRef {
    Arc::new(("ns".to_owned(), name.to_owned()))
}

fn meta(versions: &[(&str, &[&str])]) -> SecretMetadata {
    SecretMetadata {
        name: "app/db".into(),
        arn: "arn:aws:secretsmanager:us-east-1:1:secret:app/db-AbCdEf".into(),
        versions: versions
            .iter()
            .map(|(id, stages)| {
                (
                    (*id).to_owned(),
                    stages.iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect(),
        ..Default::default()
    }
}

const CURRENT: &[&str] = &["AWSCURRENT"];
const PREVIOUS: &[&str] = &["AWSPREVIOUS"];
const PENDING: &[&str] = &["AWSPENDING"];

fn stage(s: &str) -> VersionSelector {
    VersionSelector::Stage(s.to_owned())
}

#[test]
fn due_follows_the_shortest_interval_of_its_users() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    t.subscribe(
        &es("a"),
        &[(key.clone(), stage("AWSCURRENT"))],
        Duration::from_secs(60),
    );
    t.subscribe(
        &es("b"),
        &[(key.clone(), stage("AWSCURRENT"))],
        Duration::from_secs(10),
    );
    assert!(t.entry(&key).unwrap().due(now), "never checked: due");
    apply(&mut t, &key, Some(meta(&[("v1", CURRENT)])), false, now);
    let e = t.entry(&key).unwrap();
    assert!(!e.due(now + Duration::from_secs(9)));
    assert!(e.due(now + Duration::from_secs(10)));
    t.forget(&es("b"));
    assert!(!t.entry(&key).unwrap().due(now + Duration::from_secs(10)));
    t.forget(&es("a"));
    assert!(t.is_empty(), "an unused secret is not tracked");
}

#[test]
fn rotation_wakes_the_users_of_each_stage_that_moved() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    let subscribe = |t: &mut Tracker, name: &str, s: &str| {
        t.subscribe(
            &es(name),
            &[(key.clone(), stage(s))],
            Duration::from_secs(10),
        )
    };
    subscribe(&mut t, "current", "AWSCURRENT");
    subscribe(&mut t, "previous", "AWSPREVIOUS");
    subscribe(&mut t, "pending", "AWSPENDING");
    let first = apply(&mut t, &key, Some(meta(&[("v1", CURRENT)])), false, now);
    assert_eq!(first, Applied::default(), "the first check is no change");

    // A rotation stages v2 as AWSPENDING: only AWSPENDING consumers move.
    let staged = apply(
        &mut t,
        &key,
        Some(meta(&[("v1", CURRENT), ("v2", PENDING)])),
        false,
        now,
    );
    assert_eq!(staged.wake, vec![es("pending")]);
    assert_eq!(staged.new_current, None);
    assert!(t.entry(&key).unwrap().rotation_in_progress());

    // Promotion: AWSCURRENT and AWSPREVIOUS consumers move, AWSPENDING ones too (gone).
    let promoted = apply(
        &mut t,
        &key,
        Some(meta(&[("v1", PREVIOUS), ("v2", CURRENT)])),
        false,
        now,
    );
    let mut woken = promoted.wake.clone();
    woken.sort();
    assert_eq!(woken, vec![es("current"), es("pending"), es("previous")]);
    assert_eq!(promoted.new_current, Some((meta(&[]).arn, "v2".to_owned())));
    assert!(!t.entry(&key).unwrap().rotation_in_progress());
    assert_eq!(
        t.known(&key, &stage("AWSPREVIOUS"), Duration::from_secs(10), now),
        Known::Version {
            arn: meta(&[]).arn,
            version_id: "v1".into(),
            stages: vec!["AWSPREVIOUS".into()]
        }
    );

    // The same answer again changes nothing.
    let same = apply(
        &mut t,
        &key,
        Some(meta(&[("v1", PREVIOUS), ("v2", CURRENT)])),
        false,
        now,
    );
    assert_eq!(same, Applied::default());
}

#[test]
fn known_only_when_fresh_enough() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    t.subscribe(
        &es("a"),
        &[(key.clone(), stage("AWSCURRENT"))],
        Duration::from_secs(10),
    );
    let max = Duration::from_secs(10);
    assert_eq!(
        t.known(&key, &stage("AWSCURRENT"), max, now),
        Known::Unknown
    );
    apply(&mut t, &key, Some(meta(&[("v1", CURRENT)])), false, now);
    assert!(matches!(
        t.known(&key, &stage("AWSCURRENT"), max, now + max),
        Known::Version { .. }
    ));
    assert_eq!(
        t.known(&key, &stage("AWSCURRENT"), max, now + max * 2),
        Known::Unknown
    );
    assert_eq!(
        t.known(&key, &stage("AWSPENDING"), max, now),
        Known::VersionMissing
    );
    assert_eq!(
        t.known(&key, &VersionSelector::Id("gone".into()), max, now),
        Known::Unknown,
        "an id not in the version map may still exist (unlabelled): AWS decides"
    );
    let gone = apply(&mut t, &key, None, true, now);
    assert_eq!(gone.wake, vec![es("a")]);
    assert_eq!(
        t.known(&key, &stage("AWSCURRENT"), max, now),
        Known::SecretMissing
    );
    let mut deleted = meta(&[("v1", CURRENT)]);
    let deleted_at = Some(SystemTime::now());
    deleted.deleted_date = deleted_at;
    let scheduled = apply(&mut t, &key, Some(deleted), true, now);
    assert_eq!(scheduled.wake, vec![es("a")]);
    assert_eq!(
        t.known(&key, &stage("AWSCURRENT"), max, now),
        Known::ScheduledForDeletion(deleted_at)
    );
}

#[test]
fn a_pending_version_that_never_becomes_current_is_stuck() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    t.subscribe(
        &es("a"),
        &[(key.clone(), stage("AWSCURRENT"))],
        Duration::from_secs(10),
    );
    let stuck_after = Duration::from_secs(3600);
    let rotating = meta(&[("v1", CURRENT), ("v2", PENDING)]);
    apply(&mut t, &key, Some(rotating.clone()), false, now);
    apply(
        &mut t,
        &key,
        Some(rotating.clone()),
        false,
        now + Duration::from_secs(1800),
    );
    assert!(
        t.stuck(now + Duration::from_secs(1800), stuck_after)
            .is_empty()
    );
    assert_eq!(
        t.stuck(now + Duration::from_secs(3601), stuck_after),
        vec![&key]
    );
    // A new attempt (another pending version) starts the clock again.
    apply(
        &mut t,
        &key,
        Some(meta(&[("v1", CURRENT), ("v3", PENDING)])),
        false,
        now + Duration::from_secs(3602),
    );
    assert!(
        t.stuck(now + Duration::from_secs(3700), stuck_after)
            .is_empty()
    );
}

fn current() -> VersionSelector {
    stage("AWSCURRENT")
}

#[test]
fn a_value_read_that_contradicts_the_listing_makes_the_secret_due() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    t.subscribe(
        &es("a"),
        &[(key.clone(), current())],
        Duration::from_secs(60),
    );
    apply(&mut t, &key, Some(meta(&[("v1", CURRENT)])), false, now);
    t.learn_from_value(
        &key,
        &current(),
        "arn",
        "v1",
        &["AWSCURRENT".to_owned()],
        now,
    );
    assert!(!t.entry(&key).unwrap().due(now));
    t.learn_from_value(
        &key,
        &current(),
        "arn",
        "v2",
        &["AWSCURRENT".to_owned()],
        now,
    );
    assert!(t.entry(&key).unwrap().due(now));
}

#[test]
fn a_check_wakes_every_reader_served_another_version() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    let previous = stage("AWSPREVIOUS");
    t.subscribe(
        &es("app"),
        &[(key.clone(), current())],
        Duration::from_secs(60),
    );
    t.subscribe(
        &es("old"),
        &[(key.clone(), previous.clone())],
        Duration::from_secs(60),
    );
    // Before the tracker's first check: the app read v1 as current; a rotation later, the
    // other reader read v1 as previous.
    t.served(&es("app"), &key, &current(), "v1");
    t.served(&es("old"), &key, &previous, "v1");
    // The first check finds v2 current: the app is behind, the other reader is not.
    let first = apply(
        &mut t,
        &key,
        Some(meta(&[("v1", PREVIOUS), ("v2", CURRENT)])),
        false,
        now,
    );
    assert_eq!(first.wake, vec![es("app")]);
    assert_eq!(first.new_current, Some((meta(&[]).arn, "v2".to_owned())));
    // Once served the new version, the same answer wakes nobody.
    t.served(&es("app"), &key, &current(), "v2");
    let again = apply(
        &mut t,
        &key,
        Some(meta(&[("v1", PREVIOUS), ("v2", CURRENT)])),
        false,
        now,
    );
    assert_eq!(again, Applied::default());
    // A deletion before any check wakes the readers too.
    let gone = "app/gone".to_owned();
    t.subscribe(
        &es("g"),
        &[(gone.clone(), current())],
        Duration::from_secs(60),
    );
    t.served(&es("g"), &gone, &current(), "v1");
    assert_eq!(apply(&mut t, &gone, None, true, now).wake, vec![es("g")]);
}

#[test]
fn a_recent_read_serves_other_readers_until_the_first_check() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    let max = Duration::from_secs(10);
    t.subscribe(&es("a"), &[(key.clone(), current())], max);
    t.learn_from_value(
        &key,
        &current(),
        "arn",
        "v1",
        &["AWSCURRENT".to_owned()],
        now,
    );
    assert!(matches!(
        t.known(&key, &current(), max, now + Duration::from_secs(5)),
        Known::Version { ref version_id, .. } if version_id == "v1"
    ));
    assert_eq!(
        t.known(&key, &current(), max, now + Duration::from_secs(11)),
        Known::Unknown,
        "older than the reader accepts"
    );
    assert_eq!(
        t.known(&key, &stage("AWSPREVIOUS"), max, now),
        Known::Unknown,
        "another stage was not read"
    );
    assert!(t.entry(&key).unwrap().due(now), "a read is no check");
}

#[test]
fn a_listing_that_contradicts_a_description_is_not_believed() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    t.subscribe(
        &es("a"),
        &[(key.clone(), current())],
        Duration::from_secs(60),
    );
    apply(
        &mut t,
        &key,
        Some(meta(&[("v1", PREVIOUS), ("v2", CURRENT)])),
        true,
        now,
    );
    assert!(t.contradicts_confirmed(&key, &meta(&[("v1", CURRENT)])));
    assert!(!t.contradicts_confirmed(&key, &meta(&[("v1", PREVIOUS), ("v2", CURRENT)])));
    // Only a described state is protected from listings.
    let other = "app/other".to_owned();
    t.subscribe(
        &es("b"),
        &[(other.clone(), current())],
        Duration::from_secs(60),
    );
    apply(&mut t, &other, Some(meta(&[("v2", CURRENT)])), false, now);
    assert!(!t.contradicts_confirmed(&other, &meta(&[("v1", CURRENT)])));
}

#[test]
fn unlisted_pinned_versions_are_asked_of_aws() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    let pinned = VersionSelector::Id("v0".into());
    t.subscribe(
        &es("a"),
        &[(key.clone(), pinned.clone())],
        Duration::from_secs(60),
    );
    apply(&mut t, &key, Some(meta(&[("v1", CURRENT)])), true, now);
    assert_eq!(
        t.known(&key, &pinned, Duration::from_secs(60), now),
        Known::Unknown
    );
    assert_eq!(t.arn(&key), Some(meta(&[]).arn.as_str()));
}

#[test]
fn a_check_that_failed_for_the_secret_alone_is_a_first_check_made() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let (denied, answered) = ("app/denied".to_owned(), "app/db".to_owned());
    for key in [&denied, &answered] {
        t.subscribe(
            &es(key),
            &[(key.clone(), current())],
            Duration::from_secs(60),
        );
        assert!(t.entry(key).unwrap().awaits_first_check());
    }
    t.postpone(&denied, now);
    apply(&mut t, &answered, Some(meta(&[("v1", CURRENT)])), true, now);
    assert!(!t.entry(&denied).unwrap().awaits_first_check());
    assert!(!t.entry(&answered).unwrap().awaits_first_check());
}

#[test]
fn a_secret_recreated_under_its_name_wakes_every_reader_pinned_ones_too() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    let pinned = VersionSelector::Id("v1".into());
    t.subscribe(
        &es("pinned"),
        &[(key.clone(), pinned.clone())],
        Duration::from_secs(1),
    );
    apply(&mut t, &key, Some(meta(&[("v1", CURRENT)])), true, now);
    t.served(&es("pinned"), &key, &pinned, "v1");
    // Rotations leave a pinned reader alone: its version does not move.
    let later = now + Duration::from_secs(1);
    let rotated = apply(
        &mut t,
        &key,
        Some(meta(&[("v1", PREVIOUS), ("v2", CURRENT)])),
        true,
        later,
    );
    assert!(rotated.wake.is_empty(), "{rotated:?}");
    // Deleted and created again between two checks: a new ARN, v1 is gone.
    let mut reborn = meta(&[("v9", CURRENT)]);
    reborn.arn = "arn:aws:secretsmanager:us-east-1:1:secret:app/db-ZyXwVu".into();
    let applied = apply(
        &mut t,
        &key,
        Some(reborn),
        true,
        later + Duration::from_secs(1),
    );
    assert_eq!(applied.wake, vec![es("pinned")]);
    assert!(applied.changed);

    // Recreated before the tracker's first check: the value read tells the old ARN.
    let mut t = Tracker::default();
    t.subscribe(
        &es("pinned"),
        &[(key.clone(), pinned.clone())],
        Duration::from_secs(1),
    );
    t.learn_from_value(
        &key,
        &pinned,
        &meta(&[]).arn,
        "v1",
        &["AWSCURRENT".to_owned()],
        now,
    );
    t.served(&es("pinned"), &key, &pinned, "v1");
    let mut reborn = meta(&[("v9", CURRENT)]);
    reborn.arn = "arn:aws:secretsmanager:us-east-1:1:secret:app/db-ZyXwVu".into();
    let applied = apply(&mut t, &key, Some(reborn), true, later);
    assert_eq!(applied.wake, vec![es("pinned")]);
    // The same secret at its first check wakes nobody.
    let mut t = Tracker::default();
    t.subscribe(
        &es("pinned"),
        &[(key.clone(), pinned.clone())],
        Duration::from_secs(1),
    );
    t.learn_from_value(
        &key,
        &pinned,
        &meta(&[]).arn,
        "v1",
        &["AWSCURRENT".to_owned()],
        now,
    );
    let applied = apply(&mut t, &key, Some(meta(&[("v1", CURRENT)])), true, later);
    assert!(applied.wake.is_empty(), "{applied:?}");
}

#[test]
fn a_reader_left_behind_is_woken_once_per_version() {
    let mut t = Tracker::default();
    let now = Instant::now();
    let key = "app/db".to_owned();
    t.subscribe(
        &es("a"),
        &[(key.clone(), current())],
        Duration::from_secs(1),
    );
    apply(&mut t, &key, Some(meta(&[("v1", CURRENT)])), true, now);
    t.served(&es("a"), &key, &current(), "v1");
    let v2 = meta(&[("v1", PREVIOUS), ("v2", CURRENT)]);
    assert_eq!(
        apply(&mut t, &key, Some(v2.clone()), true, now).wake,
        [es("a")]
    );
    // Its sync failed (nothing served): its own backoff retries it, not every check.
    assert!(
        apply(&mut t, &key, Some(v2.clone()), true, now)
            .wake
            .is_empty()
    );
    assert!(apply(&mut t, &key, Some(v2), true, now).wake.is_empty());
    let v3 = meta(&[("v2", PREVIOUS), ("v3", CURRENT)]);
    assert_eq!(
        apply(&mut t, &key, Some(v3), true, now).wake,
        [es("a")],
        "a newer version"
    );
}

#[test]
fn references_come_and_go_with_their_external_secrets() {
    let mut t = Tracker::default();
    let hour = Duration::from_secs(3600);
    let refs = |keys: &[&str]| -> Vec<(String, VersionSelector)> {
        keys.iter()
            .map(|k| ((*k).to_owned(), stage("AWSCURRENT")))
            .collect()
    };
    t.subscribe(&es("a"), &refs(&["k1", "k2"]), hour);
    t.subscribe(&es("b"), &refs(&["k2"]), hour);
    assert_eq!((t.len(), t.references()), (2, 3));
    // A changed spec replaces what it read before.
    t.subscribe(&es("a"), &refs(&["k3"]), hour);
    assert_eq!((t.len(), t.references()), (2, 2));
    t.forget(&es("a"));
    t.forget(&es("b"));
    assert_eq!((t.len(), t.references()), (0, 0));
}

#[test]
fn retain_forgets_the_refused_and_keeps_the_rest() {
    let mut t = Tracker::default();
    let hour = Duration::from_secs(3600);
    let current = |k: &str| vec![(k.to_owned(), stage("AWSCURRENT"))];
    t.subscribe(&es("kept"), &current("shared"), hour);
    t.subscribe(&es("gone"), &current("shared"), hour);
    t.subscribe(&es("gone-alone"), &current("own"), hour);
    assert_eq!((t.len(), t.references()), (2, 3));
    t.retain(|e| e.1 == "kept");
    assert_eq!((t.len(), t.references()), (1, 1));
    let subscribers: Vec<&EsRef> = t.entry("shared").unwrap().subscribers().collect();
    assert_eq!(subscribers, vec![&es("kept")]);
    assert!(t.entry("own").is_none(), "a secret nobody reads is dropped");
}
