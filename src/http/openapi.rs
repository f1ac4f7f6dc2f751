//! `/openapi.json` (OpenAPI 3.1) and `/docs`, a page that renders it. The
//! report's schema is generated from the engine's report types (`schemars`),
//! so it cannot drift from what the server sends; the endpoints, their query
//! parameters and responses are declared here, beside the router that serves
//! them, and the tests check each contract endpoint is in the document.

use std::sync::{Arc, OnceLock};

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use docmill_engine::report::Report;
use serde_json::{json, Map, Value};

use super::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/openapi.json", get(openapi_json)).route("/docs", get(docs))
}

async fn openapi_json() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| document().to_string());
    ([(header::CONTENT_TYPE, "application/json")], body.as_str()).into_response()
}

async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

/// A query parameter of the analysis endpoints.
fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn boolean_query(name: &str, description: &str) -> Value {
    query(name, description, json!({"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}))
}

/// What each analysing endpoint accepts in its query string.
fn analysis_parameters() -> Vec<Value> {
    vec![
        boolean_query("text", "Add the extracted text to each report."),
        boolean_query("cache", "Answer from the result cache when the same content was analysed recently."),
        boolean_query("markdown", "Add the document as Markdown (CommonMark with GFM tables)."),
        query(
            "chunks",
            "Add the text in chunks of at most N characters, split at headings, then paragraphs, sentences, words.",
            json!({"type": "integer", "minimum": 64, "maximum": 100000}),
        ),
        query(
            "chunk_overlap",
            "Repeat up to K characters of the end of a chunk at the start of the next (K < chunks; only with chunks).",
            json!({"type": "integer", "minimum": 0}),
        ),
        query(
            "pages",
            "Read only these pages of a PDF or slides of a deck: numbers and ranges, e.g. `2-3,7`.",
            json!({"type": "string", "pattern": "^[1-9][0-9]*(-[1-9][0-9]*)?(,[1-9][0-9]*(-[1-9][0-9]*)?)*$"}),
        ),
        query(
            "ocr",
            "When OCR reads images and scanned PDF pages: auto (images and pages without a text layer), on, off. \
             Default: the server's --ocr.",
            json!({"type": "string", "enum": ["auto", "on", "off"]}),
        ),
        query(
            "ocr_lang",
            "OCR languages in Tesseract's syntax (eng+deu). Default: the server's --ocr-lang, else eng.",
            json!({"type": "string", "pattern": "^[A-Za-z0-9_/]+([+ ][A-Za-z0-9_/]+)*$"}),
        ),
    ]
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The error responses every endpoint that takes an upload may give.
fn upload_errors() -> Map<String, Value> {
    let mut responses = Map::new();
    for (status, description) in [
        ("400", "`bad_request`: malformed upload or query"),
        ("401", "`unauthorized`: an API key is required"),
        ("408", "`request_timeout`: the body stalled"),
        ("413", "`payload_too_large`: a file or the request is over its limit"),
        ("415", "`unsupported_media_type`: not multipart/form-data"),
        ("503", "`overloaded`: the queue is full or the server is draining; see Retry-After"),
        ("507", "`insufficient_storage`: no disk space to spool or store the upload"),
    ] {
        responses.insert(status.into(), error_response(description));
    }
    responses
}

fn multipart_body(description: &str) -> Value {
    json!({
        "required": true,
        "description": description,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "contentMediaType": "application/octet-stream"},
            }},
        },
        "encoding": {"file": {"contentType": "application/octet-stream"}}}},
    })
}

fn ndjson(description: &str) -> Value {
    json!({"description": description, "content": {"application/x-ndjson": {
        "schema": {"$ref": "#/components/schemas/ResultLine"},
        "itemSchema": {"oneOf": [{"$ref": "#/components/schemas/ResultLine"}, {"$ref": "#/components/schemas/SummaryLine"}]},
    }}})
}

fn job_id_parameter() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}})
}

/// The whole OpenAPI document.
pub fn document() -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|settings| {
        settings.definitions_path = "/components/schemas".into();
        settings.meta_schema = None;
    });
    let mut generator = settings.into_generator();
    let report = generator.subschema_for::<Report>();
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string", "enum": [
                    "bad_request", "unauthorized", "not_found", "method_not_allowed", "request_timeout",
                    "payload_too_large", "unsupported_media_type", "parse_failed", "worker_crashed", "internal",
                    "overloaded", "timeout", "insufficient_storage"]},
                    "message": {"type": "string"}},
            }},
        }),
    );
    schemas.insert(
        "ResultLine".into(),
        json!({
            "type": "object",
            "required": ["index", "filename"],
            "properties": {
                "index": {"type": "integer", "minimum": 0, "description": "The file part's position in the upload, from 0."},
                "filename": {"type": "string"},
                "report": report,
                "error": {"$ref": "#/components/schemas/Error/properties/error"},
            },
        }),
    );
    schemas.insert(
        "SummaryLine".into(),
        json!({
            "type": "object",
            "required": ["summary"],
            "properties": {"summary": {
                "type": "object",
                "required": ["documents", "failed", "near_duplicates", "elapsed_ms"],
                "properties": {
                    "documents": {"type": "integer"},
                    "failed": {"type": "integer"},
                    "near_duplicates": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}},
                    "near_duplicate_groups": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
                    "elapsed_ms": {"type": "integer"},
                },
            }},
        }),
    );
    schemas.insert(
        "Job".into(),
        json!({
            "type": "object",
            "required": ["id", "status", "documents", "done", "failed"],
            "properties": {
                "id": {"type": "string"},
                "status": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
                "created_ms": {"type": "integer"},
                "started_ms": {"type": ["integer", "null"]},
                "finished_ms": {"type": ["integer", "null"]},
                "documents": {"type": "integer"},
                "done": {"type": "integer"},
                "failed": {"type": "integer"},
                "progress": {"type": "object", "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}}},
            },
        }),
    );
    schemas.insert(
        "Pool".into(),
        json!({
            "type": "object",
            "required": ["workers", "queue", "restarts"],
            "properties": {
                "workers": {"type": "array", "items": {"type": "object", "required": ["pid", "state", "jobs_done", "rss_bytes"], "properties": {
                    "pid": {"type": "integer"},
                    "state": {"type": "string", "enum": ["booting", "idle", "busy", "retiring"]},
                    "jobs_done": {"type": "integer"},
                    "rss_bytes": {"type": "integer"},
                }}},
                "queue": {"type": "object", "properties": {"depth": {"type": "integer"}, "capacity": {"type": "integer"}}},
                "restarts": {"type": "object", "properties": {
                    "crashed": {"type": "integer"}, "timed_out": {"type": "integer"},
                    "recycled": {"type": "integer"}, "cancelled": {"type": "integer"},
                }},
                "ocr": {"type": ["object", "null"], "description": "OCR as the workers have it; null until one booted.", "properties": {
                    "available": {"type": "boolean"},
                    "engine": {"type": ["string", "null"], "description": "e.g. tesseract 5.3.0"},
                    "languages": {"type": "array", "items": {"type": "string"}, "description": "installed"},
                    "loaded": {"type": "array", "items": {"type": "string"}, "description": "language sets loaded at start"},
                    "unavailable": {"type": ["string", "null"], "description": "why OCR is unavailable"},
                }},
            },
        }),
    );
    let report_response = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Report"}}}});
    let mut analyze_responses = upload_errors();
    analyze_responses.insert("200".into(), report_response("The document's report."));
    analyze_responses.insert("422".into(), error_response("`parse_failed`: the document could not be parsed"));
    analyze_responses.insert("500".into(), error_response("`worker_crashed`: the document killed its worker"));
    analyze_responses.insert("504".into(), error_response("`timeout`: analysis ran past --job-timeout"));
    let mut batch_responses = upload_errors();
    batch_responses.insert("200".into(), ndjson("One line per document as it completes, then a summary line."));
    let mut create_responses = upload_errors();
    create_responses.insert(
        "202".into(),
        json!({"description": "The job and its files are durable.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}}),
    );
    let mut put_parameters = analysis_parameters();
    put_parameters.push(query(
        "filename",
        "The document's name (a label and an extension hint).",
        json!({"type": "string"}),
    ));
    let job = json!({"description": "The job's status and progress.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}});
    let not_found = error_response("`not_found`: no such job (or not the caller's)");
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "docmill",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Document analysis: upload documents, get a JSON report per document.",
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"},
        },
        "paths": {
            "/v1/analyze": {
                "post": {
                    "summary": "Analyse one document sent as a multipart file part",
                    "parameters": analysis_parameters(),
                    "requestBody": multipart_body("Exactly one file part."),
                    "responses": analyze_responses,
                },
                "put": {
                    "summary": "Analyse one document sent as the raw body",
                    "parameters": put_parameters,
                    "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
                    "responses": analyze_responses,
                },
            },
            "/v1/batch": {"post": {
                "summary": "Analyse many documents; results stream as NDJSON",
                "parameters": analysis_parameters(),
                "requestBody": multipart_body("One or more file parts."),
                "responses": batch_responses,
            }},
            "/v1/jobs": {
                "post": {
                    "summary": "Store documents as a durable job, analysed after the client leaves",
                    "parameters": analysis_parameters(),
                    "requestBody": multipart_body("One or more file parts."),
                    "responses": create_responses,
                },
                "get": {
                    "summary": "List the caller's jobs, oldest first",
                    "parameters": [
                        query("limit", "Jobs per page (1 to 1000, default 100).", json!({"type": "integer", "minimum": 1, "maximum": 1000})),
                        query(
                            "after",
                            "The id of the last job of the previous page (`next_after`).",
                            json!({"type": "string", "pattern": "^[0-9a-f]{32}$"}),
                        ),
                    ],
                    "responses": {
                        "200": {"description": "A page of jobs.", "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}, "next_after": {"type": ["string", "null"]}},
                        }}}},
                        "400": error_response("`bad_request`: a bad query"),
                    },
                },
            },
            "/v1/jobs/{id}": {
                "parameters": [job_id_parameter()],
                "get": {"summary": "A job's status and progress", "responses": {"200": job, "404": not_found}},
                "delete": {"summary": "Cancel a job", "responses": {"200": job, "404": not_found}},
            },
            "/v1/jobs/{id}/results": {
                "parameters": [job_id_parameter()],
                "get": {
                    "summary": "A job's result lines so far; the summary closes those of a finished job",
                    "responses": {"200": ndjson("Result lines in completion order, then a summary once the job is over."), "404": not_found},
                },
            },
            "/v1/pool": {"get": {
                "summary": "Workers, queue and restarts",
                "responses": {"200": {"description": "The pool.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pool"}}}}},
            }},
            "/healthz": {"get": {
                "summary": "Liveness: the event loop answers",
                "responses": {"200": {"description": "Alive.", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}}}}},
            }},
            "/readyz": {"get": {
                "summary": "Readiness: workers can take work and the queue has room",
                "responses": {
                    "200": {"description": "Ready; with a reason when jobs are unavailable (a damaged job store) while analysis is served.", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"const": "ready"}, "reason": {"type": "string"}}}}}},
                    "503": {"description": "Not ready, with the reason.", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"const": "unavailable"}, "reason": {"type": "string"}}}}}},
                },
            }},
            "/metrics": {"get": {
                "summary": "Prometheus text exposition",
                "responses": {"200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1."}}}},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "Needed on /v1/* when the server has API keys."}},
        },
    })
}
