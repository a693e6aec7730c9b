//! The part of Go's `net/url` (Go 1.26, as ESO is built) that sprig's `urlParse` and `urlJoin`
//! reach ([`super::urls`]): `url.Parse` and `URL.String`.
//!
//! The `url` crate follows the WHATWG URL standard, which Go does not (Go keeps the query raw,
//! percent-decodes the path, accepts `mysql://a,b,c/db`, keeps a host's `<"…">`, ...), so Go's
//! parser and printer are written here: schemes, opaque URLs, authority (userinfo, host, port,
//! bracketed IPv6 with a zone, Go 1.26's stricter colons for `http` and `https`),
//! percent-decoding per part, and Go's escaping when printing, tested with rows of Go's own
//! `url_test.go`.
//!
//! Text is handled as bytes, as Go's strings are. Errors say what is wrong without quoting the
//! URL or any piece of it (Go quotes the whole URL, password included).

/// Why Go's `url.Parse` refuses a URL: its messages, without the text they quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum UrlError {
    #[error("net/url: invalid control character in URL")]
    ControlCharacter,
    #[error("missing protocol scheme")]
    MissingScheme,
    #[error("first path segment in URL cannot contain colon")]
    ColonInFirstSegment,
    #[error("net/url: invalid userinfo")]
    InvalidUserinfo,
    #[error("invalid URL escape")]
    InvalidEscape,
    #[error("invalid character in host name")]
    InvalidHostCharacter,
    #[error("missing ']' in host")]
    MissingBracket,
    #[error("invalid port after host")]
    InvalidPort,
    #[error("invalid IP-literal")]
    InvalidIpLiteral,
    #[error("invalid host: not an IP address")]
    InvalidHost,
}

/// The part of a URL a byte is escaped or unescaped for (Go's `encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

const HOST_ALLOWED: &[u8] = b"!$&'()*+,;=:[]<>\"";

/// Go's `shouldEscape` for the modes these functions use.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    // RFC 3986's sub-delims, `:` and `[]` for a port and IPv6, and `<>"`, which Parse refuses
    // anyway (a host cannot escape ASCII).
    if matches!(mode, Mode::Host | Mode::Zone) && HOST_ALLOWED.contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => c == b'?',
            Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => false,
            // Go escapes every reserved character of a host; Parse refuses them, but a dict
            // given to urlJoin may hold them.
            Mode::Host | Mode::Zone => true,
        },
        b'!' | b'(' | b')' | b'*' if mode == Mode::Fragment => false,
        _ => true,
    }
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Go's `unescape`: `%XY` decoded; in a host only non-ASCII bytes (and `%25`) may be escaped and
/// characters that would need escaping are refused.
fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, UrlError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    s.get(i + 1).copied().and_then(hex_value),
                    s.get(i + 2).copied().and_then(hex_value),
                ) else {
                    return Err(UrlError::InvalidEscape);
                };
                let escape_25 = &s[i..i + 3] == b"%25";
                if mode == Mode::Host && hi < 8 && !escape_25 {
                    return Err(UrlError::InvalidEscape);
                }
                let byte = (hi << 4) | lo;
                if mode == Mode::Zone
                    && !escape_25
                    && byte != b' '
                    && should_escape(byte, Mode::Host)
                {
                    return Err(UrlError::InvalidEscape);
                }
                out.push(byte);
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err(UrlError::InvalidHostCharacter);
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Go's `escape`: `%XY` in upper-case hex for each byte the mode escapes.
fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if should_escape(c, mode) {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        } else {
            out.push(c);
        }
    }
    out
}

fn find(hay: &[u8], needle: u8) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn rfind(hay: &[u8], needle: u8) -> Option<usize> {
    hay.iter().rposition(|&b| b == needle)
}

/// `strings.Cut`.
fn cut(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    match find(s, sep) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// `userinfo` of Go's `url.URL`: a name and, if set, a password, both decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Userinfo {
    pub(super) username: Vec<u8>,
    pub(super) password: Option<Vec<u8>>,
}

impl Userinfo {
    /// Go's `Userinfo.String`.
    pub(super) fn encoded(&self) -> Vec<u8> {
        let mut out = escape(&self.username, Mode::UserPassword);
        if let Some(password) = &self.password {
            out.push(b':');
            out.extend(escape(password, Mode::UserPassword));
        }
        out
    }
}

/// The fields of Go's `url.URL` these functions read or write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Url {
    pub(super) scheme: Vec<u8>,
    pub(super) opaque: Vec<u8>,
    pub(super) user: Option<Userinfo>,
    pub(super) host: Vec<u8>,
    pub(super) path: Vec<u8>,
    pub(super) raw_path: Vec<u8>,
    pub(super) omit_host: bool,
    pub(super) force_query: bool,
    pub(super) raw_query: Vec<u8>,
    pub(super) fragment: Vec<u8>,
    pub(super) raw_fragment: Vec<u8>,
}

/// Go's `getScheme`: `[a-zA-Z][a-zA-Z0-9+.-]*:`, else no scheme.
fn split_scheme(raw: &[u8]) -> Result<(&[u8], &[u8]), UrlError> {
    for (i, &c) in raw.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(UrlError::MissingScheme),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok((&[], raw)),
        }
    }
    Ok((&[], raw))
}

/// Go's `validOptionalPort`: empty, or `:` and digits.
fn valid_optional_port(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// What Go's `netip.ParseAddr` says of a bracketed host: an IPv6 address (a zone allowed) is
/// fine, an IPv4 address is not an IP-literal, anything else is not an address.
fn check_ip_literal(text: &[u8]) -> Result<(), UrlError> {
    let Ok(text) = std::str::from_utf8(text) else {
        return Err(UrlError::InvalidHost);
    };
    match text.find(['.', ':', '%']).map(|i| text.as_bytes()[i]) {
        Some(b':') => {
            let (address, zone) = text
                .split_once('%')
                .map_or((text, None), |(a, z)| (a, Some(z)));
            if zone == Some("") || address.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(UrlError::InvalidHost);
            }
            Ok(())
        }
        Some(b'.') if text.parse::<std::net::Ipv4Addr>().is_ok() => Err(UrlError::InvalidIpLiteral),
        _ => Err(UrlError::InvalidHost),
    }
}

/// Go 1.26's `parseHost`: `host[:port]`, `[ipv6%25zone][:port]`.
fn parse_host(scheme: &[u8], host: &[u8]) -> Result<Vec<u8>, UrlError> {
    if let Some(open) = rfind(host, b'[') {
        if open > 0 {
            return Err(UrlError::InvalidIpLiteral);
        }
        let close = rfind(host, b']').ok_or(UrlError::MissingBracket)?;
        let colon_port = &host[close + 1..];
        if !valid_optional_port(colon_port) {
            return Err(UrlError::InvalidPort);
        }
        let colon_port = unescape(colon_port, Mode::Host)?;
        let hostname = host.get(open + 1..close).ok_or(UrlError::MissingBracket)?;
        let unescaped = match hostname.windows(3).position(|w| w == b"%25") {
            Some(zone) => {
                let mut h = unescape(&hostname[..zone], Mode::Host)?;
                h.extend(unescape(&hostname[zone..], Mode::Zone)?);
                h
            }
            None => unescape(hostname, Mode::Host)?,
        };
        check_ip_literal(&unescaped)?;
        let mut out = Vec::with_capacity(unescaped.len() + colon_port.len() + 2);
        out.push(b'[');
        out.extend(unescaped);
        out.push(b']');
        out.extend(colon_port);
        return Ok(out);
    }
    if let Some(first) = find(host, b':') {
        // Colons beyond a port are refused for http and https only (Go issues 75223, 78077:
        // databases put lists of hosts there).
        let last = rfind(host, b':').unwrap_or(first);
        let at = if last != first && scheme != b"http" && scheme != b"https" {
            last
        } else {
            first
        };
        if !valid_optional_port(&host[at..]) {
            return Err(UrlError::InvalidPort);
        }
    }
    unescape(host, Mode::Host)
}

const USERINFO_ALLOWED: &[u8] = b"-._:~!$&'()*+,;=%@";

/// Go's `validUserinfo`: RFC 3986's userinfo characters, `%` and (leniently) `@`.
fn valid_userinfo(s: &[u8]) -> bool {
    s.iter()
        .all(|&c| c.is_ascii_alphanumeric() || USERINFO_ALLOWED.contains(&c))
}

fn parse_authority(
    scheme: &[u8],
    authority: &[u8],
) -> Result<(Option<Userinfo>, Vec<u8>), UrlError> {
    let Some(at) = rfind(authority, b'@') else {
        return Ok((None, parse_host(scheme, authority)?));
    };
    let host = parse_host(scheme, &authority[at + 1..])?;
    let userinfo = &authority[..at];
    if !valid_userinfo(userinfo) {
        return Err(UrlError::InvalidUserinfo);
    }
    let user = match cut(userinfo, b':') {
        (name, None) => Userinfo {
            username: unescape(name, Mode::UserPassword)?,
            password: None,
        },
        (name, Some(password)) => Userinfo {
            username: unescape(name, Mode::UserPassword)?,
            password: Some(unescape(password, Mode::UserPassword)?),
        },
    };
    Ok((Some(user), host))
}

/// The bytes Go's `validEncoded` lets through whatever the mode.
const ENCODED_ALLOWED: &[u8] = b"!$&'()*+,;=:@[]%";

impl Url {
    /// Go's `url.Parse`.
    pub(super) fn parse(raw: &[u8]) -> Result<Self, UrlError> {
        let (rest, fragment) = cut(raw, b'#');
        let mut url = Self::parse_reference(rest)?;
        if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
            url.fragment = unescape(fragment, Mode::Fragment)?;
            if escape(&url.fragment, Mode::Fragment) != fragment {
                url.raw_fragment = fragment.to_vec();
            }
        }
        Ok(url)
    }

    /// Go's `parse(rawURL, viaRequest=false)`: everything but the fragment.
    fn parse_reference(raw: &[u8]) -> Result<Self, UrlError> {
        if raw.iter().any(|&b| b < b' ' || b == 0x7f) {
            return Err(UrlError::ControlCharacter);
        }
        let mut url = Self::default();
        if raw == b"*" {
            url.path = b"*".to_vec();
            return Ok(url);
        }
        let (scheme, mut rest) = split_scheme(raw)?;
        url.scheme = scheme.to_ascii_lowercase();
        if rest.ends_with(b"?") && rest.iter().filter(|&&b| b == b'?').count() == 1 {
            url.force_query = true;
            rest = &rest[..rest.len() - 1];
        } else if let (before, Some(query)) = cut(rest, b'?') {
            url.raw_query = query.to_vec();
            rest = before;
        }
        if !rest.starts_with(b"/") {
            if !url.scheme.is_empty() {
                // A rootless path after a scheme is opaque (RFC 3986).
                url.opaque = rest.to_vec();
                return Ok(url);
            }
            if cut(rest, b'/').0.contains(&b':') {
                return Err(UrlError::ColonInFirstSegment);
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
            let authority = &rest[2..];
            let (authority, path) = match find(authority, b'/') {
                Some(i) => (&authority[..i], &authority[i..]),
                None => (authority, &b""[..]),
            };
            (url.user, url.host) = parse_authority(&url.scheme, authority)?;
            rest = path;
        } else if !url.scheme.is_empty() && rest.starts_with(b"/") {
            url.omit_host = true;
        }
        url.path = unescape(rest, Mode::Path)?;
        if escape(&url.path, Mode::Path) != rest {
            url.raw_path = rest.to_vec();
        }
        Ok(url)
    }

    /// Go's `Hostname`: the host without a valid port and without IPv6 brackets.
    pub(super) fn hostname(&self) -> &[u8] {
        let mut host = &self.host[..];
        if let Some(colon) = rfind(host, b':')
            && valid_optional_port(&host[colon..])
        {
            host = &host[..colon];
        }
        if host.len() >= 2 && host.starts_with(b"[") && host.ends_with(b"]") {
            host = &host[1..host.len() - 1];
        }
        host
    }

    /// Go's `validEncoded`: no byte that would need escaping; sub-delims, `:@`, `[]` and `%`
    /// allowed.
    fn valid_encoded(s: &[u8], mode: Mode) -> bool {
        s.iter()
            .all(|&c| ENCODED_ALLOWED.contains(&c) || !should_escape(c, mode))
    }

    /// Go's `EscapedPath`.
    fn escaped_path(&self) -> Vec<u8> {
        if !self.raw_path.is_empty()
            && Self::valid_encoded(&self.raw_path, Mode::Path)
            && unescape(&self.raw_path, Mode::Path).is_ok_and(|p| p == self.path)
        {
            return self.raw_path.clone();
        }
        if self.path == b"*" {
            return self.path.clone();
        }
        escape(&self.path, Mode::Path)
    }

    /// Go's `EscapedFragment`.
    fn escaped_fragment(&self) -> Vec<u8> {
        if !self.raw_fragment.is_empty()
            && Self::valid_encoded(&self.raw_fragment, Mode::Fragment)
            && unescape(&self.raw_fragment, Mode::Fragment).is_ok_and(|f| f == self.fragment)
        {
            return self.raw_fragment.clone();
        }
        escape(&self.fragment, Mode::Fragment)
    }

    /// Go's `URL.String`.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.scheme.is_empty() {
            out.extend_from_slice(&self.scheme);
            out.push(b':');
        }
        if self.opaque.is_empty() {
            let has_authority =
                !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some();
            let omitted = self.omit_host && self.host.is_empty() && self.user.is_none();
            if has_authority && !omitted {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    out.extend_from_slice(b"//");
                }
                if let Some(user) = &self.user {
                    out.extend(user.encoded());
                    out.push(b'@');
                }
                out.extend(escape(&self.host, Mode::Host));
            }
            let path = self.escaped_path();
            if !path.is_empty() && path[0] != b'/' && !self.host.is_empty() {
                out.push(b'/');
            }
            // A first segment with a colon would read as a scheme: Go writes `./` before it.
            if out.is_empty() && cut(&path, b'/').0.contains(&b':') {
                out.extend_from_slice(b"./");
            }
            out.extend(path);
        } else {
            out.extend_from_slice(&self.opaque);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push(b'?');
            out.extend_from_slice(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push(b'#');
            out.extend(self.escaped_fragment());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL from (field, value) pairs; `user`/`pass` set the userinfo, `omit_host` and
    /// `force_query` take "true".
    fn url(fields: &[(&str, &str)]) -> Url {
        let mut u = Url::default();
        for &(name, value) in fields {
            let v = value.as_bytes().to_vec();
            match name {
                "scheme" => u.scheme = v,
                "opaque" => u.opaque = v,
                "user" => {
                    u.user = Some(Userinfo {
                        username: v,
                        password: u.user.take().and_then(|x| x.password),
                    })
                }
                "pass" => {
                    u.user
                        .get_or_insert_with(|| Userinfo {
                            username: Vec::new(),
                            password: None,
                        })
                        .password = Some(v)
                }
                "host" => u.host = v,
                "path" => u.path = v,
                "raw_path" => u.raw_path = v,
                "omit_host" => u.omit_host = true,
                "force_query" => u.force_query = true,
                "query" => u.raw_query = v,
                "fragment" => u.fragment = v,
                "raw_fragment" => u.raw_fragment = v,
                other => panic!("{other}"),
            }
        }
        u
    }

    /// (input, the parsed URL's fields, what `String` prints or "" for the input).
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

    /// Rows of Go's `urltests` (net/url/url_test.go): the input, the URL Go parses, and what
    /// `String` prints ("" when the input itself). `mailto:/…` is as Go has printed it since
    /// `OmitHost` (1.19); the rest are the table's own.
    #[test]
    fn parses_and_prints_as_go() {
        let rows: &[Row] = &[
            (
                "http://www.google.com",
                &[("scheme", "http"), ("host", "www.google.com")],
                "",
            ),
            (
                "http://www.google.com/file%20one%26two",
                &[
                    ("scheme", "http"),
                    ("host", "www.google.com"),
                    ("path", "/file one&two"),
                    ("raw_path", "/file%20one%26two"),
                ],
                "",
            ),
            (
                "http://www.google.com/#file%20one%26two",
                &[
                    ("scheme", "http"),
                    ("host", "www.google.com"),
                    ("path", "/"),
                    ("fragment", "file one&two"),
                    ("raw_fragment", "file%20one%26two"),
                ],
                "",
            ),
            (
                "ftp://john%20doe@www.google.com/",
                &[
                    ("scheme", "ftp"),
                    ("user", "john doe"),
                    ("host", "www.google.com"),
                    ("path", "/"),
                ],
                "",
            ),
            (
                "http://www.google.com/?",
                &[
                    ("scheme", "http"),
                    ("host", "www.google.com"),
                    ("path", "/"),
                    ("force_query", "true"),
                ],
                "",
            ),
            (
                "http://www.google.com/?foo=bar?",
                &[
                    ("scheme", "http"),
                    ("host", "www.google.com"),
                    ("path", "/"),
                    ("query", "foo=bar?"),
                ],
                "",
            ),
            (
                "http:%2f%2fwww.google.com/?q=go+language",
                &[
                    ("scheme", "http"),
                    ("opaque", "%2f%2fwww.google.com/"),
                    ("query", "q=go+language"),
                ],
                "",
            ),
            (
                "mailto:/webmaster@golang.org",
                &[
                    ("scheme", "mailto"),
                    ("path", "/webmaster@golang.org"),
                    ("omit_host", "true"),
                ],
                "",
            ),
            (
                "mailto:webmaster@golang.org",
                &[("scheme", "mailto"), ("opaque", "webmaster@golang.org")],
                "",
            ),
            (
                "//user@foo/path?a=b",
                &[
                    ("user", "user"),
                    ("host", "foo"),
                    ("path", "/path"),
                    ("query", "a=b"),
                ],
                "",
            ),
            ("///threeslashes", &[("path", "///threeslashes")], ""),
            (
                "http://j@ne:password@google.com",
                &[
                    ("scheme", "http"),
                    ("user", "j@ne"),
                    ("pass", "password"),
                    ("host", "google.com"),
                ],
                "http://j%40ne:password@google.com",
            ),
            (
                "http://jane:p@ssword@google.com",
                &[
                    ("scheme", "http"),
                    ("user", "jane"),
                    ("pass", "p@ssword"),
                    ("host", "google.com"),
                ],
                "http://jane:p%40ssword@google.com",
            ),
            (
                "file:///home/adg/rabbits",
                &[("scheme", "file"), ("path", "/home/adg/rabbits")],
                "",
            ),
            (
                "MaIlTo:webmaster@golang.org",
                &[("scheme", "mailto"), ("opaque", "webmaster@golang.org")],
                "mailto:webmaster@golang.org",
            ),
            ("a/b/c", &[("path", "a/b/c")], ""),
            (
                "http://%3Fam:pa%3Fsword@google.com",
                &[
                    ("scheme", "http"),
                    ("user", "?am"),
                    ("pass", "pa?sword"),
                    ("host", "google.com"),
                ],
                "",
            ),
            (
                "http://[fe80::1%25en0]:8080/",
                &[
                    ("scheme", "http"),
                    ("host", "[fe80::1%en0]:8080"),
                    ("path", "/"),
                ],
                "",
            ),
            (
                "http://[fe80::1%25%65%6e%301-._~]/",
                &[
                    ("scheme", "http"),
                    ("host", "[fe80::1%en01-._~]"),
                    ("path", "/"),
                ],
                "http://[fe80::1%25en01-._~]/",
            ),
            (
                "http://rest.rsc.io/foo%2fbar/baz%2Fquux?alt=media",
                &[
                    ("scheme", "http"),
                    ("host", "rest.rsc.io"),
                    ("path", "/foo/bar/baz/quux"),
                    ("raw_path", "/foo%2fbar/baz%2Fquux"),
                    ("query", "alt=media"),
                ],
                "",
            ),
            (
                "mysql://a,b,c/bar",
                &[("scheme", "mysql"), ("host", "a,b,c"), ("path", "/bar")],
                "",
            ),
            (
                "scheme://!$&'()*+,;=hello!:1/path",
                &[
                    ("scheme", "scheme"),
                    ("host", "!$&'()*+,;=hello!:1"),
                    ("path", "/path"),
                ],
                "",
            ),
            (
                "http://host/!$&'()*+,;=:@[hello]",
                &[
                    ("scheme", "http"),
                    ("host", "host"),
                    ("path", "/!$&'()*+,;=:@[hello]"),
                    ("raw_path", "/!$&'()*+,;=:@[hello]"),
                ],
                "",
            ),
            (
                "http://192.168.0.2:/foo",
                &[
                    ("scheme", "http"),
                    ("host", "192.168.0.2:"),
                    ("path", "/foo"),
                ],
                "",
            ),
            (
                "http://hello.%e4%b8%96%e7%95%8c.com/foo",
                &[
                    ("scheme", "http"),
                    ("host", "hello.世界.com"),
                    ("path", "/foo"),
                ],
                "http://hello.%E4%B8%96%E7%95%8C.com/foo",
            ),
            (
                "myscheme://authority<\"hi\">/foo",
                &[
                    ("scheme", "myscheme"),
                    ("host", "authority<\"hi\">"),
                    ("path", "/foo"),
                ],
                "",
            ),
            (
                "tcp://[2020::2020:20:2020:2020%25Windows%20Loves%20Spaces]:2020",
                &[
                    ("scheme", "tcp"),
                    (
                        "host",
                        "[2020::2020:20:2020:2020%Windows Loves Spaces]:2020",
                    ),
                ],
                "",
            ),
            (
                "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn",
                &[
                    ("scheme", "magnet"),
                    (
                        "query",
                        "xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn",
                    ),
                ],
                "",
            ),
            // Go 1.26: colons beyond the port are refused for http(s) only, so a database URL
            // with an unbracketed IPv6-like host still parses (worked out from parseHost).
            (
                "postgres://2b01:e34:ef40:7730:8e70:5aff:fefe:edac:8080/foo",
                &[
                    ("scheme", "postgres"),
                    ("host", "2b01:e34:ef40:7730:8e70:5aff:fefe:edac:8080"),
                    ("path", "/foo"),
                ],
                "",
            ),
        ];
        for (input, fields, printed) in rows {
            let got = Url::parse(input.as_bytes()).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got, url(fields), "{input}");
            let want = if printed.is_empty() { input } else { printed };
            assert_eq!(String::from_utf8(got.to_bytes()).unwrap(), *want, "{input}");
        }
    }

    /// Inputs Go 1.26's `url.Parse` refuses (from its `parseRequestURLTests`, which Parse refuses
    /// too, and the IPv6 literal fixes of Go 1.24.8/1.25.2 and 1.26.1), with its error.
    #[test]
    fn refuses_as_go() {
        for (input, want) in [
            ("http://192.168.0.%31/", UrlError::InvalidEscape),
            ("http://[fe80::%31]/", UrlError::InvalidEscape),
            ("http://[fe80::1%en0]/", UrlError::InvalidEscape),
            (" http://foo.com", UrlError::ColonInFirstSegment),
            (":foo", UrlError::MissingScheme),
            ("http://x\n", UrlError::ControlCharacter),
            ("http://us er@host/", UrlError::InvalidUserinfo),
            ("http://host:port/", UrlError::InvalidPort),
            ("http://[::1/", UrlError::MissingBracket),
            ("http://ho st/", UrlError::InvalidHostCharacter),
            (
                "http://2b01:e34:ef40:7730:8e70:5aff:fefe:edac:8080/foo",
                UrlError::InvalidPort,
            ),
            ("http://a[::1]/", UrlError::InvalidIpLiteral),
            ("http://[1.2.3.4]/", UrlError::InvalidIpLiteral),
            ("http://[example.com]/", UrlError::InvalidHost),
            ("http://[fe80::1%25]/", UrlError::InvalidHost),
            ("http://host/%zz", UrlError::InvalidEscape),
            ("http://host/#%zz", UrlError::InvalidEscape),
        ] {
            assert_eq!(Url::parse(input.as_bytes()), Err(want), "{input}");
        }
    }
}
