//! The async runtime the blocking engine drives `object_store` with.
//!
//! The engine calls its file system from its own threads (writers, flush and compaction
//! threads, readers), never from inside an async context, so each call can block on one
//! future. One small multi-threaded runtime serves every store in the process.

use std::future::Future;
use std::io;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

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
