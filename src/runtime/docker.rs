//! The Docker Engine API through bollard: connecting, version negotiation, image lookups.

use std::time::Duration;

use anyhow::Context;
use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use serde::Serialize;

use crate::progress::Progress;

/// A connection to the Docker engine with the API version negotiated down to what it speaks.
#[derive(Clone)]
pub struct Engine {
    pub(super) docker: Docker,
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

    /// Builds `tag` from a tar context (a Dockerfile and its files), reporting the builder's steps.
    pub async fn build_image(&self, tag: &str, context: Vec<u8>, progress: &dyn Progress) -> anyhow::Result<ImageInfo> {
        let options = BuildImageOptionsBuilder::default().t(tag).rm(true).forcerm(true).build();
        let mut steps = self.docker.build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(step) = steps.next().await {
            let step = step.with_context(|| format!("the Docker engine could not build `{tag}`"))?;
            if let Some(error) = step.error_detail {
                anyhow::bail!("building `{tag}` failed: {}", error.message.unwrap_or_default().trim());
            }
            if let Some(line) = step.stream.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
                progress.set_message(line);
            }
        }
        self.image(tag).await?.with_context(|| format!("the engine built `{tag}` but does not list it"))
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
