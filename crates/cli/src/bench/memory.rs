//! How much memory an engine's run held at its peak, from `/proc/self` (Linux).
//!
//! The kernel keeps the peak resident set (`VmHWM`) exactly, but that counts the pages of
//! mapped files too: an engine that reads its tables and writes its log through memory maps
//! (Strata by default) shows those pages, which the kernel can drop at any time, where an
//! engine reading with `pread` (RocksDB) shows none. The peak of anonymous memory (heap,
//! stacks, arenas) is what an engine cannot give back; the kernel keeps no peak of it, so a
//! thread samples it when asked (`--sample-memory`).

#[cfg(target_os = "linux")]
use std::fs::File;
#[cfg(target_os = "linux")]
use std::os::unix::fs::FileExt;
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
    /// The largest anonymous resident set a sample saw, when sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) anon_bytes: Option<u64>,
}

/// The resident peak so far, without sampling (`VmHWM`); `None` where the system does not
/// say.
pub(crate) fn peak_resident_now() -> Option<MemoryPeak> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some(MemoryPeak { rss_bytes: peak_resident(&status)?, anon_bytes: None })
}

/// How often the sampler looks: one `pread` of `/proc/self/statm`. An allocation that lives
/// for less than this can be missed; a memtable lives for seconds.
///
/// NOTE: sampling is not free even so. With a look every 20 ms, Strata alone, six pairs
/// against the same build not sampling: readwhilewriting ran at 240k against 269k ops/s
/// (medians; slower in five pairs of six), p99.9 48.8 against 40.6 µs. Hence sampling only
/// when asked, and less often.
const EVERY: Duration = Duration::from_millis(100);

/// Samples this process's anonymous resident set until [`Sampler::finish`].
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    anon: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling; `None` where `/proc/self/statm` does not say.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn start() -> Option<Self> {
        None
    }

    /// Starts sampling; `None` where `/proc/self/statm` does not say.
    #[cfg(target_os = "linux")]
    pub(crate) fn start() -> Option<Self> {
        let statm = File::open("/proc/self/statm").ok()?;
        let page = page_size()?;
        let first = anon_now(&statm, page)?;
        let stop = Arc::new(AtomicBool::new(false));
        let anon = Arc::new(AtomicU64::new(first));
        let thread = {
            let (stop, anon) = (Arc::clone(&stop), Arc::clone(&anon));
            std::thread::Builder::new()
                .name("bench-memory".into())
                .spawn(move || {
                    // One look more after `finish` asks to stop: the run's last moment counts.
                    loop {
                        if let Some(now) = anon_now(&statm, page) {
                            anon.fetch_max(now, Ordering::Relaxed);
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(EVERY);
                    }
                })
                .ok()?
        };
        Some(Self { stop, anon, thread: Some(thread) })
    }

    /// Stops sampling and gives the peaks since the process started (`VmHWM`) and since
    /// [`Sampler::start`] (anonymous).
    pub(crate) fn finish(mut self) -> Option<MemoryPeak> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        Some(MemoryPeak { anon_bytes: Some(self.anon.load(Ordering::Relaxed)), ..peak_resident_now()? })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The system's page size, the unit of `/proc/self/statm`.
#[cfg(target_os = "linux")]
fn page_size() -> Option<u64> {
    // SAFETY: `sysconf` reads a configuration value; it has no preconditions and touches no
    // memory of ours.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0)
}

/// Anonymous resident bytes now, read from an open `/proc/self/statm`.
#[cfg(target_os = "linux")]
fn anon_now(statm: &File, page: u64) -> Option<u64> {
    let mut buf = [0u8; 160];
    let n = statm.read_at(&mut buf, 0).ok()?;
    anon_pages(std::str::from_utf8(&buf[..n]).ok()?).map(|pages| pages * page)
}

/// From `/proc/self/statm` (pages: size, resident, shared, ...): resident pages less the
/// shared ones (file-backed and shared memory), which leaves the anonymous ones.
fn anon_pages(statm: &str) -> Option<u64> {
    let mut fields = statm.split_ascii_whitespace().skip(1).map(str::parse::<u64>);
    let resident = fields.next()?.ok()?;
    let shared = fields.next()?.ok()?;
    resident.checked_sub(shared)
}

/// `VmHWM` of `/proc/self/status`, in bytes.
fn peak_resident(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proc_files_give_the_peak_and_the_anonymous_pages() {
        let status = "Name:\tstrata\nVmPeak:\t  900000 kB\nVmHWM:\t  313344 kB\nVmRSS:\t  200000 kB\n";
        assert_eq!(peak_resident(status), Some(313_344 * 1024));
        assert_eq!(peak_resident("VmRSS:\t 1 kB\n"), None, "no VmHWM line");
        assert_eq!(peak_resident("VmHWM:\t x kB\n"), None, "not a number");
        assert_eq!(anon_pages("61234 45000 5000 300 0 40000 0\n"), Some(40_000));
        assert_eq!(anon_pages("61234 45000\n"), None, "no shared field");
        assert_eq!(anon_pages("61234 4000 5000 300 0 40000 0\n"), None, "more shared than resident");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_sampler_sees_memory_the_run_touched_and_freed() {
        let sampler = Sampler::start().expect("Linux has /proc/self/status");
        let page = page_size().expect("a page size");
        let before = anon_now(&File::open("/proc/self/statm").expect("statm"), page).expect("anon");
        // 64 MiB touched page by page, held well past a few samples, then freed.
        let mut block = vec![0u8; 64 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        std::thread::sleep(EVERY * 3);
        drop(std::hint::black_box(block));
        let peak = sampler.finish().expect("peak");
        let anon = peak.anon_bytes.expect("sampled");
        assert!(anon >= before + (48 << 20), "anon peak {anon} from {before}");
        assert!(peak.rss_bytes >= anon, "VmHWM {} counts anonymous pages too", peak.rss_bytes);
    }
}
