//! What a run found: the first case of each finding, the bugs known and not yet fixed, and a
//! case as text.

use super::cases::{self, Case, Ctx, Frame, Kind};
use super::wire::{Finding, Property, short};

/// How much of a request a printed finding shows (`JBTS_FUZZ_DUMP` keeps it whole).
pub const REQUEST_CHARS: usize = 1_500;

/// A server bug this fuzzer has found and that is not fixed yet: a finding it matches is
/// reported at the end of the run without failing the test, so that the suite stays useful for
/// everything else meanwhile. Remove an entry once its fix is merged; `JBTS_FUZZ_STRICT=1`
/// fails on these too.
struct Known {
    property: Property,
    /// Part of the finding's signature.
    signature: &'static str,
    /// Part of the request's text ("" for any request).
    request: &'static str,
}

const KNOWN: &[Known] = &[];

/// The first case that showed a finding.
pub struct Example {
    pub number: u64,
    pub kind: Kind,
    pub request: String,
    pub causes: Vec<String>,
    pub finding: Finding,
}

impl Example {
    /// Whether it fails the test: a broken property, or an INTERNAL_SERVER_ERROR (input must
    /// get a coded answer of its own), not known to be fixed elsewhere. A reset after a close
    /// frame that arrives when the client waits is not a dropped close frame: it is reported.
    pub fn fails(&self) -> bool {
        let strict = std::env::var("JBTS_FUZZ_STRICT").is_ok();
        let f = &self.finding;
        if f.property == Property::WsUndrained {
            return strict;
        }
        strict
            || !KNOWN.iter().any(|k| {
                k.property == f.property
                    && f.signature.contains(k.signature)
                    && self.request.contains(k.request)
            })
    }

    pub fn report(&self, seed: u64) -> String {
        let causes = if self.causes.is_empty() {
            String::new()
        } else {
            format!("\n  logged: {}", self.causes.join("\n          "))
        };
        format!(
            "- {}: {}\n  case {} ({}), replay: JBTS_FUZZ_SEED={seed} JBTS_FUZZ_CASE={}\n  request: {}\n  response: {}{causes}",
            self.finding.property.name(),
            self.finding.signature,
            self.number,
            self.kind.name(),
            self.number,
            self.request.replace('\n', "\n    "),
            self.finding.response,
        )
    }
}

/// A case as text, tokens named rather than shown, at most `max` characters of each part.
pub fn describe(case: &Case, ctx: &Ctx, max: usize) -> String {
    let hide = |s: &str| {
        s.replace(&ctx.admin, "<admin token>")
            .replace(&ctx.member, "<member token>")
    };
    match case {
        Case::Http(h) => {
            let auth = match &h.auth {
                cases::Auth::Admin => "Bearer <admin token>".to_owned(),
                cases::Auth::Member => "Bearer <member token>".to_owned(),
                cases::Auth::Anonymous => "(none)".to_owned(),
                cases::Auth::Header(v) => format!("{v:?}"),
            };
            if h.get {
                format!(
                    "GET /graphql?{}\naccept: {:?}, authorization: {auth}",
                    short(&h.query_string, max),
                    h.accept
                )
            } else {
                format!(
                    "POST /graphql\ncontent-type: {:?}, accept: {:?}, authorization: {auth}\nbody: {}",
                    h.content_type,
                    h.accept,
                    short(&format!("{:?}", String::from_utf8_lossy(&h.body)), max)
                )
            }
        }
        Case::Ws(w) => {
            let frames: Vec<String> = w
                .frames
                .iter()
                .map(|f| match f {
                    Frame::Text(t) => format!("text {}", short(&hide(t), max / 2)),
                    Frame::Binary(b) => format!("binary {}", short(&format!("{b:?}"), max / 4)),
                    Frame::Ping(b) => format!("ping {b:?}"),
                    Frame::Pong(b) => format!("pong {b:?}"),
                    Frame::Close(c, r) => format!("close {c} {r:?}"),
                })
                .collect();
            format!(
                "WebSocket /graphql/ws, subprotocol {:?}\n{}",
                w.protocol,
                frames.join("\n")
            )
        }
    }
}
