//! Progress bars for seeding and long phases (hidden when not on a terminal or when the
//! options say so), and one-line phase messages on stderr.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::Options;

/// How often a bar redraws by itself.
const TICK: Duration = Duration::from_millis(120);

/// A bar of `len` steps.
pub fn bar(options: &Options, len: u64, message: &str) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{spinner} {msg:<34} [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_message(message.to_owned());
    pb.enable_steady_tick(TICK);
    pb
}

/// A bar over a timed phase, in tenths of a second.
pub fn timed(options: &Options, duration: Duration, message: &str) -> ProgressBar {
    bar(options, (duration.as_millis() / 100) as u64, message)
}

/// A phase message on stderr.
pub fn say(options: &Options, message: &str) {
    if options.progress {
        eprintln!("bench: {message}");
    }
}
