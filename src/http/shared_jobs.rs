//! Storing a `/v1/jobs` upload in a PostgreSQL store shared by several
//! nodes (`--store`): the job, documents and all, in one transaction before
//! the 202, so any node can run and answer it; a store that is away answers
//! 503. Every other endpoint reads it through [`super::jobs`].

use docmill_engine::Options;

use super::jobs::refusal_line;
use super::upload::MultipartFiles;
use crate::error::ApiError;
use crate::jobs::{bounded, finish_job, insert_document, insert_job, SharedJobs, StoreError};
use crate::pool::Document;
use sha2::Digest as _;

/// The bytes of a spooled upload (the store keeps them, not the disk).
async fn read_all(document: Document) -> Result<Vec<u8>, ApiError> {
    match document {
        Document::Memory(bytes) => Ok(bytes.to_vec()),
        Document::Sealed(memfd) => read_from_start(memfd.into_file()).await,
        Document::File(file) => read_from_start(file).await,
    }
}

async fn read_from_start(mut file: std::fs::File) -> Result<Vec<u8>, ApiError> {
    tokio::task::spawn_blocking(move || {
        std::io::Seek::rewind(&mut file)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes)?;
        Ok(bytes)
    })
    .await
    .map_err(|err| ApiError::internal(err.to_string()))?
    .map_err(|err: std::io::Error| ApiError::from_io("cannot read the spooled upload", &err))
}

/// Stores the upload's job and every document in one transaction, then
/// wakes this node's executor to claim them.
pub(super) async fn store_shared(
    jobs: &SharedJobs,
    mut files: MultipartFiles,
    job_id: &str,
    options: Options,
    owner: Option<&str>,
) -> Result<(), ApiError> {
    let store = jobs.store()?;
    let mut client = store.connection().await?;
    let tx = bounded(async { client.transaction().await.map_err(StoreError::from) }).await?;
    let (mut total, mut refused) = (0, 0);
    let stored: Result<(), ApiError> = async {
        insert_job(&tx, job_id, options, owner).await?;
        while let Some(part) = files.next_file().await? {
            let index = total;
            total += 1;
            match part.content {
                Err(err) => {
                    let line = refusal_line(index, &part.filename, err);
                    refused += 1;
                    insert_document(&tx, job_id, index, &part.filename, Err(&line)).await?;
                }
                Ok(spooled) => {
                    let known = spooled.digest.known();
                    let bytes = read_all(spooled.document).await?;
                    let sha256 = known.unwrap_or_else(|| sha2::Sha256::digest(&bytes).into());
                    insert_document(&tx, job_id, index, &part.filename, Ok((bytes.as_slice(), sha256))).await?;
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
    finish_job(&tx, job_id, total, refused).await?;
    bounded(async { tx.commit().await.map_err(StoreError::from) }).await?;
    jobs.wake();
    Ok(())
}
