//! Reaching the cluster as kubectl does: `--kubeconfig` or the usual resolution (`$KUBECONFIG`,
//! `~/.kube/config`, then the in-cluster identity), `--context`, and the namespace from `-n`,
//! else the context's namespace, else `default`.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::KubectlError;

/// Where the cluster is, as the flags say.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
}

/// A client and the namespace commands default to.
#[derive(Clone)]
pub struct Connection {
    /// The user's client.
    pub client: Client,
    /// The current context's namespace (`default` when it names none).
    pub default_namespace: String,
}

/// Which namespaces a command looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One namespace.
    Namespace(String),
    /// Every namespace (`-A`).
    All,
}

impl Connection {
    /// The namespace a command works in: `-n`, else the context's.
    pub fn namespace(&self, flag: Option<&str>) -> String {
        flag.map(str::to_owned)
            .unwrap_or_else(|| self.default_namespace.clone())
    }

    /// The scope of a listing command.
    pub fn scope(&self, namespace: Option<&str>, all_namespaces: bool) -> Scope {
        if all_namespaces {
            Scope::All
        } else {
            Scope::Namespace(self.namespace(namespace))
        }
    }
}

/// Builds the client from the kubeconfig (or the in-cluster identity when there is no
/// kubeconfig and no context was asked for).
pub async fn connect(options: &ClusterOptions) -> Result<Connection, KubectlError> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| KubectlError::Connect(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                .await
                .map_err(|e| KubectlError::Connect(e.to_string()))?
        }
        None => match Config::from_kubeconfig(&kube_options).await {
            Ok(config) => config,
            Err(err) if options.context.is_none() => {
                Config::incluster().map_err(|_| KubectlError::Connect(err.to_string()))?
            }
            Err(err) => return Err(KubectlError::Connect(err.to_string())),
        },
    };
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| KubectlError::Connect(e.to_string()))?;
    Ok(Connection {
        client,
        default_namespace,
    })
}
