//! `/v1/jobs`: create (store every document, then 202), status, results,
//! cancel and list. The work itself runs in [`crate::jobs`].

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

use super::auth::Tenant;
use super::upload::MultipartFiles;
use super::{content_type, AnalyzeQuery, AppState};
use crate::error::ApiError;
use crate::jobs::{blocking, new_job_id, persist, valid_job_id, PendingDocument, UploadedDocument};
use crate::ndjson::ResultLine;

/// Most jobs one `GET /v1/jobs` lists.
pub(super) const MAX_PAGE: u32 = 1000;
pub(super) const DEFAULT_PAGE: u32 = 100;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/jobs", post(create).get(list))
        .route("/v1/jobs/{id}", get(status).delete(cancel))
        .route("/v1/jobs/{id}/results", get(results))
}

pub(super) fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no job {id:?}"))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let jobs = Arc::clone(state.jobs()?);
    let limits = (state.config.pool.max_upload_bytes, state.config.max_request_bytes);
    // A bad query is refused before the body is read; the body guard
    // drains what is left unread, so the client still sees the 400.
    let options = query.options()?;
    let mut files = MultipartFiles::new(content_type(&headers), body, &state.spool_dir, limits.0, limits.1)?;
    let job_id = new_job_id().map_err(|err| ApiError::internal(format!("no randomness: {err}")))?;
    let job_dir = jobs.store.job_dir(&job_id);
    let mut documents: Vec<UploadedDocument> = Vec::new();
    let result: Result<(), ApiError> = async {
        tokio::fs::create_dir_all(&job_dir).await.map_err(|err| ApiError::from_io("cannot create the job", &err))?;
        while let Some(part) = files.next_file().await? {
            let index = documents.len();
            match part.content {
                Err(err) => {
                    let outcome = ResultLine { index, filename: part.filename.clone(), result: Err(err) };
                    let line = String::from_utf8(outcome.to_line().to_vec()).expect("UTF-8");
                    let refusal = Some(line.trim_end().to_owned());
                    documents.push(UploadedDocument { filename: part.filename, sha256: None, refusal });
                }
                Ok(spooled) => {
                    let path = job_dir.join(index.to_string());
                    let sha256 = Some(spooled.sha256);
                    tokio::task::spawn_blocking(move || persist(spooled.document, &path))
                        .await
                        .map_err(|err| ApiError::internal(err.to_string()))?
                        .map_err(|err| ApiError::from_io("cannot store the upload", &err))?;
                    documents.push(UploadedDocument { filename: part.filename, sha256, refusal: None });
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
        let (job_id, documents) = (job_id.clone(), documents.clone());
        let (dir, owner) = (job_dir.clone(), tenant.owner.clone());
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
            let _ = jobs.queue.send(PendingDocument { job_id: job_id.clone(), index, filename, options, sha256 });
        }
    }
    let status = blocking(&jobs.store, {
        let (job_id, owner) = (job_id.clone(), tenant.owner.clone());
        move |store| store.status(&job_id, owner.as_deref())
    })
    .await?
    .unwrap_or(Value::Null);
    let location = format!("/v1/jobs/{job_id}");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(status)).into_response())
}

pub async fn status(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let jobs = state.jobs()?;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let lookup = id.clone();
    match blocking(&jobs.store, move |store| store.status(&lookup, tenant.owner.as_deref())).await? {
        Some(status) => Ok(Json(status)),
        None => Err(not_found(&id)),
    }
}

pub async fn results(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let jobs = state.jobs()?;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let lookup = id.clone();
    let visible = blocking(&jobs.store, move |store| {
        if store.status(&lookup, tenant.owner.as_deref())?.is_none() {
            return Ok(None);
        }
        store.summary(&lookup).map(Some)
    })
    .await?;
    let Some(summary) = visible else { return Err(not_found(&id)) };
    // The lines stream from the store a page at a time; the summary that
    // closes the results of a job that is over was computed when it ended.
    let store = Arc::clone(&jobs.store);
    let pages = futures_util::stream::try_unfold(-1, move |after| {
        let (store, id) = (Arc::clone(&store), id.clone());
        async move {
            let page = blocking(&store, move |store| store.results_page(&id, after)).await?;
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
    let jobs = state.jobs()?;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let (lookup, owner) = (id.clone(), tenant.owner.clone());
    let Some(after) = blocking(&jobs.store, move |store| store.cancel(&lookup, owner.as_deref())).await? else {
        return Err(not_found(&id));
    };
    if after == "cancelled" {
        if let Some(flag) = jobs.cancels.lock().unwrap().remove(&id) {
            let _ = flag.send(true);
        }
        let store = Arc::clone(&jobs.store);
        let job_id = id.clone();
        let _ = tokio::task::spawn_blocking(move || store.drop_files(&job_id)).await;
    }
    let lookup = id.clone();
    let status = blocking(&jobs.store, move |store| store.status(&lookup, tenant.owner.as_deref()))
        .await?
        .unwrap_or(Value::Null);
    Ok(Json(status))
}

#[derive(Deserialize)]
pub struct ListQuery {
    pub(super) limit: Option<u32>,
    pub(super) after: Option<String>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let jobs = state.jobs()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after_seq = match &query.after {
        None => 0,
        Some(id) => {
            let (lookup, owner) = (id.clone(), tenant.owner.clone());
            blocking(&jobs.store, move |store| store.seq_of(&lookup, owner.as_deref()))
                .await?
                .ok_or_else(|| ApiError::bad_request(format!("after={id:?} is not a job")))?
        }
    };
    let page = blocking(&jobs.store, move |store| store.list(after_seq, limit + 1, tenant.owner.as_deref())).await?;
    let more = page.len() > limit as usize;
    let jobs: Vec<Value> = page.into_iter().take(limit as usize).map(|(_, job)| job).collect();
    let next = if more { jobs.last().map(|job| job["id"].clone()) } else { None };
    Ok(Json(json!({"jobs": jobs, "next_after": next})))
}
