//! `/v1/jobs` on a PostgreSQL store shared by several nodes (`--store`):
//! the same endpoints and answers as [`super::jobs`], for every job of the
//! store whichever node accepted it. A job is stored, documents and all, in
//! one transaction before the 202: a store that is away answers 503.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Value};

use super::auth::Tenant;
use super::jobs::{not_found, ListQuery, DEFAULT_PAGE, MAX_PAGE};
use super::upload::MultipartFiles;
use super::{content_type, AnalyzeQuery, AppState};
use crate::error::ApiError;
use crate::jobs::{finish_job, insert_document, insert_job, new_job_id, valid_job_id, SharedJobs, StoreError};
use crate::ndjson::ResultLine;
use crate::pool::Document;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/jobs", post(create).get(list))
        .route("/v1/jobs/{id}", get(status).delete(cancel))
        .route("/v1/jobs/{id}/results", get(results))
}

fn shared(state: &AppState) -> Result<&Arc<SharedJobs>, ApiError> {
    state.shared.as_ref().ok_or_else(|| ApiError::internal("shared job routes without a shared store"))
}

/// The bytes of a spooled upload (the store keeps them, not the disk).
async fn read_all(document: Document) -> Result<Vec<u8>, ApiError> {
    match document {
        Document::Memory(bytes) => Ok(bytes.to_vec()),
        Document::File(mut file) => tokio::task::spawn_blocking(move || {
            std::io::Seek::rewind(&mut file)?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut bytes)?;
            Ok(bytes)
        })
        .await
        .map_err(|err| ApiError::internal(err.to_string()))?
        .map_err(|err: std::io::Error| ApiError::from_io("cannot read the spooled upload", &err)),
    }
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let jobs = Arc::clone(shared(&state)?);
    let store = jobs.store()?;
    let limits = (state.config.pool.max_upload_bytes, state.config.max_request_bytes);
    // A bad query is refused before the body is read; the body guard
    // drains what is left unread, so the client still sees the 400.
    let options = query.options()?;
    let mut files = MultipartFiles::new(content_type(&headers), body, &state.spool_dir, limits.0, limits.1)?;
    let job_id = new_job_id().map_err(|err| ApiError::internal(format!("no randomness: {err}")))?;
    let mut client = store.connection().await?;
    let tx = client.transaction().await.map_err(StoreError::from)?;
    let (mut total, mut refused) = (0, 0);
    let stored: Result<(), ApiError> = async {
        insert_job(&tx, &job_id, options, tenant.owner.as_deref()).await?;
        while let Some(part) = files.next_file().await? {
            let index = total;
            total += 1;
            match part.content {
                Err(err) => {
                    let outcome = ResultLine { index, filename: part.filename.clone(), result: Err(err) };
                    let line = String::from_utf8(outcome.to_line().to_vec()).expect("UTF-8");
                    refused += 1;
                    insert_document(&tx, &job_id, index, &part.filename, Err(line.trim_end())).await?;
                }
                Ok(spooled) => {
                    let bytes = read_all(spooled.document).await?;
                    insert_document(&tx, &job_id, index, &part.filename, Ok((bytes.as_slice(), spooled.sha256)))
                        .await?;
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(err) = stored {
        // Dropping the transaction rolls the job back.
        files.drain().await;
        return Err(err);
    }
    if total == 0 {
        return Err(ApiError::bad_request("no file part in the upload"));
    }
    finish_job(&tx, &job_id, total, refused).await?;
    tx.commit().await.map_err(StoreError::from)?;
    jobs.wake();
    let status = store.status(&job_id, tenant.owner.as_deref()).await?.unwrap_or(Value::Null);
    let location = format!("/v1/jobs/{job_id}");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(status)).into_response())
}

pub async fn status(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let store = shared(&state)?.store()?;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    match store.status(&id, tenant.owner.as_deref()).await? {
        Some(status) => Ok(Json(status)),
        None => Err(not_found(&id)),
    }
}

pub async fn results(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let jobs = Arc::clone(shared(&state)?);
    let store = jobs.store()?;
    if !valid_job_id(&id) || store.status(&id, tenant.owner.as_deref()).await?.is_none() {
        return Err(not_found(&id));
    }
    let summary = store.summary(&id).await?;
    let pages = futures_util::stream::try_unfold(-1, move |after| {
        let (jobs, id) = (Arc::clone(&jobs), id.clone());
        async move {
            let page = jobs.store()?.results_page(&id, after).await?;
            let Some(&(last, _)) = page.last() else { return Ok(None) };
            let bytes: String = page.into_iter().map(|(_, line)| line).collect();
            Ok::<_, ApiError>(Some((Bytes::from(bytes), last)))
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
    let jobs = shared(&state)?;
    let store = jobs.store()?;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let Some(after) = store.cancel(&id, tenant.owner.as_deref()).await? else {
        return Err(not_found(&id));
    };
    if after == "cancelled" {
        jobs.cancelled(&id);
    }
    let status = store.status(&id, tenant.owner.as_deref()).await?.unwrap_or(Value::Null);
    Ok(Json(status))
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let store = shared(&state)?.store()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let owner = tenant.owner.as_deref();
    let after_seq = match &query.after {
        None => 0,
        Some(id) => {
            store.seq_of(id, owner).await?.ok_or_else(|| ApiError::bad_request(format!("after={id:?} is not a job")))?
        }
    };
    let page = store.list(after_seq, limit + 1, owner).await?;
    let more = page.len() > limit as usize;
    let jobs: Vec<Value> = page.into_iter().take(limit as usize).map(|(_, job)| job).collect();
    let next = if more { jobs.last().map(|job| job["id"].clone()) } else { None };
    Ok(Json(json!({"jobs": jobs, "next_after": next})))
}
