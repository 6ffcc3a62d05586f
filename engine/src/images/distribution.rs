//! `GET /distribution/{name}/json`: what a registry holds under a name, without pulling
//! it: the descriptor of the manifest or index the name points at, and the platforms it
//! serves (every entry of an index; a single manifest's from its config).

use berth_api::auth::AuthConfig;
use berth_image::manifest::{self, ConfigSummary, Descriptor};
use berth_image::media;
use berth_image::platform::Platform;
use berth_image::registry::{Credentials, HostOptions, Remote};
use serde::Serialize;

use super::reference::normalize;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// The answer, in dockerd's field names.
#[derive(Debug, Serialize)]
pub struct DistributionInspect {
    #[serde(rename = "Descriptor")]
    pub descriptor: DescriptorJson,
    #[serde(rename = "Platforms")]
    pub platforms: Vec<Platform>,
}

/// A descriptor as the API shows it: media type, digest and size only.
#[derive(Debug, Serialize)]
pub struct DescriptorJson {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
}

fn registry_error(e: berth_image::Error) -> Error {
    use berth_image::Error as E;
    match e {
        E::NotFound(m) => Error::not_found(m),
        E::Unauthorized(m) => Error::new(crate::error::Kind::Unauthorized, m),
        E::InvalidArgument(m) => Error::invalid(m),
        other => Error::internal(other.to_string()),
    }
}

/// The platforms a manifest or index serves.
async fn platforms(remote: &Remote, top: &Descriptor, body: &[u8]) -> Result<Vec<Platform>> {
    if media::is_index(&top.media_type) {
        let index = manifest::parse_index(body).map_err(registry_error)?;
        return Ok(index
            .manifests
            .into_iter()
            .filter_map(|d| d.platform)
            .collect());
    }
    let m = manifest::parse_manifest(body).map_err(registry_error)?;
    let config = remote
        .fetch_small(&m.config)
        .await
        .map_err(registry_error)?;
    let c = ConfigSummary::parse(&config).map_err(registry_error)?;
    Ok(vec![Platform {
        architecture: c.architecture,
        os: c.os,
        variant: c.variant,
        ..Default::default()
    }])
}

impl Engine {
    /// Asks the registry of `name` (with the credentials a pull would use) for its
    /// manifest; no layer is downloaded.
    pub async fn distribution_inspect(
        &self,
        name: &str,
        auth: &AuthConfig,
    ) -> Result<DistributionInspect> {
        let reference = normalize(name)?;
        let insecure = self.settings.registry_is_insecure(&reference.registry);
        let mirrors = if reference.registry == berth_image::reference::DOCKER_HUB {
            self.settings.registry_mirrors.clone()
        } else {
            vec![]
        };
        let own = reference.registry.clone();
        let creds = Credentials {
            username: auth.username.clone(),
            password: auth.password.clone(),
            identity_token: auth.identity_token.clone(),
            registry_token: auth.registry_token.clone(),
        };
        let mut remote = Remote::new(&reference, &creds, move |host| HostOptions {
            insecure: host == own && insecure,
            mirrors: if host == own { mirrors.clone() } else { vec![] },
            ..Default::default()
        })
        .await
        .map_err(registry_error)?;
        // A name the registry does not know is dockerd's 404, in the registry's words.
        let (top, body) = remote.resolve().await.map_err(|e| match e {
            berth_image::Error::NotFound(_) => {
                Error::not_found("manifest unknown: manifest unknown")
            }
            other => registry_error(other),
        })?;
        let platforms = platforms(&remote, &top, &body).await?;
        Ok(DistributionInspect {
            descriptor: DescriptorJson {
                media_type: top.media_type,
                digest: top.digest,
                size: top.size,
            },
            platforms,
        })
    }
}
