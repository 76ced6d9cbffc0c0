//! Connection URLs as libpq reads them, rewritten into the one form the drivers read alike.
//!
//! libpq accepts a socket directory in several places: a `host=` parameter, the host part
//! percent-encoded (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`), or an empty host with the
//! user before it (`postgres://user@/db?host=/dir`). The URL parser the drivers share refuses
//! the last form (credentials without a host), and an empty host is not read the same way
//! everywhere. [`normalize`] turns every URL naming a socket directory, or no host at all, into
//! `postgres:///db?host=<dir>&port=..&user=..&password=..&<its own parameters>`, which
//! everything that connects (the pool, the LISTEN connection, migrations) reads the same way
//! (with no host at all, the driver looks for the usual socket directories, then localhost).
//! A URL with a host name or address is left as it is, apart from its scheme.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What is escaped in a parameter value written by [`normalize`]: everything but unreserved
/// characters and `/`, so that a socket directory stays readable and a value cannot end the
/// parameter (`&`, `=`, `#`), read as a space (`+`), or end a shell's quotes (`'`).
const PARAM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The scheme every driver in the service accepts.
const SCHEME: &str = "postgres://";

/// Rewrites a libpq-style PostgreSQL URL into the form the service's drivers accept (see the
/// module documentation). Anything it does not understand (another scheme, several hosts,
/// invalid percent-encoding) is returned unchanged, for the driver to report.
pub fn normalize(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if !(scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql")) {
        return url.to_owned();
    }
    socket_form(rest).unwrap_or_else(|| format!("{SCHEME}{rest}"))
}

/// `rest` (the URL after `scheme://`) in the parameter form, when its host is empty or a socket
/// directory; None when it names a host (or is not understood).
fn socket_form(rest: &str) -> Option<String> {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    if hostport.starts_with('[') || hostport.contains(',') {
        // an IPv6 address, or several hosts: not a socket
        return None;
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    };
    let host = decode(host)?;
    if !(host.is_empty() || host.starts_with('/')) {
        return None;
    }
    if port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    // libpq has no fragment; the URL parser would drop it anyway
    let query = query.map(|q| q.split_once('#').map_or(q, |(q, _)| q));
    let path = path.split_once('#').map_or(path, |(p, _)| p);

    let mut params: Vec<String> = Vec::new();
    if !host.is_empty() {
        params.push(param("host", &host));
    }
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        params.push(format!("port={port}"));
    }
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            params.push(param("user", &decode(user)?));
        }
        if let Some(password) = password {
            params.push(param("password", &decode(password)?));
        }
    }
    // the URL's own parameters last: as in libpq, they override what the authority said
    params.extend(
        query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
            // libpq reads `+` as itself, the driver (form encoding) as a space
            .map(|p| p.replace('+', "%2B")),
    );
    let mut out = format!("{SCHEME}{path}");
    if !path.starts_with('/') {
        out.insert(SCHEME.len(), '/');
    }
    if !params.is_empty() {
        out.push('?');
        out.push_str(&params.join("&"));
    }
    Some(out)
}

fn decode(text: &str) -> Option<Cow<'_, str>> {
    percent_decode_str(text).decode_utf8().ok()
}

fn param(name: &str, value: &str) -> String {
    format!("{name}={}", utf8_percent_encode(value, PARAM_VALUE))
}

/// Where `url` points, for logs, metrics and `/readyz`: `host:port/database` (the socket
/// directory for a socket), never its user or password, nor any parameter (a password may be
/// one). A URL that cannot be read is named only as such.
pub fn redacted(url: &str) -> String {
    use std::str::FromStr;
    let Ok(options) = sqlx::postgres::PgConnectOptions::from_str(&normalize(url)) else {
        return "(an unreadable database URL)".to_owned();
    };
    let place = match options.get_socket() {
        Some(dir) => dir.display().to_string(),
        None => options.get_host().to_owned(),
    };
    format!(
        "{place}:{}/{}",
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

/// A socket directory as a `host=` parameter value ([`normalize`]'s escaping), for URLs the
/// service prints.
pub fn encode_param(value: &str) -> String {
    utf8_percent_encode(value, PARAM_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::str::FromStr;

    use sqlx::postgres::PgConnectOptions;

    use super::normalize;

    /// What the driver reads from `url` once normalised: socket, port, user, password-less
    /// database. The sea-orm front door also parses it with the URL parser first.
    fn read(url: &str) -> (Option<String>, u16, String, Option<String>) {
        let normalised = normalize(url);
        assert!(
            reqwest::Url::parse(&normalised).is_ok(),
            "{url} -> {normalised}: not a URL"
        );
        let o = PgConnectOptions::from_str(&normalised)
            .unwrap_or_else(|e| panic!("{url} -> {normalised}: {e}"));
        (
            o.get_socket().map(|p| p.display().to_string()),
            o.get_port(),
            o.get_username().to_owned(),
            o.get_database().map(str::to_owned),
        )
    }

    fn socket(dir: &str, user: &str) -> (Option<String>, u16, String, Option<String>) {
        (
            Some(dir.to_owned()),
            5432,
            user.to_owned(),
            Some("jbtestsuite".to_owned()),
        )
    }

    #[test]
    fn normalize_when_user_before_an_empty_host_then_the_host_parameter_is_the_socket() {
        assert_eq!(
            read("postgres://postgres@/jbtestsuite?host=/srv/jb/run"),
            socket("/srv/jb/run", "postgres")
        );
        assert_eq!(
            read("postgresql://postgres@/jbtestsuite?host=/srv/jb/run"),
            socket("/srv/jb/run", "postgres")
        );
    }

    #[test]
    fn normalize_when_the_host_part_is_a_percent_encoded_path_then_it_is_the_socket() {
        assert_eq!(
            read("postgres://postgres@%2Fvar%2Frun%2Fpostgresql/jbtestsuite"),
            socket("/var/run/postgresql", "postgres")
        );
        assert_eq!(
            read("postgres://postgres@%2fvar%2frun%2fpostgresql:5432/jbtestsuite"),
            socket("/var/run/postgresql", "postgres")
        );
        assert_eq!(
            read("postgres://%2Fvar%2Frun%2Fpostgresql/jbtestsuite?user=postgres"),
            socket("/var/run/postgresql", "postgres")
        );
    }

    #[test]
    fn normalize_when_the_forms_that_already_worked_then_they_still_do() {
        assert_eq!(
            read("postgres:///jbtestsuite?host=/srv/jb/run&user=postgres"),
            socket("/srv/jb/run", "postgres")
        );
        assert_eq!(
            read("postgres://postgres@localhost:5432/jbtestsuite?host=/srv/jb/run"),
            socket("/srv/jb/run", "postgres")
        );
    }

    #[test]
    fn normalize_when_an_empty_host_has_a_port_then_it_names_the_socket_file() {
        let (dir, port, user, db) =
            read("postgres://postgres@:5433/jbtestsuite?host=%2Fsrv%2Fjb%2Frun");
        assert_eq!(dir.as_deref(), Some("/srv/jb/run"));
        assert_eq!(port, 5433);
        assert_eq!(user, "postgres");
        assert_eq!(db.as_deref(), Some("jbtestsuite"));
    }

    #[test]
    fn normalize_when_the_path_and_credentials_need_escaping_then_they_survive() {
        let url = "postgres://us%40er:p%26ss%3Dw+rd@/jbtestsuite?host=/tmp/a%20b%26c/run";
        let normalised = normalize(url);
        let o = PgConnectOptions::from_str(&normalised).expect(&normalised);
        assert_eq!(
            o.get_socket().map(|p| p.as_path()),
            Some(Path::new("/tmp/a b&c/run"))
        );
        assert_eq!(o.get_username(), "us@er");
        // sqlx keeps the password private: compare the URL it would write back
        assert!(
            normalised.contains("password=p%26ss%3Dw%2Brd"),
            "{normalised}"
        );
    }

    #[test]
    fn normalize_when_parameters_repeat_the_authority_then_the_parameters_win() {
        let (dir, _, user, _) = read("postgres://alice@%2Fone/jbtestsuite?host=/two&user=bob");
        assert_eq!(dir.as_deref(), Some("/two"));
        assert_eq!(user, "bob");
    }

    #[test]
    fn normalize_when_a_host_is_named_then_only_the_scheme_changes() {
        for url in [
            "postgres://user:pw@db.example.com:5432/app",
            "postgres://user@[::1]:5432/app?sslmode=require",
            "postgres://user@h1,h2/app",
            "mysql://user@/app",
            "not a url",
        ] {
            assert_eq!(normalize(url), url);
        }
        assert_eq!(
            normalize("postgresql://user@db.example.com/app"),
            "postgres://user@db.example.com/app"
        );
    }

    #[test]
    fn normalize_when_no_host_at_all_then_the_driver_default_applies_to_the_user_given() {
        // as libpq: the default socket directories (the driver looks for them), else localhost
        let (dir, port, user, db) = read("postgres://postgres@/jbtestsuite");
        assert_eq!(dir, None);
        assert_eq!(port, 5432);
        assert_eq!(user, "postgres");
        assert_eq!(db.as_deref(), Some("jbtestsuite"));
    }

    #[test]
    fn normalize_when_applied_twice_then_nothing_changes() {
        let once = normalize("postgres://postgres@/jbtestsuite?host=/srv/jb/run");
        assert_eq!(normalize(&once), once);
        assert_eq!(
            once,
            "postgres:///jbtestsuite?user=postgres&host=/srv/jb/run"
        );
    }

    #[test]
    fn redacted_when_credentials_are_given_then_none_shows() {
        for (url, shown) in [
            (
                "postgres://reader:s3cret@db.example.com:5433/app?password=other",
                "db.example.com:5433/app",
            ),
            (
                "postgres://postgres:s3cret@/jbtestsuite?host=/srv/jb/run",
                "/srv/jb/run:5432/jbtestsuite",
            ),
        ] {
            let label = super::redacted(url);
            assert_eq!(label, shown);
            assert!(
                !label.contains("s3cret") && !label.contains("other"),
                "{label}"
            );
        }
        assert!(!super::redacted("postgres://u:s3cret@[bad").contains("s3cret"));
    }

    #[test]
    fn a_plus_in_a_parameter_then_kept_as_libpq_keeps_it() {
        let url = normalize("postgres://u@/db?host=/run&password=p+w");
        let options: sqlx::postgres::PgConnectOptions = url.parse().expect("parses");
        assert_eq!(options.get_username(), "u");
        assert!(url.contains("password=p%2Bw"), "{url}");
    }
}
