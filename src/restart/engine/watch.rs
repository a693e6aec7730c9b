//! The watches feeding the engine: workloads of every kind (Argo Rollouts once their CRD is
//! served) and Secrets, and the bookkeeping that forgets what a re-list no longer has.

use super::*;

type Inputs = std::pin::Pin<Box<dyn Stream<Item = (Source, Input)> + Send>>;

pub(super) fn workload_inputs(
    ctx: &Context,
    kind: Kind,
    scope: Option<String>,
    source: Source,
) -> Inputs {
    let resource = kind.api_resource();
    let api: Api<DynamicObject> = match &scope {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &resource),
        None => Api::all_with(ctx.client.clone(), &resource),
    };
    let probe = api.clone();
    let served = async move {
        if kind == Kind::Rollout {
            wait_until_served(&probe).await;
        }
    };
    stream::once(served)
        .flat_map(move |()| {
            let source = source.clone();
            watcher(api.clone(), watcher::Config::default())
                .default_backoff()
                .filter_map(move |event| {
                    let source = source.clone();
                    async move {
                        match event {
                            Ok(event) => Some((source, Input::Workload(event))),
                            Err(err) => {
                                tracing::warn!(?source, error = %err, "watching workloads failed; retrying with backoff");
                                None
                            }
                        }
                    }
                })
        })
        .boxed()
}

/// Waits until the Argo Rollouts CRD is served (looking again every minute).
pub(super) async fn wait_until_served(api: &Api<DynamicObject>) {
    loop {
        match api.list(&kube::api::ListParams::default().limit(1)).await {
            Ok(_) => return,
            Err(err) => {
                tracing::debug!(error = %err, "Argo Rollouts are not served; looking again in a minute");
                tokio::time::sleep(CRD_RECHECK).await;
            }
        }
    }
}

pub(super) fn secret_inputs(ctx: &Context, config: &RestartConfig, source: Source) -> Inputs {
    let Source::Secrets { managed, scope } = &source else {
        unreachable!("secret sources only");
    };
    let api: Api<Secret> = match scope {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let labels = if *managed {
        format!("{LABEL_MANAGED}=true")
    } else {
        match &config.reloader_secret_selector {
            Some(extra) if !extra.is_empty() => format!("{LABEL_MANAGED}!=true,{extra}"),
            _ => format!("{LABEL_MANAGED}!=true"),
        }
    };
    watcher(api, watcher::Config::default().labels(&labels))
        .default_backoff()
        .filter_map(move |event| {
            let source = source.clone();
            async move {
                match event {
                    Ok(event) => Some((source, Input::Secret(event))),
                    Err(err) => {
                        tracing::warn!(?source, error = %err, "watching Secrets failed; retrying with backoff");
                        None
                    }
                }
            }
        })
        .boxed()
}

pub(super) fn in_scope(scope: Option<&str>, namespace: &str) -> bool {
    scope.is_none_or(|s| s == namespace)
}

impl Engine {
    pub(super) fn handle(&mut self, source: Source, input: Input) {
        match input {
            Input::Workload(event) => {
                let Source::Workloads(kind, _) = source else {
                    return;
                };
                self.relist_step(
                    &source,
                    event,
                    |engine, obj| engine.upsert_workload(kind, obj),
                    |engine, obj| {
                        engine.remove_workload(&(
                            kind,
                            obj.namespace().unwrap_or_default(),
                            obj.name_any(),
                        ))
                    },
                );
            }
            Input::Secret(event) => {
                let managed = matches!(source, Source::Secrets { managed: true, .. });
                self.relist_step(
                    &source,
                    event,
                    // The engine keeps digests only; the watched Secret's data is zeroed.
                    move |engine, s| {
                        let s = crate::value::SecretObject::new(s);
                        engine.upsert_secret(managed, &s);
                    },
                    move |engine, s| {
                        let s = crate::value::SecretObject::new(s);
                        engine.remove_secret(
                            managed,
                            &(s.namespace().unwrap_or_default(), s.name_any()),
                        )
                    },
                );
            }
        }
    }

    /// Applies one watch event; on the end of a (re)list, forgets what the list no longer had.
    pub(super) fn relist_step<K: Resource>(
        &mut self,
        source: &Source,
        event: watcher::Event<K>,
        upsert: impl Fn(&mut Self, K),
        remove: impl Fn(&mut Self, K),
    ) {
        let key = |o: &K| {
            (
                o.meta().namespace.clone().unwrap_or_default(),
                o.meta().name.clone().unwrap_or_default(),
            )
        };
        match event {
            watcher::Event::Init => {
                self.relisting.insert(source.clone(), HashSet::new());
            }
            watcher::Event::InitApply(obj) => {
                if let Some(seen) = self.relisting.get_mut(source) {
                    seen.insert(key(&obj));
                }
                upsert(self, obj);
            }
            watcher::Event::InitDone => {
                let listed = self.relisting.remove(source).unwrap_or_default();
                self.forget_unlisted(source, &listed);
                self.not_listed.remove(source);
            }
            watcher::Event::Apply(obj) => upsert(self, obj),
            watcher::Event::Delete(obj) => remove(self, obj),
        }
    }

    pub(super) fn forget_unlisted(&mut self, source: &Source, listed: &HashSet<(String, String)>) {
        match source {
            Source::Workloads(kind, scope) => {
                let gone: Vec<WorkloadKey> = self
                    .workloads
                    .keys()
                    .filter(|(k, ns, name)| {
                        k == kind
                            && in_scope(scope.as_deref(), ns)
                            && !listed.contains(&(ns.clone(), name.clone()))
                    })
                    .cloned()
                    .collect();
                for key in gone {
                    self.remove_workload(&key);
                }
            }
            Source::Secrets { managed, scope } => {
                let map = if *managed { &self.managed } else { &self.other };
                let gone: Vec<SecretRef> = map
                    .keys()
                    .filter(|(ns, _)| in_scope(scope.as_deref(), ns))
                    .filter(|k| !listed.contains(*k))
                    .cloned()
                    .collect();
                for key in gone {
                    self.remove_secret(*managed, &key);
                }
            }
        }
    }
}
