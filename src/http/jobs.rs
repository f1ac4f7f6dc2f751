//! `/v1/jobs`: create (store every document, then 202), status, results,
//! cancel and list, on this node's SQLite store or on a PostgreSQL store
//! shared by several nodes ([`super::shared_jobs`] stores an upload there).
//! The work itself runs in [`crate::jobs`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use super::answer;
use super::auth::Tenant;
use super::shared_jobs;
use super::upload::MultipartFiles;
use super::{content_type, AnalyzeQuery, AppState};
use crate::error::ApiError;
use crate::jobs::{
    blocking, new_job_id, persist, valid_job_id, Jobs, PageExtent, PendingDocument, SharedJobs, UploadedDocument,
};
use crate::ndjson::ResultLine;
use docmill_engine::Options;

/// Most jobs one `GET /v1/jobs` lists.
const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;
/// Space kept free under the job store for the jobs already accepted: a
/// new job is refused (507) when storing it would leave less. Without it,
/// queued documents could fill the disk to the last byte, and then no
/// result and no cancellation could be written: every accepted job stayed
/// queued for as long as the disk stayed full, with nothing a client could
/// do to free it.
pub const JOB_STORE_HEADROOM: u64 = 8 << 20;

/// Refuses a new job with 507 when less than [`JOB_STORE_HEADROOM`] is free
/// under `dir` (free to unprivileged writers; what statvfs cannot read is
/// not held against the job).
fn keep_headroom(dir: &std::path::Path) -> Result<(), ApiError> {
    let Ok(stats) = nix::sys::statvfs::statvfs(dir) else { return Ok(()) };
    let free = stats.blocks_available().saturating_mul(stats.fragment_size());
    if free < JOB_STORE_HEADROOM {
        return Err(ApiError::storage_reserved(
            "less than 8 MiB is free under the data directory, kept for the results of jobs already accepted",
        ));
    }
    Ok(())
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/jobs", post(create).get(list))
        .route("/v1/jobs/{id}", get(status).delete(cancel))
        .route("/v1/jobs/{id}/results", get(results))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no job {}", docmill_engine::quoted(id)))
}

/// Where `/v1/jobs` keeps its jobs: this node's SQLite store, or the
/// PostgreSQL store shared by several nodes (`--store`). Every endpoint but
/// the upload itself reads both the same way.
#[derive(Clone)]
enum Backend {
    Local(Arc<Jobs>),
    Shared(Arc<SharedJobs>),
}

impl Backend {
    fn of(state: &AppState) -> Result<Backend, ApiError> {
        match &state.shared {
            Some(shared) => Ok(Backend::Shared(Arc::clone(shared))),
            None => Ok(Backend::Local(Arc::clone(state.jobs()?))),
        }
    }

    /// The backend, for a path's job id: a malformed one is a 404 at once.
    fn for_job(state: &AppState, id: &str) -> Result<Backend, ApiError> {
        let backend = Backend::of(state)?;
        if !valid_job_id(id) {
            return Err(not_found(id));
        }
        Ok(backend)
    }

    async fn status(&self, id: &str, owner: Option<&str>) -> Result<Option<Value>, ApiError> {
        let (id, owner) = (id.to_owned(), owner.map(str::to_owned));
        match self {
            Backend::Local(jobs) => blocking(&jobs.store, move |store| store.status(&id, owner.as_deref())).await,
            Backend::Shared(jobs) => Ok(jobs.store()?.status(&id, owner.as_deref()).await?),
        }
    }

    async fn summary(&self, id: &str) -> Result<Option<String>, ApiError> {
        let id = id.to_owned();
        match self {
            Backend::Local(jobs) => blocking(&jobs.store, move |store| store.summary(&id)).await,
            Backend::Shared(jobs) => Ok(jobs.store()?.summary(&id).await?),
        }
    }

    async fn results_extent(&self, id: &str, after: i64) -> Result<Option<PageExtent>, ApiError> {
        let id = id.to_owned();
        match self {
            Backend::Local(jobs) => blocking(&jobs.store, move |store| store.results_extent(&id, after)).await,
            Backend::Shared(jobs) => Ok(jobs.store()?.results_extent(&id, after).await?),
        }
    }

    async fn results_page(&self, id: &str, after: i64, through: i64) -> Result<Vec<(i64, String)>, ApiError> {
        let id = id.to_owned();
        match self {
            Backend::Local(jobs) => blocking(&jobs.store, move |store| store.results_page(&id, after, through)).await,
            Backend::Shared(jobs) => Ok(jobs.store()?.results_page(&id, after, through).await?),
        }
    }

    /// Cancels a job of `owner`'s: its state after, or `None` when there is
    /// no such job. Documents running here stop; a local job's stored files
    /// go.
    async fn cancel(&self, id: &str, owner: Option<&str>) -> Result<Option<String>, ApiError> {
        let (lookup, owner) = (id.to_owned(), owner.map(str::to_owned));
        let after = match self {
            Backend::Local(jobs) => blocking(&jobs.store, move |store| store.cancel(&lookup, owner.as_deref())).await?,
            Backend::Shared(jobs) => jobs.store()?.cancel(&lookup, owner.as_deref()).await?,
        };
        if after.as_deref() == Some("cancelled") {
            match self {
                Backend::Local(jobs) => {
                    if let Some(flag) = jobs.cancels.lock().unwrap().remove(id) {
                        let _ = flag.send(true);
                    }
                    let (store, job_id) = (Arc::clone(&jobs.store), id.to_owned());
                    let _ = tokio::task::spawn_blocking(move || store.drop_files(&job_id)).await;
                }
                Backend::Shared(jobs) => jobs.cancelled(id),
            }
        }
        Ok(after)
    }

    async fn seq_of(&self, id: &str, owner: Option<&str>) -> Result<Option<i64>, ApiError> {
        let (id, owner) = (id.to_owned(), owner.map(str::to_owned));
        match self {
            Backend::Local(jobs) => blocking(&jobs.store, move |store| store.seq_of(&id, owner.as_deref())).await,
            Backend::Shared(jobs) => Ok(jobs.store()?.seq_of(&id, owner.as_deref()).await?),
        }
    }

    async fn list(&self, after_seq: i64, limit: u32, owner: Option<&str>) -> Result<Vec<(i64, Value)>, ApiError> {
        let owner = owner.map(str::to_owned);
        match self {
            Backend::Local(jobs) => {
                blocking(&jobs.store, move |store| store.list(after_seq, limit, owner.as_deref())).await
            }
            Backend::Shared(jobs) => Ok(jobs.store()?.list(after_seq, limit, owner.as_deref()).await?),
        }
    }
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let backend = Backend::of(&state)?;
    if let Backend::Shared(jobs) = &backend {
        // A store that is away is a 503 before the body is read.
        jobs.store()?;
    }
    let limits = (state.config.pool.max_upload_bytes, state.config.max_request_bytes);
    // A bad query is refused before the body is read; the body guard
    // drains what is left unread, so the client still sees the 400.
    let options = query.options()?;
    let files = MultipartFiles::new(content_type(&headers), body, &state.spool_dir, limits.0, limits.1)?;
    let job_id = new_job_id().map_err(|err| ApiError::internal(format!("no randomness: {err}")))?;
    let owner = tenant.owner.as_deref();
    match &backend {
        Backend::Local(jobs) => store_locally(jobs, files, &job_id, options, owner).await?,
        Backend::Shared(jobs) => shared_jobs::store_shared(jobs, files, &job_id, options, owner).await?,
    }
    let status = backend.status(&job_id, owner).await?.unwrap_or(Value::Null);
    let location = format!("/v1/jobs/{job_id}");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(status)).into_response())
}

/// Stores every document of the upload as a file in the job's directory and
/// the job in the SQLite store, durably, then queues its documents.
async fn store_locally(
    jobs: &Arc<Jobs>,
    mut files: MultipartFiles,
    job_id: &str,
    options: Options,
    owner: Option<&str>,
) -> Result<(), ApiError> {
    let job_dir = jobs.store.job_dir(job_id);
    let mut documents: Vec<UploadedDocument> = Vec::new();
    let result: Result<(), ApiError> = async {
        tokio::fs::create_dir_all(&job_dir).await.map_err(|err| ApiError::from_io("cannot create the job", &err))?;
        keep_headroom(&job_dir)?;
        while let Some(part) = files.next_file().await? {
            let index = documents.len();
            match part.content {
                Err(err) => {
                    let refusal = Some(refusal_line(index, &part.filename, err));
                    documents.push(UploadedDocument { filename: part.filename, sha256: None, refusal });
                }
                Ok(spooled) => {
                    let path = job_dir.join(index.to_string());
                    let sha256 = spooled.digest.known();
                    tokio::task::spawn_blocking(move || persist(spooled.document, &path))
                        .await
                        .map_err(|err| ApiError::internal(err.to_string()))?
                        .map_err(|err| ApiError::from_io("cannot store the upload", &err))?;
                    documents.push(UploadedDocument { filename: part.filename, sha256, refusal: None });
                    keep_headroom(&job_dir)?;
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(err) = result {
        let _ = tokio::fs::remove_dir_all(&job_dir).await;
        files.drain().await;
        return Err(err);
    }
    if documents.is_empty() {
        let _ = tokio::fs::remove_dir_all(&job_dir).await;
        return Err(ApiError::bad_request("no file part in the upload"));
    }
    {
        let (job_id, documents) = (job_id.to_owned(), documents.clone());
        let (dir, owner) = (job_dir.clone(), owner.map(str::to_owned));
        let created = blocking(&jobs.store, move |store| {
            // The directory entries of the stored files are durable too.
            if let Ok(dir) = std::fs::File::open(&dir) {
                let _ = dir.sync_all();
            }
            store.create(&job_id, options, &documents, owner.as_deref())
        })
        .await;
        if let Err(err) = created {
            // No job owns the stored files.
            let _ = tokio::fs::remove_dir_all(&job_dir).await;
            return Err(err);
        }
    }
    for (index, document) in documents.into_iter().enumerate() {
        if document.refusal.is_none() {
            let UploadedDocument { filename, sha256, .. } = document;
            let job_id = job_id.to_owned();
            let _ = jobs.queue.send(PendingDocument { job_id, index, filename, options, sha256 });
        }
    }
    Ok(())
}

/// The result line of a part refused before it was stored (too large, a
/// bad name): a job records it as that document's outcome.
pub(super) fn refusal_line(index: usize, filename: &str, err: ApiError) -> String {
    let outcome = ResultLine { index, filename: filename.to_owned(), result: Err(err) };
    let line = String::from_utf8(outcome.to_line()).expect("UTF-8");
    line.trim_end().to_owned()
}

pub async fn status(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let backend = Backend::for_job(&state, &id)?;
    match backend.status(&id, tenant.owner.as_deref()).await? {
        Some(status) => Ok(Json(status)),
        None => Err(not_found(&id)),
    }
}

pub async fn results(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let backend = Backend::for_job(&state, &id)?;
    if backend.status(&id, tenant.owner.as_deref()).await?.is_none() {
        return Err(not_found(&id));
    }
    // The lines stream from the store a page at a time, each page read
    // only once the answer memory budget has room for it (its size comes
    // first, from the lines' lengths); the summary that closes the results
    // of a job that is over was computed when it ended.
    let summary = backend.summary(&id).await?;
    let answers = Arc::clone(&state.answers);
    let pages = futures_util::stream::try_unfold(-1, move |after| {
        let (backend, id, answers) = (backend.clone(), id.clone(), Arc::clone(&answers));
        async move {
            let Some(extent) = backend.results_extent(&id, after).await? else { return Ok(None) };
            let reservation = answers.reserve(extent.bytes).await;
            let page = backend.results_page(&id, after, extent.last).await?;
            let bytes: String = page.into_iter().map(|(_, line)| line).collect();
            Ok::<_, ApiError>(Some((answer::held(Bytes::from(bytes), reservation), extent.last)))
        }
    });
    let summary = futures_util::stream::iter(summary.map(|line| Ok(Bytes::from(line + "\n"))));
    let body = pages.chain(summary).map_err(|err: ApiError| std::io::Error::other(err.message));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(body)).into_response())
}

pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let backend = Backend::for_job(&state, &id)?;
    if backend.cancel(&id, tenant.owner.as_deref()).await?.is_none() {
        return Err(not_found(&id));
    }
    let status = backend.status(&id, tenant.owner.as_deref()).await?.unwrap_or(Value::Null);
    Ok(Json(status))
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let backend = Backend::of(&state)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit={limit}: jobs per page are 1 to {MAX_PAGE}")));
    }
    let owner = tenant.owner.as_deref();
    let after_seq = match &query.after {
        None => 0,
        Some(id) => backend
            .seq_of(id, owner)
            .await?
            .ok_or_else(|| ApiError::bad_request(format!("after={} is not a job", docmill_engine::quoted(id))))?,
    };
    let page = backend.list(after_seq, limit + 1, owner).await?;
    let more = page.len() > limit as usize;
    let jobs: Vec<Value> = page.into_iter().take(limit as usize).map(|(_, job)| job).collect();
    let next = if more { jobs.last().map(|job| job["id"].clone()) } else { None };
    Ok(Json(json!({"jobs": jobs, "next_after": next})))
}
