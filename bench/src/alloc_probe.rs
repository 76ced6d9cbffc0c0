//! Live heap bytes of the process, and of the benchmark's own client apart. Client and server
//! run in this one process, so its resident memory counts both, and memory freed by earlier
//! phases is reused without showing in it. The bench binary installs [`CountingAlloc`], which
//! counts the bytes allocated less those freed, in all and while a future wrapped in
//! [`client`] is being polled. Where it is not installed (the tests) nothing is counted and
//! [`heap`] is None.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::task::{Context, Poll};

static INSTALLED: AtomicBool = AtomicBool::new(false);
static CLIENT_BYTES: AtomicI64 = AtomicI64::new(0);
static TOTAL_BYTES: AtomicI64 = AtomicI64::new(0);

thread_local! {
    /// Whether this thread is polling a client future right now. A const-initialised `Cell`
    /// needs no allocation and no destructor, so the allocator may read it.
    static IN_CLIENT: Cell<bool> = const { Cell::new(false) };
}

fn in_client() -> bool {
    IN_CLIENT.try_with(Cell::get).unwrap_or(false)
}

fn count(delta: i64) {
    TOTAL_BYTES.fetch_add(delta, Ordering::Relaxed);
    if in_client() {
        CLIENT_BYTES.fetch_add(delta, Ordering::Relaxed);
    }
}

/// The system allocator, counting client bytes.
pub struct CountingAlloc;

// SAFETY: every call is forwarded to `System` unchanged; the counting only reads a
// thread-local flag and updates an atomic.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; `ptr` came from `System`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

/// Says that [`CountingAlloc`] is this process's global allocator (the bench binary calls it).
pub fn installed() {
    INSTALLED.store(true, Ordering::Relaxed);
}

/// Live heap bytes: (all, allocated by client futures), when counted.
pub fn heap() -> Option<(i64, i64)> {
    INSTALLED.load(Ordering::Relaxed).then(|| {
        (
            TOTAL_BYTES.load(Ordering::Relaxed),
            CLIENT_BYTES.load(Ordering::Relaxed),
        )
    })
}

/// Runs `future` with its allocations counted as the client's.
pub fn client<F: Future>(future: F) -> Client<F> {
    Client(Box::pin(future))
}

pub struct Client<F>(Pin<Box<F>>);

impl<F: Future> Future for Client<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let was = IN_CLIENT.with(|c| c.replace(true));
        let out = self.0.as_mut().poll(cx);
        IN_CLIENT.with(|c| c.set(was));
        out
    }
}

/// Peak live heap of the server (all but the client's allocations) above its level at the
/// start, while `work` runs.
pub async fn peak_server_heap<T>(work: impl std::future::Future<Output = T>) -> (T, Option<i64>) {
    let Some(_) = heap() else {
        return (work.await, None);
    };
    let server = || heap().map(|(all, client)| all - client).unwrap_or(0);
    let base = server();
    let peak = std::sync::Arc::new(AtomicI64::new(0));
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(server() - base, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let out = work.await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    (out, Some(peak.load(Ordering::Relaxed)))
}
