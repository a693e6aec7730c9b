//! Fault injection: rules matched per request (verb, group/resource, namespace, name, user)
//! whose actions are an error Status (500, 429 with Retry-After, 409, 503, ...), added
//! latency, dropping watch streams after N events, a forced 410 on the next watch, or
//! refusing connections for a while (a simulated API-server restart). Rules count down
//! with `times`. Settable from tests (`Faults`) and from a YAML/JSON file.
//!
//! Also the request counters tests measure a client's request rate with (during a fault,
//! say): every resource request by user, verb, resource and namespace, and the connections
//! and requests refused during a simulated restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::ApiError;

/// One rule. Empty match fields match anything.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// get, list, watch, create, update, patch, delete, deletecollection (or `*`/unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// API group ("" for core). Unset: any group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Resource plural, e.g. `secrets`; `resource/subresource` matches a subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The authenticated user name, e.g. `system:serviceaccount:ns:sa` (faults for one client
    /// while others, a test's own requests say, go through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Answer with this HTTP status code and a matching Status body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Message of the injected Status (a default per code otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `Retry-After` seconds (429/503 default to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Delay the request by this many milliseconds (before any other action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Watches only: end the stream after this many events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_watch_after_events: Option<usize>,
    /// Watches only: answer with a 410 Expired ERROR event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_gone: Option<bool>,
    /// Close the listener and reset every connection for this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_connections_ms: Option<u64>,
    /// Apply this many times, then the rule is spent (unset: forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// What a request is, for matching.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// The authenticated user's name.
    pub user: String,
}

/// What the request counters count by: who asked for which verb on which resource, where.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// The authenticated user's name.
    pub user: String,
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// Resource plural; `resource/subresource` for a subresource.
    pub resource: String,
    /// Empty for cluster-scoped and all-namespace requests.
    pub namespace: String,
}

/// What the matched rules ask for.
#[derive(Debug, Default)]
pub struct Decision {
    pub latency: Option<Duration>,
    pub error: Option<ApiError>,
    pub drop_watch_after: Option<usize>,
    pub watch_gone: bool,
    pub refuse_for: Option<Duration>,
}

struct RuleState {
    rule: FaultRule,
    hits: u64,
}

struct Inner {
    rules: Vec<RuleState>,
    requests: BTreeMap<RequestKey, u64>,
    refused: u64,
}

/// Shared fault handle (clone freely).
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
    refuse_tx: Arc<watch::Sender<Option<Instant>>>,
    /// Bumped to end every open watch stream.
    watch_ends: Arc<watch::Sender<u64>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self::new()
    }
}

fn matches(rule: &FaultRule, r: &RequestInfo) -> bool {
    let opt =
        |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w == "*" || w == got);
    let resource = full_resource(r);
    opt(&rule.verb, &r.verb)
        && opt(&rule.user, &r.user)
        && opt(&rule.group, &r.group)
        && opt(&rule.resource, &resource)
        && opt(&rule.namespace, r.namespace.as_deref().unwrap_or_default())
        && opt(&rule.name, r.name.as_deref().unwrap_or_default())
}

/// `resource` or `resource/subresource`.
fn full_resource(r: &RequestInfo) -> String {
    match &r.subresource {
        Some(s) => format!("{}/{}", r.resource, s),
        None => r.resource.clone(),
    }
}

fn default_reason(code: u16) -> (&'static str, &'static str) {
    match code {
        400 => ("BadRequest", "injected bad request"),
        401 => ("Unauthorized", "Unauthorized"),
        403 => ("Forbidden", "injected forbidden"),
        404 => ("NotFound", "injected not found"),
        409 => (
            "Conflict",
            "Operation cannot be fulfilled: injected conflict",
        ),
        410 => ("Expired", "injected: too old resource version"),
        422 => ("Invalid", "injected invalid"),
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.",
        ),
        500 => ("InternalError", "Internal error occurred: injected fault"),
        503 => (
            "ServiceUnavailable",
            "The server is currently unable to handle the request",
        ),
        504 => ("Timeout", "injected timeout"),
        _ => ("", "injected fault"),
    }
}

impl Faults {
    pub fn new() -> Self {
        let (tx, _) = watch::channel(None);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                rules: Vec::new(),
                requests: BTreeMap::new(),
                refused: 0,
            })),
            refuse_tx: Arc::new(tx),
            watch_ends: Arc::new(watch::Sender::new(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, rule: FaultRule) {
        self.lock().rules.push(RuleState { rule, hits: 0 });
    }

    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Parse a YAML or JSON list of rules.
    pub fn parse(text: &str) -> Result<Vec<FaultRule>, String> {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }

    /// How many times each rule has fired, in insertion order.
    pub fn hits(&self) -> Vec<u64> {
        self.lock().rules.iter().map(|r| r.hits).collect()
    }

    /// Start refusing connections now, for `d`.
    pub fn refuse_connections(&self, d: Duration) {
        self.refuse_tx.send_replace(Some(Instant::now() + d));
    }

    /// Until when connections are refused (None: not refusing).
    pub fn refusing_until(&self) -> Option<Instant> {
        (*self.refuse_tx.borrow()).filter(|t| *t > Instant::now())
    }

    /// Ends every open watch stream now (its client sees it close, as when an API server drops
    /// its watches): watch rules added before then apply to the watches opened again, so a
    /// fault starts at once rather than when the old streams end.
    pub fn end_watches(&self) {
        self.watch_ends.send_modify(|n| *n += 1);
    }

    /// Resolves at the next [`Faults::end_watches`] after this call.
    pub fn watches_ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut ends = self.watch_ends.subscribe();
        async move {
            if ends.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Notified whenever a refusal window starts.
    pub fn refusals(&self) -> watch::Receiver<Option<Instant>> {
        self.refuse_tx.subscribe()
    }

    /// Every resource request counted so far (whatever it was answered), by who asked for
    /// what where.
    pub fn requests(&self) -> BTreeMap<RequestKey, u64> {
        self.lock().requests.clone()
    }

    /// How many of the requests counted so far `filter` selects.
    pub fn count_requests(&self, filter: impl Fn(&RequestKey) -> bool) -> u64 {
        let inner = self.lock();
        inner
            .requests
            .iter()
            .filter(|(k, _)| filter(k))
            .map(|(_, n)| n)
            .sum()
    }

    /// Connections (over HTTP) and in-process requests refused by refusal windows so far.
    pub fn refused_connections(&self) -> u64 {
        self.lock().refused
    }

    /// Forgets the request and refusal counts (the rules stay).
    pub fn reset_requests(&self) {
        let mut inner = self.lock();
        inner.requests.clear();
        inner.refused = 0;
    }

    /// Whether a connection (or in-process request) arriving now is refused; counted when it is.
    pub fn refuse_now(&self) -> bool {
        let refusing = self.refusing_until().is_some();
        if refusing {
            self.lock().refused += 1;
        }
        refusing
    }

    /// Counts a request and matches it against the rules (consuming `times`).
    pub fn decide(&self, r: &RequestInfo) -> Decision {
        let mut d = Decision::default();
        let mut refuse = None;
        {
            let mut inner = self.lock();
            let key = RequestKey {
                user: r.user.clone(),
                verb: r.verb.clone(),
                group: r.group.clone(),
                resource: full_resource(r),
                namespace: r.namespace.clone().unwrap_or_default(),
            };
            *inner.requests.entry(key).or_default() += 1;
            for st in inner.rules.iter_mut() {
                if st.rule.times.is_some_and(|t| st.hits >= u64::from(t)) {
                    continue;
                }
                if !matches(&st.rule, r) {
                    continue;
                }
                let is_watch = r.verb == "watch";
                let watch_only =
                    st.rule.drop_watch_after_events.is_some() || st.rule.watch_gone.is_some();
                if watch_only && !is_watch && st.rule.status.is_none() {
                    continue;
                }
                st.hits += 1;
                let rule = &st.rule;
                if let Some(ms) = rule.latency_ms {
                    d.latency = Some(d.latency.unwrap_or_default() + Duration::from_millis(ms));
                }
                if d.error.is_none()
                    && let Some(code) = rule.status
                {
                    let (reason, msg) = default_reason(code);
                    let mut e = ApiError::new(
                        code,
                        reason,
                        rule.message.clone().unwrap_or_else(|| msg.to_string()),
                    );
                    if code == 429 || code == 503 || rule.retry_after_seconds.is_some() {
                        e.retry_after = Some(rule.retry_after_seconds.unwrap_or(1));
                    }
                    d.error = Some(e);
                }
                if let Some(n) = rule.drop_watch_after_events {
                    d.drop_watch_after = Some(n);
                }
                if rule.watch_gone == Some(true) {
                    d.watch_gone = true;
                }
                if let Some(ms) = rule.refuse_connections_ms {
                    refuse = Some(Duration::from_millis(ms));
                }
            }
        }
        if let Some(dur) = refuse {
            self.refuse_connections(dur);
            d.refuse_for = Some(dur);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match_with_times() {
        let rules = Faults::parse(
            "- verb: list\n  resource: secrets\n  status: 500\n  times: 1\n- verb: watch\n  dropWatchAfterEvents: 2\n",
        )
        .unwrap();
        let f = Faults::new();
        for r in rules {
            f.add(r);
        }
        let list = RequestInfo {
            verb: "list".into(),
            resource: "secrets".into(),
            ..Default::default()
        };
        assert_eq!(f.decide(&list).error.unwrap().code, 500);
        assert!(f.decide(&list).error.is_none(), "times: 1 is spent");
        let watch = RequestInfo {
            verb: "watch".into(),
            resource: "configmaps".into(),
            ..Default::default()
        };
        assert_eq!(f.decide(&watch).drop_watch_after, Some(2));
        assert_eq!(f.hits(), vec![1, 1]);
    }

    #[test]
    fn counts_requests_by_user_verb_resource_and_namespace() {
        let f = Faults::new();
        let request = |user: &str, verb: &str, ns: Option<&str>| RequestInfo {
            verb: verb.into(),
            resource: "secrets".into(),
            namespace: ns.map(String::from),
            user: user.into(),
            ..Default::default()
        };
        f.add(FaultRule {
            user: Some("system:serviceaccount:ops:op".into()),
            status: Some(429),
            ..Default::default()
        });
        let operator = request("system:serviceaccount:ops:op", "patch", Some("a"));
        assert_eq!(f.decide(&operator).error.unwrap().code, 429);
        f.decide(&operator);
        // Another user is neither faulted nor counted with the operator.
        assert!(
            f.decide(&request("admin", "patch", Some("a")))
                .error
                .is_none()
        );
        let mut status = request("admin", "get", None);
        status.subresource = Some("status".into());
        f.decide(&status);

        let key = RequestKey {
            user: "system:serviceaccount:ops:op".into(),
            verb: "patch".into(),
            resource: "secrets".into(),
            namespace: "a".into(),
            ..Default::default()
        };
        assert_eq!(f.requests().get(&key), Some(&2));
        assert_eq!(f.count_requests(|k| k.user == "admin"), 2);
        assert_eq!(f.count_requests(|k| k.resource == "secrets/status"), 1);
        assert_eq!(f.count_requests(|_| true), 4);

        assert!(!f.refuse_now());
        f.refuse_connections(Duration::from_secs(60));
        assert!(f.refuse_now() && f.refuse_now());
        assert_eq!(f.refused_connections(), 2);
        f.reset_requests();
        assert_eq!(f.count_requests(|_| true), 0);
        assert_eq!(f.refused_connections(), 0);
        assert_eq!(f.hits(), vec![2], "rules stay");
    }

    #[test]
    fn rejects_unknown_fields() {
        assert!(Faults::parse("- verb: get\n  stauts: 500\n").is_err());
    }
}
