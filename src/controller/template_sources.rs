//! The ConfigMaps and Secrets a template reads (`target.template.templateFrom`), fetched for
//! the pure template engine; a missing one is left out for the engine to report.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, ResourceExt};

use super::Context;
use crate::api::externalsecret::ExternalSecret;
use crate::render::template::TemplateSources;
use crate::value::SecretBytes;

/// Reads the ConfigMaps and Secrets named by `template.templateFrom`. A missing one is left out:
/// the template engine then reports it (`TemplateFailed`, naming the object).
pub(super) async fn read(
    es: &ExternalSecret,
    ctx: &Context,
) -> Result<TemplateSources, kube::Error> {
    let mut sources = TemplateSources::default();
    let Some(template) = &es.spec.target.template else {
        return Ok(sources);
    };
    let namespace = es.namespace().unwrap_or_default();
    for from in &template.template_from {
        if let Some(cm) = &from.config_map
            && let Some(got) = Api::<ConfigMap>::namespaced(ctx.client.clone(), &namespace)
                .get_opt(&cm.name)
                .await?
        {
            sources
                .config_maps
                .insert(cm.name.clone(), got.data.unwrap_or_default());
        }
        if let Some(s) = &from.secret
            && let Some(got) = Api::<Secret>::namespaced(ctx.client.clone(), &namespace)
                .get_opt(&s.name)
                .await?
        {
            let data = got
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, SecretBytes::new(v.0)))
                .collect();
            sources.secrets.insert(s.name.clone(), data);
        }
    }
    Ok(sources)
}
