//! `/v1/jobs`: create (store every document, then 202), status, results,
//! cancel and list. The work itself runs in [`crate::jobs`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::upload::MultipartFiles;
use super::{content_type, AnalyzeQuery, AppState};
use crate::error::ApiError;
use crate::jobs::{blocking, new_job_id, persist, valid_job_id, PendingDocument};
use crate::ndjson::{summary_from_lines, ResultLine};

/// Most jobs one `GET /v1/jobs` lists.
const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/jobs", post(create).get(list))
        .route("/v1/jobs/{id}", get(status).delete(cancel))
        .route("/v1/jobs/{id}/results", get(results))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no job {id:?}"))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let jobs = Arc::clone(&state.jobs);
    let limits = (state.config.pool.max_upload_bytes, state.config.max_request_bytes);
    let mut files = MultipartFiles::new(content_type(&headers), body, &state.spool_dir, limits.0, limits.1)?;
    let options = match query.options() {
        Ok(options) => options,
        Err(err) => {
            files.drain().await;
            return Err(err);
        }
    };
    let job_id = new_job_id().map_err(|err| ApiError::internal(format!("no randomness: {err}")))?;
    let job_dir = jobs.store.job_dir(&job_id);
    let mut documents: Vec<(String, Option<String>)> = Vec::new();
    let result: Result<(), ApiError> = async {
        tokio::fs::create_dir_all(&job_dir).await.map_err(|err| ApiError::internal(format!("job dir: {err}")))?;
        while let Some(part) = files.next_file().await? {
            let index = documents.len();
            match part.content {
                Err(err) => {
                    let outcome = ResultLine { index, filename: part.filename.clone(), result: Err(err) };
                    let line = String::from_utf8(outcome.to_line().to_vec()).expect("UTF-8");
                    documents.push((part.filename, Some(line.trim_end().to_owned())));
                }
                Ok(spooled) => {
                    let path = job_dir.join(index.to_string());
                    tokio::task::spawn_blocking(move || persist(spooled.document, &path))
                        .await
                        .map_err(|err| ApiError::internal(err.to_string()))?
                        .map_err(|err| ApiError::internal(format!("cannot store the upload: {err}")))?;
                    documents.push((part.filename, None));
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
        let dir = job_dir.clone();
        blocking(&jobs.store, move |store| {
            // The directory entries of the stored files are durable too.
            if let Ok(dir) = std::fs::File::open(&dir) {
                let _ = dir.sync_all();
            }
            store.create(&job_id, options, &documents)
        })
        .await?;
    }
    for (index, (filename, line)) in documents.into_iter().enumerate() {
        if line.is_none() {
            let _ = jobs.queue.send(PendingDocument { job_id: job_id.clone(), index, filename, options });
        }
    }
    let status = blocking(&jobs.store, {
        let job_id = job_id.clone();
        move |store| store.status(&job_id)
    })
    .await?
    .unwrap_or(Value::Null);
    let location = format!("/v1/jobs/{job_id}");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(status)).into_response())
}

pub async fn status(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Result<Json<Value>, ApiError> {
    let jobs = &state.jobs;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let lookup = id.clone();
    match blocking(&jobs.store, move |store| store.status(&lookup)).await? {
        Some(status) => Ok(Json(status)),
        None => Err(not_found(&id)),
    }
}

pub async fn results(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Result<Response, ApiError> {
    let jobs = &state.jobs;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let lookup = id.clone();
    let (status, lines) =
        blocking(&jobs.store, move |store| Ok((store.status(&lookup)?, store.results(&lookup)?))).await?;
    let Some(status) = status else { return Err(not_found(&id)) };
    let mut body = String::new();
    for line in &lines {
        body.push_str(line);
        body.push('\n');
    }
    // The summary closes the results of a job that is over.
    if status["status"] != "queued" && status["status"] != "running" {
        let elapsed_ms = status["finished_ms"].as_i64().unwrap_or(0) - status["created_ms"].as_i64().unwrap_or(0);
        body.push_str(&summary_from_lines(&lines, elapsed_ms.max(0) as u64));
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

pub async fn cancel(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Result<Json<Value>, ApiError> {
    let jobs = &state.jobs;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let lookup = id.clone();
    let Some(after) = blocking(&jobs.store, move |store| store.cancel(&lookup)).await? else {
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
    let status = blocking(&jobs.store, move |store| store.status(&lookup)).await?.unwrap_or(Value::Null);
    Ok(Json(status))
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

pub async fn list(State(state): State<Arc<AppState>>, Query(query): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let jobs = &state.jobs;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after_seq = match &query.after {
        None => 0,
        Some(id) => {
            let lookup = id.clone();
            blocking(&jobs.store, move |store| store.seq_of(&lookup))
                .await?
                .ok_or_else(|| ApiError::bad_request(format!("after={id:?} is not a job")))?
        }
    };
    let page = blocking(&jobs.store, move |store| store.list(after_seq, limit + 1)).await?;
    let more = page.len() > limit as usize;
    let jobs: Vec<Value> = page.into_iter().take(limit as usize).map(|(_, job)| job).collect();
    let next = if more { jobs.last().map(|job| job["id"].clone()) } else { None };
    Ok(Json(json!({"jobs": jobs, "next_after": next})))
}
