//! Counting every AWS request a store makes, at the SDK's own retry loop: an interceptor sees
//! each attempt (retries included), so the operator's counts agree with what AWS bills and with
//! a proxy counting requests on the wire.

use std::fmt;
use std::sync::Arc;

use aws_sdk_secretsmanager::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_secretsmanager::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// How one AWS request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallOutcome {
    /// A 2xx answer.
    Success,
    /// AWS answered with an error (4xx, 5xx).
    Error,
    /// No answer (connection refused, timeout).
    NoResponse,
}

impl CallOutcome {
    /// The label value used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::NoResponse => "no_response",
        }
    }
}

/// Told about every AWS request of one store.
pub trait CallObserver: Send + Sync + fmt::Debug {
    /// One request of `operation` (`GetSecretValue`, `ListSecrets`, `sts:GetCallerIdentity`).
    fn aws_call(&self, operation: &str, outcome: CallOutcome);
}

/// The interceptor handing attempts to a [`CallObserver`].
#[derive(Debug)]
pub(super) struct CountingInterceptor(pub(super) Arc<dyn CallObserver>);

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "stagesync-call-counter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let outcome = match context.response() {
            Some(r) if r.status().is_success() => CallOutcome::Success,
            Some(_) => CallOutcome::Error,
            None => CallOutcome::NoResponse,
        };
        if meta.service().eq_ignore_ascii_case("sts") {
            self.0.aws_call(&format!("sts:{}", meta.name()), outcome);
        } else {
            self.0.aws_call(meta.name(), outcome);
        }
        Ok(())
    }
}
