//! Who a shared subscription stream's next message is for.
//!
//! Clients subscribing with the same document, variables and visibility share one stream
//! (`http::ws::fanout`): it runs once, and each of its messages is serialised once for all of
//! them. Its clients do not all need every message: one that joins a running stream needs the
//! whole current state first, which the others already have, and changes only after that.
//! The stream's resolver and its fan-out agree through an [`Audience`]: a client joins with a
//! generation number; the resolver, woken by the join, reads the whole state for the clients
//! waiting and tags each message it yields (the fan-out reads the tag of each message as it
//! comes out of the stream, which runs in the fan-out's task: tag and message agree); once
//! the whole state is out, the waiting clients are caught up and get the changes that follow.
//!
//! Reads happen in the stream's order, so a client's whole state is never older than a change
//! it is sent after, and every change committed after its whole state was read reaches it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// A change: for the clients caught up.
    Change,
    /// A whole state read for the clients that joined up to generation `generation`: the
    /// waiting ones only, or `everyone` (a resynchronisation, a first read).
    Whole { generation: u64, everyone: bool },
}

/// The agreement between a shared stream's resolver and its fan-out.
pub struct Audience {
    joins: watch::Sender<u64>,
    caught_up: AtomicU64,
    tag: Mutex<Tag>,
}

impl Default for Audience {
    fn default() -> Self {
        Self {
            joins: watch::channel(0).0,
            caught_up: AtomicU64::new(0),
            // until the resolver says otherwise (a document that does not validate, a
            // subscription refused before it reads anything): for everyone
            tag: Mutex::new(Tag::Whole {
                generation: u64::MAX,
                everyone: true,
            }),
        }
    }
}

impl Audience {
    /// A client joins (or needs the whole state again): returns its generation. The resolver
    /// is woken to read the whole state for it.
    pub fn join(&self) -> u64 {
        let mut generation = 0;
        self.joins.send_modify(|g| {
            *g += 1;
            generation = *g;
        });
        generation
    }

    /// The last generation that joined.
    pub fn joined(&self) -> u64 {
        *self.joins.borrow()
    }

    /// Resolves when a client joined after generation `caught_up` (at once if one did).
    pub async fn newcomers(&self, caught_up: u64) -> u64 {
        let mut joins = self.joins.subscribe();
        let joined = joins.wait_for(|g| *g > caught_up).await.map(|g| *g);
        match joined {
            Ok(g) => g,
            // the sender lives as long as self
            Err(_) => std::future::pending().await,
        }
    }

    /// The generation whose whole state is out: clients of it and before get changes.
    pub fn caught_up(&self) -> u64 {
        self.caught_up.load(Ordering::Acquire)
    }

    /// The clients up to `generation` have their whole state.
    pub fn catch_up(&self, generation: u64) {
        self.caught_up.fetch_max(generation, Ordering::AcqRel);
    }

    /// Tags the messages yielded from now on.
    pub fn tag(&self, tag: Tag) {
        *self.tag.lock().unwrap_or_else(|p| p.into_inner()) = tag;
    }

    /// The tag of the message just yielded.
    pub fn current(&self) -> Tag {
        *self.tag.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a client of generation `joined` gets a message tagged `tag`, the clients up to
    /// generation `caught_up` having their whole state.
    pub fn receives(tag: Tag, joined: u64, caught_up: u64) -> bool {
        match tag {
            Tag::Change => joined <= caught_up,
            Tag::Whole {
                generation,
                everyone,
            } => joined <= generation && (everyone || joined > caught_up),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_waiting_for_its_whole_state_gets_no_change_before_it() {
        let audience = Audience::default();
        let first = audience.join();
        audience.catch_up(first);
        let newcomer = audience.join();
        let caught = audience.caught_up();
        assert!(Audience::receives(Tag::Change, first, caught));
        assert!(!Audience::receives(Tag::Change, newcomer, caught));
        let whole = Tag::Whole {
            generation: newcomer,
            everyone: false,
        };
        // the whole state goes to the newcomer only
        assert!(Audience::receives(whole, newcomer, caught));
        assert!(!Audience::receives(whole, first, caught));
        audience.catch_up(newcomer);
        assert!(Audience::receives(
            Tag::Change,
            newcomer,
            audience.caught_up()
        ));
    }

    #[test]
    fn what_comes_before_the_resolver_tags_anything_goes_to_everyone() {
        let audience = Audience::default();
        let a = audience.join();
        let b = audience.join();
        for joined in [a, b] {
            assert!(Audience::receives(
                audience.current(),
                joined,
                audience.caught_up()
            ));
        }
    }

    #[test]
    fn a_resynchronisation_goes_to_everyone_joined_before_it() {
        let audience = Audience::default();
        let a = audience.join();
        audience.catch_up(a);
        let b = audience.join();
        let whole = Tag::Whole {
            generation: b,
            everyone: true,
        };
        assert!(Audience::receives(whole, a, audience.caught_up()));
        assert!(Audience::receives(whole, b, audience.caught_up()));
        let late = audience.join();
        assert!(!Audience::receives(whole, late, audience.caught_up()));
    }
}
