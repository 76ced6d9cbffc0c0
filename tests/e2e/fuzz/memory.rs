//! The process's resident memory, sampled for its peak.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often resident memory is sampled for its peak.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(5);

/// Loads what printing a backtrace needs, when panics print one (`RUST_BACKTRACE`), before
/// memory is measured: the first backtrace reads the binary's debug information (some 200 MiB
/// for this test binary) and keeps it, so a server panic would otherwise count as growth.
pub fn load_backtrace_symbols() {
    if std::env::var("RUST_BACKTRACE").is_ok_and(|v| v != "0") {
        let _ = std::backtrace::Backtrace::force_capture().to_string();
    }
}

/// Samples the process's resident memory (`VmRSS`) on a thread of its own, for its peak and
/// the case running then.
pub struct RssSampler {
    baseline: u64,
    peak: Arc<AtomicU64>,
    case: Arc<AtomicU64>,
    peak_case: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

impl RssSampler {
    pub fn start() -> Self {
        let baseline = rss_bytes();
        let peak = Arc::new(AtomicU64::new(baseline));
        let case = Arc::new(AtomicU64::new(0));
        let peak_case = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, case, peak_case, stop) =
                (peak.clone(), case.clone(), peak_case.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let now = rss_bytes();
                    if peak.fetch_max(now, Ordering::Relaxed) < now {
                        peak_case.store(case.load(Ordering::Relaxed), Ordering::Relaxed);
                    }
                    std::thread::sleep(RSS_SAMPLE_INTERVAL);
                }
            })
        };
        Self {
            baseline,
            peak,
            case,
            peak_case,
            stop,
            thread,
        }
    }

    /// Case `number` runs from now on.
    pub fn at(&self, number: u64) {
        self.case.store(number, Ordering::Relaxed);
    }

    /// The baseline, the peak, and the case during which it was reached.
    pub fn stop(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        (
            self.baseline,
            self.peak.load(Ordering::Relaxed),
            self.peak_case.load(Ordering::Relaxed),
        )
    }
}
