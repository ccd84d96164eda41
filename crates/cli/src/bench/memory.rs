//! How much memory an engine's run held at its peak, from `/proc/self/status` (Linux).
//!
//! The kernel keeps the peak resident set (`VmHWM`) exactly, but that counts the pages of
//! mapped files too: an engine that reads its tables and writes its log through memory maps
//! (Strata by default) shows those pages, which the kernel can drop at any time, where an
//! engine reading with `pread` (RocksDB) shows none. The peak of anonymous memory (heap,
//! stacks, arenas) is what an engine cannot give back; the kernel keeps no peak of it, so a
//! thread samples it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The peaks of one run, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MemoryPeak {
    /// The peak resident set, mapped file pages included (`VmHWM`).
    pub(crate) rss_bytes: u64,
    /// The largest anonymous resident set a sample saw (`RssAnon`).
    pub(crate) anon_bytes: u64,
}

/// How often the sampler reads `RssAnon`. A read of the status file takes some tens of
/// microseconds, so this costs well under 1 % of a core; an allocation that lives for less
/// than this can be missed.
const EVERY: Duration = Duration::from_millis(10);

/// Samples this process's anonymous resident set until [`Sampler::finish`].
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    anon: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling; `None` where `/proc/self/status` does not say (not Linux).
    pub(crate) fn start() -> Option<Self> {
        let first = read_status()?;
        let stop = Arc::new(AtomicBool::new(false));
        let anon = Arc::new(AtomicU64::new(first.anon_bytes));
        let thread = {
            let (stop, anon) = (Arc::clone(&stop), Arc::clone(&anon));
            std::thread::Builder::new()
                .name("bench-memory".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(now) = read_status() {
                            anon.fetch_max(now.anon_bytes, Ordering::Relaxed);
                        }
                        std::thread::sleep(EVERY);
                    }
                })
                .ok()?
        };
        Some(Self { stop, anon, thread: Some(thread) })
    }

    /// Stops sampling and gives the peaks since the process started (`VmHWM`) and since
    /// [`Sampler::start`] (`RssAnon`).
    pub(crate) fn finish(mut self) -> Option<MemoryPeak> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let last = read_status()?;
        Some(MemoryPeak {
            rss_bytes: last.rss_bytes,
            anon_bytes: self.anon.load(Ordering::Relaxed).max(last.anon_bytes),
        })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `VmHWM` and `RssAnon` now, or `None` when the file or either line is missing.
fn read_status() -> Option<MemoryPeak> {
    parse_status(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_status(status: &str) -> Option<MemoryPeak> {
    let kib = |field: &str| -> Option<u64> {
        let line = status.lines().find_map(|l| l.strip_prefix(field))?;
        let n = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
        Some(n * 1024)
    };
    Some(MemoryPeak { rss_bytes: kib("VmHWM:")?, anon_bytes: kib("RssAnon:")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_file_gives_the_peak_and_anonymous_sizes_in_bytes() {
        let status = "Name:\tstrata\nVmPeak:\t  900000 kB\nVmHWM:\t  313344 kB\nVmRSS:\t  200000 kB\n\
                      RssAnon:\t  180224 kB\nRssFile:\t   19776 kB\n";
        assert_eq!(parse_status(status), Some(MemoryPeak { rss_bytes: 313_344 * 1024, anon_bytes: 180_224 * 1024 }));
        assert_eq!(parse_status("VmHWM:\t 1 kB\n"), None, "no RssAnon line");
        assert_eq!(parse_status("VmHWM:\t x kB\nRssAnon:\t 1 kB\n"), None, "not a number");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_sampler_sees_memory_the_run_touched_and_freed() {
        let sampler = Sampler::start().expect("Linux has /proc/self/status");
        let before = read_status().expect("status").anon_bytes;
        // 64 MiB touched page by page, held well past a few samples, then freed.
        let mut block = vec![0u8; 64 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        std::thread::sleep(EVERY * 10);
        drop(std::hint::black_box(block));
        let peak = sampler.finish().expect("peak");
        assert!(peak.anon_bytes >= before + (48 << 20), "anon peak {} from {before}", peak.anon_bytes);
        assert!(peak.rss_bytes >= peak.anon_bytes, "VmHWM {} counts anonymous pages too", peak.rss_bytes);
    }
}
