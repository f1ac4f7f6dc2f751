//! API keys and tenants. With keys configured (`DOCMILL_API_KEYS`,
//! `--api-key-file`), every `/v1/*` request needs `Authorization: Bearer KEY`
//! and carries the [`Tenant`] its key names; jobs belong to the tenant that
//! created them. `/healthz` and `/readyz` stay open, and `/metrics` unless
//! `--metrics-key` is set. Without keys the server has one tenant, as before.
//!
//! Keys are kept only as SHA-256 digests: a presented key is hashed and its
//! digest compared with every configured one without an early exit, so the
//! time taken says nothing about any key, and no key is ever logged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::upload::drain;
use crate::error::ApiError;

/// Longest key accepted: far above any generated key, and it keeps a key
/// file or a header from being used to make the server hash megabytes.
const MAX_KEY_BYTES: usize = 512;

type KeyDigest = [u8; 32];

/// Whose request this is. `owner` is the hex SHA-256 of the caller's key,
/// the value stored with the jobs it creates; `None` when no keys are
/// configured (a single tenant that sees every job) or on open paths.
#[derive(Clone, Debug, Default)]
pub struct Tenant {
    pub owner: Option<String>,
}

/// The configured keys, as digests.
pub struct ApiKeys {
    from_env: Vec<KeyDigest>,
    file: Option<PathBuf>,
    /// The key file's keys, replaced when the file is read again (SIGHUP).
    from_file: RwLock<Vec<KeyDigest>>,
    metrics: Option<KeyDigest>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("from_env", &self.from_env.len())
            .field("file", &self.file)
            .field("from_file", &self.from_file.read().unwrap().len())
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

impl ApiKeys {
    /// `env_keys` is `DOCMILL_API_KEYS` (comma-separated), `file` the
    /// `--api-key-file`, `metrics_key` the `--metrics-key`. Errors name the
    /// source and line of a bad key, never the key.
    pub fn new(env_keys: Option<&str>, file: Option<PathBuf>, metrics_key: Option<&str>) -> Result<ApiKeys, String> {
        let from_env = match env_keys {
            None => Vec::new(),
            Some(raw) => {
                let keys = parse_keys(raw.split(','), "DOCMILL_API_KEYS")?;
                if keys.is_empty() {
                    return Err("DOCMILL_API_KEYS is set but holds no key".into());
                }
                keys
            }
        };
        let from_file = match &file {
            None => Vec::new(),
            Some(path) => read_key_file(path)?,
        };
        let metrics = match metrics_key {
            None => None,
            Some(raw) => match parse_keys([raw], "--metrics-key")?.first() {
                Some(digest) => Some(*digest),
                None => return Err("--metrics-key is empty".into()),
            },
        };
        Ok(ApiKeys { from_env, file, from_file: RwLock::new(from_file), metrics })
    }

    /// True when `/v1/*` needs a key. A key file that is configured but
    /// empty still counts: the server fails closed.
    pub fn enabled(&self) -> bool {
        !self.from_env.is_empty() || self.file.is_some()
    }

    /// The tenant a presented key names, if it is one of the keys.
    fn tenant(&self, presented: &str) -> Option<Tenant> {
        let digest: KeyDigest = Sha256::digest(presented.as_bytes()).into();
        let from_file = self.from_file.read().unwrap();
        let mut found = false;
        for known in self.from_env.iter().chain(from_file.iter()) {
            found |= same_digest(&digest, known);
        }
        found.then(|| Tenant { owner: Some(hex(&digest)) })
    }

    /// Reads the key file again; on failure the keys in use stay.
    pub fn reload(&self) {
        let Some(path) = &self.file else { return };
        match read_key_file(path) {
            Ok(keys) => {
                tracing::info!("read {} API keys from {}", keys.len(), path.display());
                *self.from_file.write().unwrap() = keys;
            }
            Err(err) => tracing::error!("{err}; keeping the API keys in use"),
        }
    }
}

/// Compares two digests in time independent of where they differ.
fn same_digest(a: &KeyDigest, b: &KeyDigest) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

fn hex(digest: &KeyDigest) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Digests of the keys among `items`; blank items are skipped. A key must be
/// visible ASCII without spaces (what an `Authorization` header can carry).
fn parse_keys<'a>(items: impl IntoIterator<Item = &'a str>, source: &str) -> Result<Vec<KeyDigest>, String> {
    let mut digests = Vec::new();
    for (at, item) in items.into_iter().enumerate() {
        let key = item.trim();
        if key.is_empty() {
            continue;
        }
        if key.len() > MAX_KEY_BYTES || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{source}: key {} is not a usable API key (visible ASCII without spaces, at most {MAX_KEY_BYTES} bytes)",
                at + 1
            ));
        }
        digests.push(Sha256::digest(key.as_bytes()).into());
    }
    Ok(digests)
}

/// One key per line; blank lines and lines starting with `#` are skipped.
fn read_key_file(path: &Path) -> Result<Vec<KeyDigest>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|err| format!("cannot read --api-key-file {}: {err}", path.display()))?;
    let lines = text.lines().map(|line| if line.trim_start().starts_with('#') { "" } else { line });
    parse_keys(lines, &format!("--api-key-file {}", path.display()))
}

/// The key of an `Authorization: Bearer KEY` header.
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|token| token.len() <= MAX_KEY_BYTES)
}

/// The middleware: checks the key of every `/v1/*` request (and `/metrics`
/// with `--metrics-key`) and hands the handlers the caller's [`Tenant`].
pub async fn require_key(State(keys): State<Arc<ApiKeys>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let api = path == "/v1" || path.starts_with("/v1/");
    let allowed = if api && keys.enabled() {
        match bearer(&request).and_then(|key| keys.tenant(key)) {
            Some(tenant) => {
                request.extensions_mut().insert(tenant);
                true
            }
            None => false,
        }
    } else if path == "/metrics" {
        match &keys.metrics {
            Some(expected) => bearer(&request).is_some_and(|key| {
                let digest: KeyDigest = Sha256::digest(key.as_bytes()).into();
                same_digest(&digest, expected)
            }),
            None => true,
        }
    } else {
        true
    };
    if !allowed {
        // Read what the client is still sending before answering, so that it
        // sees the 401 rather than a broken pipe.
        drain(request.into_body().into_data_stream()).await;
        return unauthorized();
    }
    if request.extensions().get::<Tenant>().is_none() {
        request.extensions_mut().insert(Tenant::default());
    }
    next.run(request).await
}

fn unauthorized() -> Response {
    let error = ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message: "this endpoint needs an API key: send Authorization: Bearer KEY".into(),
    };
    let mut response = error.into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// At start: warns when the server listens beyond loopback with no keys,
/// and re-reads the key file on every SIGHUP when there is one.
pub fn start(keys: &Arc<ApiKeys>, address: SocketAddr) {
    if !keys.enabled() && !address.ip().is_loopback() {
        tracing::warn!(
            "listening on {address} without API keys: anyone who can reach it can use every endpoint and see every \
             job; set DOCMILL_API_KEYS or --api-key-file"
        );
    }
    if keys.file.is_some() {
        let keys = Arc::clone(keys);
        let mut hangups =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).expect("cannot listen for SIGHUP");
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                keys.reload();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_by_digest_and_bad_keys_are_refused_without_being_named() {
        let keys = ApiKeys::new(Some(" alpha-key-1 ,beta-key-2,"), None, None).unwrap();
        assert!(keys.enabled());
        let alpha = keys.tenant("alpha-key-1").unwrap().owner.unwrap();
        assert_eq!(alpha.len(), 64);
        assert!(!alpha.contains("alpha"));
        assert_ne!(keys.tenant("beta-key-2").unwrap().owner.unwrap(), alpha);
        assert!(keys.tenant("alpha-key-").is_none());
        assert!(keys.tenant("").is_none());
        let err = ApiKeys::new(Some("good,has space"), None, None).unwrap_err();
        assert!(err.contains("key 2") && !err.contains("has space"), "{err}");
        assert!(ApiKeys::new(Some(" , "), None, None).is_err());
        assert!(!ApiKeys::new(None, None, None).unwrap().enabled());
        assert!(ApiKeys::new(None, None, Some(" ")).is_err(), "an empty metrics key does not leave /metrics open");
    }
}
