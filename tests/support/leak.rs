//! The leak scan every integration test takes part in without doing anything: secret values must
//! never reach the operator's logs, events, statuses, `/metrics`, the API server's error answers
//! or panic output.
//!
//! - **Canaries**: the values tests put into AWS and into Kubernetes Secrets through
//!   [`super::objects`] (`create_aws`, `stage_pending`, `rotate`, `put_current`,
//!   `create_secret`, the credential Secret's secret access key) are registered by [`register`]:
//!   the whole value and every string leaf of a JSON value, when at least [`MIN_CANARY_LEN`]
//!   bytes long. Shorter values (`v`, `one`, `2`, ...) could show up by chance in names, version
//!   ids or numbers; they are counted as left out, not scanned.
//! - **Forms**: each canary is searched as it is, base64-encoded, JSON-escaped and JSON-escaped
//!   twice (a quoted value inside a JSON string) ([`Form`]).
//! - **Places** ([`Place`]): every log line of this process at trace level (a process-wide
//!   tracing subscriber installed by [`install`], so the in-process operator's logs, the AWS
//!   SDK's and kube's included; the fake API server's own logs and the events inside the tests'
//!   own AWS write calls are left out, as they are not the operator's), the log files of
//!   operators run as processes ([`log_to_scanned_file`]), the panic messages of code outside
//!   `tests/`, and at each cluster stop ([`scan_cluster`], from `TestCluster`'s drop): every
//!   Event and every object's `status` in the fake, the `/metrics` text of every operator the
//!   cluster ran and the body of every error answer the fake gave (to the tests and to the
//!   operator).
//!
//! Log lines and panics are matched as they are written (against the canaries registered so far:
//! a value is registered before it is put anywhere, so nothing is missed); the hits wait for the
//! next cluster stop, which reports them with its own. A hit fails the test whose cluster stops,
//! naming the place, the form and the test that registered the canary — never the value.
//!
//! Only test binaries scan (`cfg!(test)`): the benchmarks that share this harness are not slowed
//! down by a trace-level subscriber.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use serde_json::Value;
use stagesync::metrics::Metrics;

/// Values shorter than this are not canaries: too likely to appear by chance.
pub const MIN_CANARY_LEN: usize = 12;

/// A form a canary is searched in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Form {
    /// The value's bytes as they are.
    Plain,
    /// Standard base64 with padding (how Secret data travels in JSON).
    Base64,
    /// The value as a JSON string's content (quotes, backslashes, control characters escaped).
    JsonEscaped,
    /// JSON-escaped twice: a quoted value inside a message that is itself a JSON string (a
    /// status, an event, a JSON log line).
    JsonEscapedTwice,
}

/// Every form, in the order they are searched.
pub const FORMS: [Form; 4] = [
    Form::Plain,
    Form::Base64,
    Form::JsonEscaped,
    Form::JsonEscapedTwice,
];

impl Form {
    /// How the form is named in reports and in `docs/reliability.md`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Base64 => "base64",
            Self::JsonEscaped => "JSON-escaped",
            Self::JsonEscapedTwice => "JSON-escaped twice",
        }
    }

    fn encode(self, value: &str) -> String {
        match self {
            Self::Plain => value.to_owned(),
            Self::Base64 => base64::engine::general_purpose::STANDARD.encode(value),
            Self::JsonEscaped => json_escape(value),
            Self::JsonEscapedTwice => json_escape(&json_escape(value)),
        }
    }
}

fn json_escape(value: &str) -> String {
    let quoted = serde_json::to_string(value).expect("a string serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

/// Where the scan looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// Log lines of the test process (the in-process operator), at trace level.
    Logs,
    /// Log files of operators run as processes, at trace level.
    ProcessLogs,
    /// Panic messages of code outside `tests/` (the operator's tasks).
    Panics,
    /// Events (`core/v1` and `events.k8s.io/v1`), whole.
    Events,
    /// The `status` of every object (ExternalSecrets, SecretStores, ClusterSecretStores, ...).
    Statuses,
    /// The `/metrics` text of each operator.
    Metrics,
    /// The bodies of the API server's error answers (what `kubectl` and the operator are told).
    ErrorResponses,
}

/// Every place, in report order.
pub const PLACES: [Place; 7] = [
    Place::Logs,
    Place::ProcessLogs,
    Place::Panics,
    Place::Events,
    Place::Statuses,
    Place::Metrics,
    Place::ErrorResponses,
];

impl Place {
    /// What the place is, for reports and `docs/reliability.md`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Logs => {
                "log lines of the test process at trace level, every crate: the in-process \
                 operator, the AWS SDK, kube (the fake API server's own lines and the tests' own \
                 AWS writes left out)"
            }
            Self::ProcessLogs => "log files of operators run as processes (trace level)",
            Self::Panics => "panic messages of the operator's code",
            Self::Events => "every Event, whole",
            Self::Statuses => "the status of every object (ExternalSecrets, stores, ...)",
            Self::Metrics => "the /metrics text of each operator",
            Self::ErrorResponses => "the bodies of the API server's error answers",
        }
    }

    /// What one scanned item of this place is.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Logs | Self::ProcessLogs => "log lines",
            Self::Panics => "panic messages",
            Self::Events => "events",
            Self::Statuses => "statuses",
            Self::Metrics => "metrics texts",
            Self::ErrorResponses => "error answers",
        }
    }
}

/// A canary found somewhere. Holds no value: which canary is told by its registering test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub place: Place,
    /// Which item of the place (an Event's name, a log line's target, ...).
    pub item: String,
    pub form: Form,
    /// Which canary, by registration order (never its value).
    pub canary: usize,
    /// The test (thread) that registered the canary.
    pub owner: String,
    /// Registered by [`plant`] (a self-test of the scan), so it fails nothing.
    pub planted: bool,
    /// The text around the hit, every canary in it replaced by `<canary>`.
    pub context: String,
}

struct Canary {
    owner: String,
    planted: bool,
}

/// The canaries and the automaton over their forms.
#[derive(Default)]
struct Canaries {
    list: Vec<Canary>,
    seen: HashSet<String>,
    /// Values left out for being shorter than [`MIN_CANARY_LEN`].
    short: u64,
    /// Rebuilt when a canary is added; `None` while there are none.
    matcher: Option<Arc<Matcher>>,
    /// Every (pattern, canary, form) so far.
    patterns: Vec<(String, usize, Form)>,
}

struct Matcher {
    automaton: AhoCorasick,
    /// Pattern id → (canary, form).
    meaning: Vec<(usize, Form)>,
}

static CANARIES: RwLock<Option<Canaries>> = RwLock::new(None);
/// Hits of log lines and panics, waiting for the next cluster stop.
static PENDING: Mutex<Vec<Hit>> = Mutex::new(Vec::new());
/// Items scanned per place, since the process started.
static SCANNED: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];
static SCANS: AtomicU64 = AtomicU64::new(0);
/// Process log files: path → (bytes already scanned, label).
static FILES: Mutex<BTreeMap<PathBuf, (u64, String)>> = Mutex::new(BTreeMap::new());

fn count(place: Place, n: u64) {
    SCANNED[place as usize].fetch_add(n, Ordering::Relaxed);
}

/// Registers a value the tests put into AWS or a Secret (and each string leaf of it, when it is
/// a JSON object or array). See the module documentation for the rule.
pub fn register(value: &str) {
    add(value, false);
    if let Ok(json @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(value) {
        for leaf in string_leaves(&json) {
            add(leaf, false);
        }
    }
}

/// Registers a canary that fails nothing: its hits are returned by [`take_planted`] only. For
/// the scan's own tests (a scan that cannot find anything proves nothing). Returns its id.
pub fn plant(value: &str) -> usize {
    add(value, true).expect("a planted value is long enough and new")
}

fn string_leaves(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(string_leaves).collect(),
        Value::Object(map) => map.values().flat_map(string_leaves).collect(),
        _ => Vec::new(),
    }
}

/// Adds a canary; its id, unless it is short or known already.
fn add(value: &str, planted: bool) -> Option<usize> {
    let mut guard = CANARIES.write().unwrap();
    let canaries = guard.get_or_insert_with(Canaries::default);
    if value.len() < MIN_CANARY_LEN {
        canaries.short += 1;
        return None;
    }
    if !canaries.seen.insert(value.to_owned()) {
        return None;
    }
    let owner = std::thread::current()
        .name()
        .unwrap_or("an unnamed thread")
        .to_owned();
    let id = canaries.list.len();
    canaries.list.push(Canary { owner, planted });
    for form in FORMS {
        canaries.patterns.push((form.encode(value), id, form));
    }
    // Identical patterns (a value without characters to escape is its own JSON-escaped form)
    // keep their first meaning.
    let mut unique: HashMap<&str, (usize, Form)> = HashMap::new();
    let mut texts = Vec::new();
    let mut meaning = Vec::new();
    for (text, id, form) in &canaries.patterns {
        if unique.insert(text.as_str(), (*id, *form)).is_none() {
            texts.push(text.as_str());
            meaning.push((*id, *form));
        }
    }
    let automaton = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&texts)
        .expect("the canary automaton builds");
    canaries.matcher = Some(Arc::new(Matcher { automaton, meaning }));
    Some(id)
}

/// Canaries registered and values left out for being short, so far in this process.
pub fn canary_counts() -> (usize, u64) {
    let guard = CANARIES.read().unwrap();
    guard.as_ref().map_or((0, 0), |c| (c.list.len(), c.short))
}

/// Items scanned per place so far in this process.
pub fn scanned() -> BTreeMap<Place, u64> {
    PLACES
        .iter()
        .map(|p| (*p, SCANNED[*p as usize].load(Ordering::Relaxed)))
        .collect()
}

/// The hits of `text` (one item of `place`).
pub fn find(place: Place, item: &str, text: &[u8]) -> Vec<Hit> {
    let guard = CANARIES.read().unwrap();
    let Some(canaries) = guard.as_ref() else {
        return Vec::new();
    };
    let Some(matcher) = &canaries.matcher else {
        return Vec::new();
    };
    matcher
        .automaton
        .find_iter(text)
        .map(|m| {
            let (id, form) = matcher.meaning[m.pattern().as_usize()];
            let canary = &canaries.list[id];
            let around = &text[m.start().saturating_sub(160)..(m.end() + 160).min(text.len())];
            Hit {
                place,
                item: item.to_owned(),
                form,
                canary: id,
                owner: canary.owner.clone(),
                planted: canary.planted,
                context: String::from_utf8_lossy(
                    &matcher
                        .automaton
                        .replace_all_bytes(around, &vec![&b"<canary>"[..]; matcher.meaning.len()]),
                )
                .into_owned(),
            }
        })
        .collect()
}

/// Scans text a test collected itself (the `/metrics` of an operator process, ...); the hits
/// are reported at the next cluster stop.
pub fn scan_text(place: Place, item: &str, text: &str) {
    count(place, 1);
    remember(find(place, item, text.as_bytes()));
}

fn remember(hits: Vec<Hit>) {
    if !hits.is_empty() {
        PENDING.lock().unwrap().extend(hits);
    }
}

/// Hits of planted canaries found so far (they are removed from the pending hits).
pub fn take_planted() -> Vec<Hit> {
    let mut pending = PENDING.lock().unwrap();
    let (planted, rest) = pending.drain(..).partition(|h: &Hit| h.planted);
    *pending = rest;
    planted
}

// ---------------------------------------------------------------------------------------------
// Capture: the process-wide subscriber and the panic hook.

/// Installs the capturing subscriber (trace level) and the panic hook, once per test binary. A
/// test binary must not install a subscriber of its own; set `STAGESYNC_TEST_LOG` (or
/// `ROTATION_TEST_LOG`) to an env-filter to see the logs as well.
pub fn install() {
    if !cfg!(test) {
        return;
    }
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        use tracing_subscriber::{EnvFilter, Layer as _, filter::DynFilterFn, fmt};
        let capture = fmt::layer()
            .with_ansi(false)
            .with_writer(|| LineScanner)
            .with_filter(DynFilterFn::new(|meta, cx| {
                !meta.target().starts_with("apiserver_fake") && !in_test_side_call(meta, cx)
            }));
        let echo = ["STAGESYNC_TEST_LOG", "ROTATION_TEST_LOG"]
            .iter()
            .find_map(|v| std::env::var(v).ok())
            .map(|filter| {
                fmt::layer()
                    .with_test_writer()
                    .with_filter(EnvFilter::new(filter))
            });
        tracing_subscriber::registry()
            .with(capture)
            .with(echo)
            .try_init()
            .expect("the leak scan's subscriber is the only one of a test binary");
        forget_old_logs();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            scan_panic(info);
            previous(info);
        }));
    });
}

/// The AWS operations the operator calls. Any other one (`CreateSecret`, `PutSecretValue`, ...)
/// is a test's own AWS write, whose request (with the value) the SDK logs at trace level.
const OPERATOR_OPERATIONS: &[&str] = &[
    "GetSecretValue",
    "BatchGetSecretValue",
    "DescribeSecret",
    "ListSecrets",
];

fn in_test_side_call<S>(
    meta: &tracing::Metadata<'_>,
    cx: &tracing_subscriber::layer::Context<'_, S>,
) -> bool
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if meta.is_span() {
        return false;
    }
    let Some(current) = cx.lookup_current() else {
        return false;
    };
    current.scope().any(|span| {
        span.name()
            .strip_prefix("Secrets Manager.")
            .is_some_and(|op| !OPERATOR_OPERATIONS.contains(&op))
    })
}

/// Scans each formatted log line as it is written, and keeps nothing.
struct LineScanner;

impl std::io::Write for LineScanner {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        count(Place::Logs, 1);
        remember(find(Place::Logs, &log_target(line), line));
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The target of a formatted line (`<time> <LEVEL> <spans>: <target>: ...`), to say where a hit
/// was without quoting the line.
fn log_target(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(400)]);
    let level_end = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
        .iter()
        .find_map(|l| text.find(l).map(|i| i + l.len()))
        .unwrap_or(0);
    let rest = &text[level_end..];
    let target = rest
        .split(": ")
        .map(str::trim)
        .find(|part| part.contains("::") || part.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .unwrap_or("?");
    format!(
        "a log line of {}",
        target.chars().take(80).collect::<String>()
    )
}

fn scan_panic(info: &std::panic::PanicHookInfo<'_>) {
    let Some(location) = info.location() else {
        return;
    };
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_default();
    scan_panic_message(location.file(), location.line(), &message);
}

/// Scans one panic message raised at `file:line`. A test's own failed assertion (in `tests/` or
/// `benches/`) may print what it compared and is left out; the operator's code may not.
pub fn scan_panic_message(file: &str, line: u32, message: &str) {
    if file.starts_with("tests/") || file.starts_with("benches/") {
        return;
    }
    count(Place::Panics, 1);
    let item = format!("a panic at {file}:{line}");
    remember(find(Place::Panics, &item, message.as_bytes()));
}

// ---------------------------------------------------------------------------------------------
// Operators run as processes.

/// Points a `stagesync` process's log at a file that each cluster stop scans, at trace level
/// (`RUST_LOG=trace`, which replaces any level set before). Returns the file, for the test's own
/// reading. Call it after the command's other settings.
pub fn log_to_scanned_file(cmd: &mut tokio::process::Command, label: &str) -> PathBuf {
    let dir = log_dir();
    std::fs::create_dir_all(&dir).expect("the log directory");
    let path = dir.join(format!(
        "{}.log",
        super::unique_name(label).replace(['/', ' '], "-")
    ));
    let file = std::fs::File::create(&path).expect("the log file");
    cmd.env("RUST_LOG", "trace").stderr(file);
    FILES
        .lock()
        .unwrap()
        .insert(path.clone(), (0, label.to_owned()));
    path
}

fn log_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("leak-scan/logs")
}

/// Removes process logs of earlier runs (untouched for an hour), so they do not pile up.
fn forget_old_logs() {
    let Ok(entries) = std::fs::read_dir(log_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Scans what the process log files gained since the last scan.
fn scan_files() -> Vec<Hit> {
    let mut hits = Vec::new();
    for (path, (offset, label)) in FILES.lock().unwrap().iter_mut() {
        let Ok(mut file) = std::fs::File::open(path) else {
            continue;
        };
        let mut text = Vec::new();
        if file.seek(SeekFrom::Start(*offset)).is_err() || file.read_to_end(&mut text).is_err() {
            continue;
        }
        // Only whole lines: the process may be in the middle of one.
        let end = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let text = &text[..end];
        *offset += end as u64;
        count(
            Place::ProcessLogs,
            text.iter().filter(|b| **b == b'\n').count() as u64,
        );
        hits.extend(find(
            Place::ProcessLogs,
            &format!("the log of {label} ({})", file_name(path)),
            text,
        ));
    }
    hits
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The scan at a cluster stop.

/// What one scan found.
#[derive(Debug, Default)]
pub struct Report {
    /// Hits of real canaries (each fails the test).
    pub hits: Vec<Hit>,
    /// Hits of planted canaries (fail nothing).
    pub planted: Vec<Hit>,
}

impl Report {
    /// The failure message, if anything leaked.
    pub fn failure(&self) -> Option<String> {
        if self.hits.is_empty() {
            return None;
        }
        let lines: Vec<String> = self
            .hits
            .iter()
            .map(|h| {
                format!(
                    "  - in {} ({}): a canary of test `{}`, {} form, in: {}",
                    h.item,
                    h.place.describe(),
                    h.owner,
                    h.form.describe(),
                    h.context
                )
            })
            .collect();
        Some(format!(
            "leak scan: {} secret value(s) found where values must never be (values not shown):\n{}",
            self.hits.len(),
            lines.join("\n")
        ))
    }
}

/// Scans, at a cluster stop: the pending log and panic hits, the process log files, and (on the
/// fake) every Event, every status and the error answers, plus the `/metrics` of `operators`.
pub fn scan_cluster(
    fake: Option<&apiserver_fake::FakeApiServer>,
    operators: &[Arc<Metrics>],
) -> Report {
    let mut hits = std::mem::take(&mut *PENDING.lock().unwrap());
    hits.extend(scan_files());
    for (i, metrics) in operators.iter().enumerate() {
        count(Place::Metrics, 1);
        let item = format!("the /metrics of operator #{i}");
        hits.extend(find(Place::Metrics, &item, metrics.render().as_bytes()));
    }
    if fake.is_none() {
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            eprintln!(
                "leak scan: on a real cluster, events, statuses and error answers are not scanned \
                 (they are read from the API server fake); logs, panics and /metrics are"
            );
        });
    }
    if let Some(fake) = fake {
        hits.extend(scan_objects(fake));
        for (code, body) in fake.take_error_responses() {
            count(Place::ErrorResponses, 1);
            let item = format!("an error answer ({code})");
            hits.extend(find(Place::ErrorResponses, &item, body.as_bytes()));
        }
    }
    SCANS.fetch_add(1, Ordering::Relaxed);
    write_summary();
    let (planted, hits) = hits.into_iter().partition(|h| h.planted);
    Report { hits, planted }
}

/// Every Event, and every other object's status, as the fake stores them.
fn scan_objects(fake: &apiserver_fake::FakeApiServer) -> Vec<Hit> {
    let store = &fake.cluster().store;
    let mut hits = Vec::new();
    for storage in store.storages() {
        let (_, objects) = store.list(&storage, None);
        for object in objects {
            let name = format!(
                "{} {}/{}",
                object["kind"].as_str().unwrap_or("object"),
                object["metadata"]["namespace"].as_str().unwrap_or(""),
                object["metadata"]["name"].as_str().unwrap_or("")
            );
            let (place, text) = if object["kind"] == "Event" {
                (Place::Events, object.to_string())
            } else {
                match object.get("status") {
                    Some(status) if !status.is_null() => (Place::Statuses, status.to_string()),
                    _ => continue,
                }
            };
            count(place, 1);
            hits.extend(find(place, &name, text.as_bytes()));
        }
    }
    hits
}

/// Writes this binary's running totals to `<target tmp>/leak-scan/<binary>.txt` (what a full run
/// scanned is the sum over the binaries), and prints them.
fn write_summary() {
    let (canaries, short) = canary_counts();
    let places: Vec<String> = scanned()
        .into_iter()
        .map(|(p, n)| format!("{n} {}", p.unit()))
        .collect();
    let line = format!(
        "leak scan: {canaries} canaries ({short} short values left out) in {} forms, {} scans: {}",
        FORMS.len(),
        SCANS.load(Ordering::Relaxed),
        places.join(", ")
    );
    eprintln!("{line}");
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| {
            s.rsplit_once('-')
                .map_or(s.clone(), |(name, _)| name.to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("leak-scan");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(format!("{binary}.txt")), format!("{line}\n"));
    }
}
