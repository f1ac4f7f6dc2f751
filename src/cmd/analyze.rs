//! `docmill analyze FILE...`: the same pool as the server, without HTTP. Files
//! are analysed concurrently and printed as NDJSON in the order given.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use docmill_engine::Options;
use futures_util::StreamExt;
use serde_json::json;

use crate::config::{self, AnalyzeArgs, LogFormat};
use crate::error::ApiError;
use crate::log;
use crate::pool::{read_document, Digest, Document, Lane, Pool, PoolConfig, Task};
use crate::supervisor::SupervisorHandle;

/// How long `analyze` waits for its workers to boot.
const BOOT_WAIT: Duration = Duration::from_secs(30);

/// Returns whether every file got a report.
pub async fn analyze_files(
    config: PoolConfig,
    supervisor: SupervisorHandle,
    paths: &[String],
    options: Options,
    max_bytes: u64,
) -> anyhow::Result<bool> {
    let in_flight = config.n_workers * 2;
    let pool = Pool::start(config, supervisor)?;
    if !pool.wait_ready(1, BOOT_WAIT).await {
        anyhow::bail!(
            "no worker booted within {}s: {}",
            BOOT_WAIT.as_secs(),
            pool.not_ready_reason().unwrap_or_default()
        );
    }
    let mut lines = futures_util::stream::iter(paths.iter())
        .map(|path| {
            let pool = &pool;
            async move { analyze_one(pool, path, options, max_bytes).await }
        })
        .buffered(in_flight);
    let mut all_ok = true;
    let mut stdout = std::io::stdout().lock();
    while let Some((line, ok)) = lines.next().await {
        all_ok &= ok;
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
    }
    drop(lines);
    pool.shutdown(Duration::from_secs(1)).await;
    Ok(all_ok)
}

async fn analyze_one(pool: &Pool, path: &str, options: Options, max_bytes: u64) -> (String, bool) {
    let error_line = |err: ApiError| (json!({"filename": path, "error": err.to_json()}).to_string(), false);
    let owned = path.to_owned();
    let read = tokio::task::spawn_blocking(move || read_file(Path::new(&owned), max_bytes)).await;
    let (document, sha256) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(err)) => return error_line(err),
        Err(err) => return error_line(ApiError::internal(err.to_string())),
    };
    let task = Task {
        filename: path.to_owned(),
        declared_type: None,
        options,
        digest: Digest::Known(sha256),
        document,
        use_cache: false,
    };
    match pool.run(task, Lane::Bulk).await {
        Ok(report) => (String::from_utf8(report.to_json()).expect("a report is UTF-8 JSON"), true),
        Err(err) => error_line(err.into()),
    }
}

/// Reads a file as an upload is spooled (`pool::read_document`): hashed as
/// it is read, so that a failure is logged with the document's sha256, and
/// never past `max_bytes`, whatever size the file had when it was looked at.
fn read_file(path: &Path, max_bytes: u64) -> Result<(Document, [u8; 32]), ApiError> {
    let too_large = |what: String| {
        ApiError::payload_too_large(format!("{} is {what}, above the limit of {max_bytes}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(|err| file_error(path, err))?;
    let metadata = file.metadata().map_err(|err| file_error(path, err))?;
    if metadata.is_dir() {
        return Err(ApiError::bad_request(format!("{} is a directory", path.display())));
    }
    if metadata.len() > max_bytes {
        return Err(too_large(format!("{} bytes", metadata.len())));
    }
    match read_document(file, max_bytes) {
        Ok(Some(read)) => Ok(read),
        Ok(None) => Err(too_large("more bytes than its size said".into())),
        Err(err) => Err(file_error(path, err)),
    }
}

fn file_error(path: &Path, err: std::io::Error) -> ApiError {
    match err.kind() {
        std::io::ErrorKind::NotFound => ApiError::not_found(format!("{}: no such file", path.display())),
        _ => ApiError::bad_request(format!("{}: {err}", path.display())),
    }
}

pub fn main(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let flags = config::pool_flags(&args.pool).unwrap_or_else(|err| config::usage_error(err));
    let supervisor = flags.start_supervisor()?;
    let _log = log::init(LogFormat::Text);
    let all_ok = crate::runtime()?.block_on(analyze_files(
        flags.pool_config(),
        supervisor,
        &args.files,
        Options { include_text: args.text, markdown: args.markdown, ..Options::default() },
        flags.max_upload_bytes,
    ))?;
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
