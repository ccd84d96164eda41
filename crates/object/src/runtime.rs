//! The async runtime the blocking engine drives `object_store` with.
//!
//! The engine calls its file system from its own threads (writers, flush and compaction
//! threads, readers), never from inside an async context, so each call can block on one
//! future. One small multi-threaded runtime serves every store in the process.

use std::error::Error as _;
use std::future::Future;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path as ObjPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::runtime::{Builder, Runtime};

use crate::stats::bump;

fn runtime() -> io::Result<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = Builder::new_multi_thread().worker_threads(2).thread_name("strata-object").enable_all().build()?;
    // Another thread may have won the race; its runtime is used and this one dropped.
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Runs `future` to completion on the shared runtime, blocking this thread.
///
/// # Errors
///
/// When the runtime cannot start, or when called from inside an async context (which would
/// deadlock a runtime thread): the engine's API is blocking, so an async caller must use
/// `spawn_blocking`.
pub(crate) fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(io::Error::other(
            "strata-object was called from inside an async runtime; call the database from spawn_blocking",
        ));
    }
    Ok(runtime()?.block_on(future))
}

/// How often, and for how long, a read that failed in transport is sent again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadRetries {
    pub(crate) max_retries: usize,
    pub(crate) retry_timeout: Duration,
}

/// Runs the idempotent read `read` to completion, blocking this thread, and runs it again
/// while it fails in transport in a way `object_store`'s own retries give up on. Each run is
/// counted in `requests`.
///
/// `object_store` retries a request that failed to connect or to be sent, but not one whose
/// failure it cannot classify: hyper handing out a pooled connection the server closed a
/// moment before ("connection was not ready") is one, and a short outage produces it. A read
/// changes nothing, so running it again is safe; a write is never retried here. Answers from
/// the server (not found, refused, a status code) are returned at once.
pub(crate) fn block_on_read<T, F, Fut>(
    retries: ReadRetries,
    requests: &AtomicU64,
    mut read: F,
) -> io::Result<object_store::Result<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = object_store::Result<T>>,
{
    block_on(async {
        let start = Instant::now();
        let mut backoff = Duration::from_millis(25);
        let mut attempt = 0;
        loop {
            bump(requests, 1);
            match read().await {
                Err(e) if attempt < retries.max_retries && unclassified_transport_failure(&e) => {
                    if start.elapsed() + backoff > retries.retry_timeout {
                        return Err(e);
                    }
                    attempt += 1;
                    tracing::info!(attempt, ?backoff, error = %e, "a read failed in transport; sending it again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                answer => return answer,
            }
        }
    })
}

/// Every object under `dir` (one listing, retried as a read), counted in `lists`.
pub(crate) fn list_all(
    store: &dyn ObjectStore,
    dir: &ObjPath,
    retries: ReadRetries,
    lists: &AtomicU64,
) -> io::Result<Vec<ObjectMeta>> {
    block_on_read(retries, lists, || store.list(Some(dir)).try_collect::<Vec<_>>())?.map_err(io_error)
}

/// Deletes `object`, counted in `deletes`; one already gone counts as deleted.
pub(crate) fn delete_object(store: &dyn ObjectStore, object: &ObjPath, deletes: &AtomicU64) -> io::Result<()> {
    bump(deletes, 1);
    match block_on(store.delete(object))? {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(io_error(e)),
    }
}

/// Whether `e` is a transport failure `object_store` did not retry itself: an HTTP error of
/// a kind it cannot tell apart from a broken request.
fn unclassified_transport_failure(e: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = source {
        if let Some(http) = s.downcast_ref::<HttpError>() {
            return matches!(http.kind(), HttpErrorKind::Unknown | HttpErrorKind::Decode);
        }
        source = s.source();
    }
    false
}

/// An `object_store` error as an I/O error of the matching kind.
pub(crate) fn io_error(e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            io::ErrorKind::AlreadyExists
        }
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            io::ErrorKind::PermissionDenied
        }
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            io::ErrorKind::Unsupported
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}
