//! The Docker Engine API through bollard: connecting, version negotiation, image lookups.

use std::time::Duration;

use anyhow::Context;
use bollard::Docker;
use serde::Serialize;

/// A connection to the Docker engine with the API version negotiated down to what it speaks.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub id: String,
    pub size_bytes: i64,
}

impl Engine {
    /// Connects to `host` (`unix://…`, `tcp://…`, `http://…`). Nothing is sent until the first request.
    pub async fn connect(host: &str, timeout: Duration) -> anyhow::Result<Self> {
        let docker = Docker::connect_with_host(host)
            .with_context(|| {
                format!("invalid Docker host `{host}` (expected unix:///path/to/docker.sock or tcp://HOST:PORT)")
            })?
            .with_timeout(timeout);
        // bollard ≥ 0.21.1 sends the version in request paths, so an older engine needs the negotiated one.
        let docker =
            docker.negotiate_version().await.with_context(|| format!("cannot reach the Docker engine at {host}"))?;
        Ok(Self { docker, host: host.to_string() })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub async fn info(&self) -> anyhow::Result<EngineInfo> {
        let v = self
            .docker
            .version()
            .await
            .with_context(|| format!("cannot read the Docker engine's version at {}", self.host))?;
        let text = |s: Option<String>| s.unwrap_or_else(|| "unknown".to_string());
        Ok(EngineInfo {
            version: text(v.version),
            api_version: text(v.api_version),
            os: text(v.os),
            arch: text(v.arch),
        })
    }

    /// The image with this tag, or `None` when the engine does not have it.
    pub async fn image(&self, tag: &str) -> anyhow::Result<Option<ImageInfo>> {
        match self.docker.inspect_image(tag).await {
            Ok(image) => {
                Ok(Some(ImageInfo { id: image.id.unwrap_or_default(), size_bytes: image.size.unwrap_or_default() }))
            }
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot inspect image `{tag}`")),
        }
    }
}
