//! The server's error events, kept so that an `INTERNAL_SERVER_ERROR` (whose cause the client
//! is not told) can be reported with its cause. The subscriber is the process's global one: a
//! test running beside the fuzzer may add its own errors, which then show next to a case.

use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Most events kept between two drains: a case that logs in a loop does not grow the test.
const MAX_KEPT: usize = 64;

/// Most bytes kept of one event: a database error may quote a request's whole text (megabytes).
const MAX_EVENT_BYTES: usize = 2_000;

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

/// An event's fields as text, cut at [`MAX_EVENT_BYTES`] while it is written, so that a huge
/// value is never formatted whole.
struct Text(String);

impl std::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = MAX_EVENT_BYTES.saturating_sub(self.0.len());
        if s.len() <= room {
            self.0.push_str(s);
            return Ok(());
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.0.push_str(&s[..end]);
        Err(std::fmt::Error)
    }
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self, "{}={value:?} ", field.name());
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut text = Text(format!("{} ", event.metadata().target()));
        event.record(&mut text);
        if let Ok(mut events) = EVENTS.lock()
            && events.len() < MAX_KEPT
        {
            events.push(text.0);
        }
    }
}

/// Installs the capture as the global subscriber, unless one is installed already.
pub fn install() {
    let capture = Capture.with_filter(LevelFilter::WARN);
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(capture));
}

/// The warnings and errors logged since the last call.
pub fn drain() -> Vec<String> {
    EVENTS
        .lock()
        .map(|mut e| std::mem::take(&mut *e))
        .unwrap_or_default()
}
