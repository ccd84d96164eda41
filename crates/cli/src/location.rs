//! Where a command's database is: a local directory, or an object-store location
//! (`s3://bucket/prefix`, `file:///path`) opened through `strata-object`.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use strata::{Db, Error, Options};
use strata_object::{ObjectOptions, Remote};

/// A database location as given on the command line.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    Dir(PathBuf),
    Url(String),
}

impl std::str::FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.contains("://") { Ok(Self::Url(s.trim_end_matches('/').to_owned())) } else { Ok(Self::Dir(s.into())) }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(d) => write!(f, "{}", d.display()),
            Self::Url(u) => f.write_str(u),
        }
    }
}

/// How to reach an object-store location, for every command.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// S3 endpoint for s3:// locations (for example http://127.0.0.1:9000); default
    /// AWS_ENDPOINT_URL, else AWS itself. Credentials come from the AWS_* variables.
    #[arg(long, global = true)]
    pub(crate) endpoint: Option<String>,
    /// S3 region; default AWS_REGION, else us-east-1.
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,
    /// Local directory of an object-store database's log and disk cache (default:
    /// ~/.cache/strata/<location>). A writer's unflushed writes live here, so the write
    /// commands flush before they exit.
    #[arg(long, global = true)]
    pub(crate) local_dir: Option<PathBuf>,
    /// Bytes of table data the local disk cache keeps for an object-store database.
    #[arg(long, global = true, default_value_t = 1 << 30)]
    pub(crate) store_cache_bytes: u64,
    /// Bytes a scan of an object-store table fetches at once (0: exactly the pages read).
    #[arg(long, global = true, default_value_t = 1 << 20)]
    pub(crate) store_readahead_bytes: u64,
}

impl StoreArgs {
    pub(crate) fn object_options(&self) -> ObjectOptions {
        ObjectOptions {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            cache_bytes: self.store_cache_bytes,
            readahead_bytes: self.store_readahead_bytes,
            ..ObjectOptions::default()
        }
    }

    fn local_dir(&self, url: &str, role: &str) -> PathBuf {
        if let Some(d) = &self.local_dir {
            return d.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        let name: String = url.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        // A reader and a writer of one location need directories of their own.
        base.join("strata").join(format!("{name}.{role}"))
    }
}

/// What a command does with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Writes, creating the database if missing.
    Create,
    /// Writes to an existing database.
    Write,
    /// Only reads: an object-store database is opened read-only, so a running writer is
    /// not fenced.
    Read,
}

/// A location with the settings to open it.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) location: Location,
    pub(crate) store: StoreArgs,
    /// The connection to an object-store location, made once.
    remote: std::sync::OnceLock<Remote>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.location.fmt(f)
    }
}

fn describe(location: &dyn fmt::Display, e: Error) -> String {
    match e {
        Error::NotFound { .. } => format!("{location} holds no Strata database"),
        other => other.to_string(),
    }
}

impl Target {
    pub(crate) fn new(location: Location, store: StoreArgs) -> Self {
        Self { location, store, remote: std::sync::OnceLock::new() }
    }

    pub(crate) fn is_remote(&self) -> bool {
        matches!(self.location, Location::Url(_))
    }

    /// The local directory, for commands that only work on one.
    pub(crate) fn dir(&self, command: &str) -> Result<&Path, String> {
        match &self.location {
            Location::Dir(d) => Ok(d),
            Location::Url(u) => Err(format!("{command} works on a local directory, not on {u}")),
        }
    }

    /// Opens the database for `access`.
    pub(crate) fn open(&self, base: &Options, access: Access) -> Result<Db, String> {
        let options = Options { create_if_missing: access == Access::Create, ..base.clone() };
        match &self.location {
            Location::Dir(dir) => {
                if access != Access::Create && !dir.is_dir() {
                    return Err(format!("{} is not a directory", dir.display()));
                }
                Db::open(dir, options).map_err(|e| describe(self, e))
            }
            Location::Url(url) => {
                let remote = self.remote()?;
                let db = match access {
                    Access::Read => remote.open_read_only(self.store.local_dir(url, "reader"), options),
                    Access::Create | Access::Write => remote.open(self.store.local_dir(url, "writer"), options),
                };
                db.map_err(|e| describe(self, e))
            }
        }
    }

    /// The object-store connection (made on first use).
    pub(crate) fn remote(&self) -> Result<Remote, String> {
        if let Some(r) = self.remote.get() {
            return Ok(r.clone());
        }
        match &self.location {
            Location::Url(url) => {
                let r = Remote::connect(url, self.store.object_options()).map_err(|e| e.to_string())?;
                Ok(self.remote.get_or_init(|| r).clone())
            }
            Location::Dir(d) => Err(format!("{} is a local directory", d.display())),
        }
    }

    /// Closes a database a command wrote to: in object storage its writes are flushed into
    /// tables first, so the next command (on any machine) sees them.
    pub(crate) fn close(&self, db: Db) -> Result<(), String> {
        if self.is_remote() {
            db.flush().map_err(|e| e.to_string())?;
        }
        db.close().map_err(|e| e.to_string())
    }
}
