//! Automatic persisted queries (Apollo's protocol): a client sends a document's SHA-256 in
//! `extensions.persistedQuery` instead of the document, over GET or POST. An unknown hash is
//! answered with the error `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`); the
//! client then sends the document with its hash, which is checked and kept, and the next
//! requests send the hash alone. The documents are kept per server process, the least
//! recently used going first past `--persisted-queries`; a client whose hash another process
//! does not know simply sends its document again.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::Value;
use axum::http::StatusCode;
use sha2::{Digest, Sha256};

/// Most bytes of documents kept, whatever their number: the documents of a few front ends
/// take some hundreds of KB.
const MAX_KEPT_BYTES: usize = 16 * 1024 * 1024;

/// Documents by their SHA-256 (lowercase hex), bounded in number and in bytes.
pub(crate) struct PersistedQueries {
    documents: Option<Mutex<Kept>>,
}

struct Kept {
    documents: lru::LruCache<String, String>,
    bytes: usize,
}

impl Kept {
    fn put(&mut self, hash: String, document: String) {
        if document.len() > crate::limits::MAX_QUERY_BYTES {
            // refused as too long anyway
            return;
        }
        self.bytes += document.len();
        if let Some((_, old)) = self.documents.push(hash, document) {
            self.bytes -= old.len();
        }
        while self.bytes > MAX_KEPT_BYTES {
            match self.documents.pop_lru() {
                Some((_, old)) => self.bytes -= old.len(),
                None => break,
            }
        }
    }
}

/// Why a request's persisted query cannot be used: the status, code and message to answer.
pub(crate) struct Refused {
    /// `None`: a GraphQL request error (its status follows the response's media type).
    pub(crate) status: Option<StatusCode>,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl PersistedQueries {
    /// Keeping up to `capacity` documents (0: the protocol is off).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            documents: NonZeroUsize::new(capacity).map(|n| {
                Mutex::new(Kept {
                    documents: lru::LruCache::new(n),
                    bytes: 0,
                })
            }),
        }
    }

    /// Whether the request asks for a persisted query at all.
    pub(crate) fn asked(request: &async_graphql::Request) -> bool {
        request.extensions.contains_key("persistedQuery")
    }

    /// Completes `request` if it names a persisted query by its hash alone: its document
    /// from the cache. With the document sent too, checks that the hash is the document's and
    /// gives the hash to [`Self::keep`] once the document proved worth keeping (it parsed and
    /// its sender was admitted). A request without one is left as it is.
    pub(crate) fn resolve(
        &self,
        request: &mut async_graphql::Request,
    ) -> Result<Option<String>, Refused> {
        let Some(asked) = request.extensions.get("persistedQuery") else {
            return Ok(None);
        };
        let bad = |message: &str| Refused {
            status: Some(StatusCode::BAD_REQUEST),
            code: "BAD_REQUEST",
            message: format!("extensions.persistedQuery: {message}"),
        };
        let Value::Object(asked) = asked else {
            return Err(bad("must be an object { version: 1, sha256Hash }"));
        };
        match asked.get("version") {
            Some(Value::Number(n)) if n.as_i64() == Some(1) => {}
            _ => return Err(bad("only version 1 is supported")),
        }
        let hash = match asked.get("sha256Hash") {
            Some(Value::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                h.to_ascii_lowercase()
            }
            _ => {
                return Err(bad(
                    "sha256Hash must be the document's SHA-256 in 64 hex digits",
                ));
            }
        };
        let Some(documents) = &self.documents else {
            return Err(Refused {
                status: None,
                code: "PERSISTED_QUERY_NOT_SUPPORTED",
                message: "PersistedQueryNotSupported".to_owned(),
            });
        };
        if request.query.is_empty() {
            let mut documents = documents.lock().unwrap_or_else(|p| p.into_inner());
            return match documents.documents.get(&hash) {
                Some(document) => {
                    request.query.clone_from(document);
                    Ok(None)
                }
                None => Err(Refused {
                    status: None,
                    code: "PERSISTED_QUERY_NOT_FOUND",
                    message: "PersistedQueryNotFound".to_owned(),
                }),
            };
        }
        // a document too long to run is refused by the size bound, not hashed
        if request.query.len() > crate::limits::MAX_QUERY_BYTES {
            return Ok(None);
        }
        let actual = crate::artifacts::store::hex(&Sha256::digest(request.query.as_bytes()));
        if actual != hash {
            return Err(bad(
                "the sha256Hash is not the SHA-256 of the query sent with it",
            ));
        }
        Ok(Some(hash))
    }

    /// Keeps `document` under `hash` (checked by [`Self::resolve`]).
    pub(crate) fn keep(&self, hash: String, document: &str) {
        if let Some(documents) = &self.documents {
            documents
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .put(hash, document.to_owned());
        }
    }
}
