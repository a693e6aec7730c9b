//! What a row of the bad-input table is (`tests/bad_input.rs` runs them, `cases.rs` lists them):
//! a manifest and/or an AWS state, the change that makes it bad (after a good sync where the row
//! is about a change), the exact outcome expected and why that outcome is the right one — and the
//! helpers the rows are written with.

use std::sync::Arc;

use aws_sdk_secretsmanager::primitives::Blob;
use futures::FutureExt;
use futures::future::BoxFuture;

use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use stagesync::api::Reason;
use stagesync::api::secretstore::SecretStore;

use crate::support::cluster::TestCluster;
use crate::support::objects::*;

/// What every row shares: the cluster, AWS and the shared namespace (with its SecretStore `aws`).
pub struct World {
    pub client: kube::Client,
    pub aws: aws_sdk_secretsmanager::Client,
    /// moto's endpoint, for stores.
    pub endpoint: String,
    /// The namespace of the rows without a namespace of their own, and of the canary.
    pub shared: String,
    pub cluster: TestCluster,
    /// Values a row's setup hands to its specs (version ids), by row id.
    pub notes: std::sync::Mutex<std::collections::HashMap<&'static str, String>>,
    /// When the run started (progress lines).
    pub started: std::time::Instant,
}

/// One row's view: its namespace and id (the ExternalSecret's name).
#[derive(Clone)]
pub struct Ctx {
    pub world: Arc<World>,
    pub ns: String,
    pub id: &'static str,
}

impl Ctx {
    /// An AWS secret name of this row.
    pub fn key(&self, name: &str) -> String {
        format!("bad-input/{}/{name}", self.id)
    }

    pub fn client(&self) -> &kube::Client {
        &self.world.client
    }

    pub fn aws(&self) -> &aws_sdk_secretsmanager::Client {
        &self.world.aws
    }

    /// Remembers a value of this row's setup for its specs.
    pub fn note(&self, value: String) {
        self.world.notes.lock().unwrap().insert(self.id, value);
    }

    /// The value this row's setup noted.
    pub fn noted(&self) -> String {
        self.world.notes.lock().unwrap()[self.id].clone()
    }
}

/// An async step of a row.
pub type Step = fn(Ctx) -> BoxFuture<'static, ()>;
/// An ExternalSecret spec of a row.
pub type Spec = fn(&Ctx) -> Value;

/// What makes the row bad.
pub enum Change {
    /// The ExternalSecret is created with this spec (or, after a good sync, applied with it).
    Spec(Spec),
    /// Something else changes after the good sync: AWS, a store, a credential Secret.
    Step(Step),
}

/// The expected outcome.
#[derive(Debug)]
pub enum Expect {
    /// The API server refuses the object (422); the message contains this.
    Refused(&'static str),
    /// `Ready=False` with this reason, the message containing this, a Warning event; the Secret
    /// as it was.
    Fails(Reason, &'static str),
    /// `Ready=True` `SecretSynced` (message containing the text) and the Secret holds exactly
    /// this data.
    Syncs(&'static [(&'static str, &'static [u8])], &'static str),
    /// `Ready=True` `SecretSynced` (message containing the text) and the Secret as it was.
    Keeps(&'static str),
}

/// One row.
pub struct Case {
    /// The ExternalSecret's name (unique in the table).
    pub id: &'static str,
    /// What the row feeds the operator, for the table.
    pub input: &'static str,
    /// Why the expected outcome is the right one, for the table.
    pub why: &'static str,
    /// The row runs in a namespace of its own (store rows).
    pub own_namespace: bool,
    /// The Secret to watch, when not the one named after the ExternalSecret.
    pub target: Option<&'static str>,
    /// Runs first: AWS secrets, stores, Secrets.
    pub setup: Step,
    /// A spec that syncs before the change (rows about a change).
    pub good: Option<Spec>,
    pub change: Change,
    pub expect: Expect,
}

fn nothing(_: Ctx) -> BoxFuture<'static, ()> {
    async {}.boxed()
}

pub fn row(id: &'static str, input: &'static str) -> Case {
    Case {
        id,
        input,
        why: "",
        own_namespace: false,
        target: None,
        setup: nothing,
        good: None,
        change: Change::Step(nothing),
        expect: Expect::Keeps(""),
    }
}

impl Case {
    pub fn setup(mut self, step: Step) -> Self {
        self.setup = step;
        self
    }
    pub fn good(mut self, spec: Spec) -> Self {
        self.good = Some(spec);
        self
    }
    pub fn spec(mut self, spec: Spec) -> Self {
        self.change = Change::Spec(spec);
        self
    }
    pub fn step(mut self, step: Step) -> Self {
        self.change = Change::Step(step);
        self
    }
    pub fn own_namespace(mut self) -> Self {
        self.own_namespace = true;
        self
    }
    pub fn target(mut self, name: &'static str) -> Self {
        self.target = Some(name);
        self
    }
    pub fn refused(mut self, fragment: &'static str) -> Self {
        self.expect = Expect::Refused(fragment);
        self
    }
    pub fn fails(mut self, reason: Reason, fragment: &'static str) -> Self {
        self.expect = Expect::Fails(reason, fragment);
        self
    }
    pub fn syncs(
        mut self,
        data: &'static [(&'static str, &'static [u8])],
        fragment: &'static str,
    ) -> Self {
        self.expect = Expect::Syncs(data, fragment);
        self
    }
    pub fn keeps(mut self, fragment: &'static str) -> Self {
        self.expect = Expect::Keeps(fragment);
        self
    }
    pub fn why(mut self, why: &'static str) -> Self {
        self.why = why;
        self
    }
}

/// A spec reading through the namespace's SecretStore `aws`, refreshed every second, with the
/// fields of `body`.
pub fn es(body: Value) -> Value {
    let mut spec = json!({"secretStoreRef": store_ref(), "refreshInterval": "1s"});
    for (k, v) in body.as_object().expect("a spec body").clone() {
        spec[k] = v;
    }
    spec
}

/// A `data` entry: `secret_key` from AWS secret `key`, with more `remoteRef` fields.
pub fn entry(secret_key: &str, key: &str, more: Value) -> Value {
    let mut remote = json!({"key": key});
    for (k, v) in more.as_object().expect("remoteRef fields").clone() {
        remote[k] = v;
    }
    json!({"secretKey": secret_key, "remoteRef": remote})
}

/// A spec with one data entry `v` reading this row's AWS secret `name`.
pub fn reads(c: &Ctx, name: &str, more: Value) -> Value {
    es(json!({"data": [entry("v", &c.key(name), more)]}))
}

pub async fn create_binary(aws: &aws_sdk_secretsmanager::Client, name: &str, bytes: &[u8]) {
    aws.create_secret()
        .name(name)
        .secret_binary(Blob::new(bytes))
        .send()
        .await
        .expect("create binary secret");
}

pub async fn force_delete(aws: &aws_sdk_secretsmanager::Client, name: &str) {
    aws.delete_secret()
        .secret_id(name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete secret");
}

/// A store spec for moto with this row's credentials, changed by `edit`.
pub fn provider(c: &Ctx, edit: impl FnOnce(&mut Value)) -> Value {
    let mut p = aws_provider(&c.world.endpoint, None);
    edit(&mut p);
    p
}

/// The row's own credentials and a SecretStore `aws` whose provider `edit` changed.
pub async fn own_store(c: &Ctx, edit: impl FnOnce(&mut Value)) {
    create_credentials(c.client(), &c.ns).await;
    create_store_with(c.client(), &c.ns, "aws", provider(c, edit)).await;
}

/// A merge patch of the row's SecretStore `aws`.
pub async fn patch_store(c: &Ctx, patch: Value) {
    Api::<SecretStore>::namespaced(c.client().clone(), &c.ns)
        .patch("aws", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch the SecretStore");
}

/// The name of the row's ClusterSecretStore (its namespace is unique to the run).
pub fn css_name(c: &Ctx) -> String {
    c.ns.clone()
}

pub fn css_ref(c: &Ctx) -> Value {
    json!({"name": css_name(c), "kind": "ClusterSecretStore"})
}
