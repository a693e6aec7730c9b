//! sprig's `urlParse` and `urlJoin`, with Go's `net/url` ([`super::gourl`]): `urlParse` is
//! `url.Parse` with the URL's parts in a dict, `urlJoin` builds a `url.URL` from such a dict
//! and prints it as Go does. Errors say what is wrong without quoting the URL (Go quotes it,
//! password included).

use std::collections::HashMap;

use gtmpl_ng::{Func, FuncError, Value};

use super::gourl::{Url, Userinfo};
use super::values::{arity, bytes_to_tstr, generic, go_kind, map_arg, str_arg, tstr_to_bytes};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[("urlParse", url_parse), ("urlJoin", url_join)];

/// sprig's `urlParse`: `scheme host hostname path query opaque fragment userinfo`, each a
/// string (the path and fragment decoded, the query raw, the userinfo re-encoded by Go).
fn url_parse(args: &[Value]) -> Result<Value, FuncError> {
    arity("urlParse", args, 1)?;
    let raw = tstr_to_bytes(str_arg("urlParse", &args[0])?);
    let url = Url::parse(&raw).map_err(|e| generic(format!("unable to parse url: {e}")))?;
    let userinfo = url.user.as_ref().map(Userinfo::encoded).unwrap_or_default();
    let fields: [(&str, &[u8]); 8] = [
        ("scheme", &url.scheme),
        ("host", &url.host),
        ("hostname", url.hostname()),
        ("path", &url.path),
        ("query", &url.raw_query),
        ("opaque", &url.opaque),
        ("fragment", &url.fragment),
        ("userinfo", &userinfo),
    ];
    // An Object: a key it does not have is an error, as `missingkey=error` makes it in Go.
    Ok(Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(bytes_to_tstr(v))))
            .collect::<HashMap<_, _>>(),
    ))
}

/// sprig's `urlJoin`: a URL from a dict of `urlParse`'s keys (a missing key is empty; a value
/// that is not a string is an error), printed as Go prints a `url.URL`.
fn url_join(args: &[Value]) -> Result<Value, FuncError> {
    arity("urlJoin", args, 1)?;
    let dict = map_arg("urlJoin", &args[0])?;
    let get = |key: &str| -> Result<Vec<u8>, FuncError> {
        match dict.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(tstr_to_bytes(s)),
            Some(other) => Err(generic(format!(
                "unable to parse {key} key, must be of type string, but {} found",
                go_kind(other)
            ))),
        }
    };
    let mut url = Url {
        scheme: get("scheme")?,
        host: get("host")?,
        path: get("path")?,
        raw_query: get("query")?,
        opaque: get("opaque")?,
        fragment: get("fragment")?,
        ..Url::default()
    };
    let userinfo = get("userinfo")?;
    if !userinfo.is_empty() {
        // sprig reads the userinfo by parsing "proto://<userinfo>@host".
        let mut probe = b"proto://".to_vec();
        probe.extend(userinfo);
        probe.extend_from_slice(b"@host");
        url.user = Url::parse(&probe)
            .map_err(|e| generic(format!("unable to parse userinfo in dict: {e}")))?
            .user;
    }
    Ok(Value::String(bytes_to_tstr(&url.to_bytes())))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// sprig's url_test.go: every field of `urlParse`, `urlJoin` of each back to the URL, and
    /// its `urlJoin` templates; Go's `stringURLTests` through `urlJoin`.
    #[test]
    fn template_functions() {
        let d: &[(&str, &str)] = &[];
        let sprig: &[(&str, &str)] = &[
            (
                "proto://auth@host:80/path?query#fragment",
                r#"{"fragment":"fragment","host":"host:80","hostname":"host","opaque":"","path":"/path","query":"query","scheme":"proto","userinfo":"auth"}"#,
            ),
            (
                "proto://host:80/path",
                r#"{"fragment":"","host":"host:80","hostname":"host","opaque":"","path":"/path","query":"","scheme":"proto","userinfo":""}"#,
            ),
            (
                "something",
                r#"{"fragment":"","host":"","hostname":"","opaque":"","path":"something","query":"","scheme":"","userinfo":""}"#,
            ),
            (
                "proto://user:passwor%20d@host:80/path",
                r#"{"fragment":"","host":"host:80","hostname":"host","opaque":"","path":"/path","query":"","scheme":"proto","userinfo":"user:passwor%20d"}"#,
            ),
            (
                "proto://host:80/pa%20th?key=val%20ue",
                r#"{"fragment":"","host":"host:80","hostname":"host","opaque":"","path":"/pa th","query":"key=val%20ue","scheme":"proto","userinfo":""}"#,
            ),
        ];
        for (input, json) in sprig {
            check(&[
                (&format!("{{{{ urlParse {input:?} | toJson }}}}"), d, json),
                (&format!("{{{{ urlParse {input:?} | urlJoin }}}}"), d, input),
            ]);
        }
        check(&[
            (
                r#"{{ index ( urlParse "proto://auth@host:80/path?query#fragment" ) "host" }}"#,
                d,
                "host:80",
            ),
            (
                r#"{{ urlJoin (dict "fragment" "fragment" "host" "host:80" "path" "/path" "query" "query" "scheme" "proto") }}"#,
                d,
                "proto://host:80/path?query#fragment",
            ),
            (
                r#"{{ urlJoin (dict "fragment" "fragment" "host" "host:80" "path" "/path" "scheme" "proto" "userinfo" "ASDJKJSD") }}"#,
                d,
                "proto://ASDJKJSD@host:80/path#fragment",
            ),
            (
                r#"{{ urlJoin (dict "scheme" "http" "host" "www.google.com" "path" "search") }}"#,
                d,
                "http://www.google.com/search",
            ),
            (
                r#"{{ urlJoin (dict "path" "this:that") }}"#,
                d,
                "./this:that",
            ),
            (
                r#"{{ urlJoin (dict "path" "here/this:that") }}"#,
                d,
                "here/this:that",
            ),
            (
                r#"{{ urlJoin (dict "scheme" "http" "host" "www.google.com" "path" "this:that") }}"#,
                d,
                "http://www.google.com/this:that",
            ),
            // Worked out from Go's printer: the decoded path and fragment are escaped again,
            // a password keeps its place in the userinfo.
            (
                r#"{{ (urlParse "https://u:p%40ss@db.example:5432/a%2Fb?x=1#f%20g").hostname }}"#,
                d,
                "db.example",
            ),
            (
                r#"{{ urlParse "https://u:p%40ss@db.example:5432/a%2Fb?x=1#f%20g" | urlJoin }}"#,
                d,
                "https://u:p%40ss@db.example:5432/a/b?x=1#f%20g",
            ),
            (r#"{{ (urlParse "http://[::1]:80/").hostname }}"#, d, "::1"),
        ]);
        assert!(
            render(r#"{{ urlJoin (dict "host" 80) }}"#, d)
                .unwrap_err()
                .to_string()
                .contains("unable to parse host key, must be of type string, but int found")
        );
        // An error names what is wrong, never the URL or a piece of it (a password here).
        let secret: &[(&str, &str)] = &[("dsn", "http://u:zz/x@h")];
        let err = render("{{ urlParse .dsn }}", secret)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unable to parse url: invalid port after host"),
            "{err}"
        );
        assert!(!err.contains("zz"), "{err}");
        let err = render(r#"{{ urlJoin (dict "userinfo" "a b") }}"#, d)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unable to parse userinfo in dict: net/url: invalid userinfo"),
            "{err}"
        );
        assert!(!err.contains("a b"), "{err}");
    }
}
