//! ESO's certificate functions: `filterCertChain` (`pem.go`, `pem_chain.go`) and `certSANs`.
//!
//! A chain is ordered as ESO orders it: a certificate's parent is the first other certificate
//! whose subject key id equals its authority key id (a missing id is empty, and two empty ids
//! are equal, as Go's `bytes.Equal` has it); nothing is verified.

use gtmpl_ng::{Func, FuncError, Value};
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::pem::{PemBlock, find, pem_decode, pem_encode};
use super::values::{arity, generic, str_arg, tstr_to_bytes};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("filterCertChain", filter_cert_chain),
    ("certSANs", cert_sans),
];

/// One certificate: its DER and its key ids (empty when absent).
pub(super) struct Cert {
    pub(super) der: Vec<u8>,
    aki: Vec<u8>,
    ski: Vec<u8>,
}

impl Cert {
    fn is_root(&self) -> bool {
        self.aki.is_empty() || self.aki == self.ski
    }
}

/// Go's `x509.ParseCertificate`, for what ESO reads of it.
pub(super) fn parse_cert(der: &[u8]) -> Result<Cert, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("x509: malformed certificate: {e}"))?;
    let mut aki = Vec::new();
    let mut ski = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                if let Some(id) = &a.key_identifier {
                    aki = id.0.to_vec();
                }
            }
            ParsedExtension::SubjectKeyIdentifier(id) => ski = id.0.to_vec(),
            _ => {}
        }
    }
    Ok(Cert {
        der: der.to_vec(),
        aki,
        ski,
    })
}

/// ESO's `pemToNodes`: every PEM block parsed as a certificate.
fn pem_certs(data: &[u8]) -> Result<Vec<Cert>, String> {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        let (block, next) = pem_decode(rest);
        let Some(block) = block else {
            return Ok(out);
        };
        rest = next;
        out.push(parse_cert(&block.bytes)?);
    }
}

/// ESO's `fetchX509CertChains`: the certificates ordered leaf → intermediates → root.
pub(super) fn order_chain(certs: Vec<Cert>) -> Result<Vec<Cert>, String> {
    let n = certs.len();
    let mut parent: Vec<Option<usize>> = vec![None; n];
    let mut is_parent = vec![false; n];
    for i in 0..n {
        if let Some(j) = (0..n).find(|&j| j != i && certs[i].aki == certs[j].ski) {
            is_parent[j] = true;
            parent[i] = Some(j);
        }
    }
    let mut leaf = None;
    for (i, &p) in is_parent.iter().enumerate() {
        if !p {
            if leaf.is_some() {
                return Err("found multiple leaf or disjunct certificates".to_owned());
            }
            leaf = Some(i);
        }
    }
    let mut at = leaf.ok_or("no leaf certificate found")?;
    let mut order = vec![at];
    while let Some(p) = parent[at] {
        if order.len() >= n {
            return Err("constructing chain resulted in cycle".to_owned());
        }
        order.push(p);
        at = p;
    }
    let mut slots: Vec<Option<Cert>> = certs.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

pub(super) fn cert_pem(der: &[u8]) -> String {
    pem_encode(&PemBlock {
        type_: "CERTIFICATE".to_owned(),
        headers: Vec::new(),
        bytes: der.to_vec(),
    })
}

/// `filterCertChain type pem`: the `leaf`, the `intermediate`s or the `root` of the chain, as
/// PEM; "" when the chain has none (a lone self-signed certificate is a root, not a leaf) or
/// for another type.
fn filter_cert_chain(args: &[Value]) -> Result<Value, FuncError> {
    arity("filterCertChain", args, 2)?;
    let which = str_arg("filterCertChain", &args[0])?;
    let input = tstr_to_bytes(str_arg("filterCertChain", &args[1])?);
    let ordered = pem_certs(&input).and_then(order_chain).map_err(generic)?;
    let out = match which {
        "leaf" => {
            let leaf = &ordered[0];
            if leaf.aki.is_empty() || leaf.aki == leaf.ski {
                String::new()
            } else {
                cert_pem(&leaf.der)
            }
        }
        "intermediate" => ordered[1..]
            .iter()
            .take_while(|c| !c.is_root())
            .map(|c| cert_pem(&c.der))
            .collect(),
        "root" => {
            let root = &ordered[ordered.len() - 1];
            if root.is_root() {
                cert_pem(&root.der)
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    Ok(Value::String(out))
}

/// Go's `net.IP.String`: dotted for IPv4 (and IPv4-mapped IPv6), RFC 5952 for IPv6.
fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            let ip = std::net::Ipv6Addr::from(a);
            match ip.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => ip.to_string(),
            }
        }
        _ => {
            let mut s = String::from("?");
            for b in bytes {
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
    }
}

/// `certSANs pem`: the first certificate's subject alternative names, DNS names first, then IP
/// addresses, email addresses and URIs.
fn cert_sans(args: &[Value]) -> Result<Value, FuncError> {
    arity("certSANs", args, 1)?;
    let input = tstr_to_bytes(str_arg("certSANs", &args[0])?);
    let start = find(&input, b"-----BEGIN").unwrap_or(0);
    let (block, _) = pem_decode(&input[start..]);
    let block = block.ok_or_else(|| generic("failed to decode PEM block"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&block.bytes).map_err(|e| {
        generic(format!(
            "failed to parse certificate: x509: malformed certificate: {e}"
        ))
    })?;
    let (mut dns, mut ips, mut emails, mut uris) = (vec![], vec![], vec![], vec![]);
    for ext in cert.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(s) => dns.push(s.to_string()),
                    GeneralName::IPAddress(b) => ips.push(ip_text(b)),
                    GeneralName::RFC822Name(s) => emails.push(s.to_string()),
                    GeneralName::URI(s) => uris.push(s.to_string()),
                    _ => {}
                }
            }
        }
    }
    Ok(Value::Array(
        [dns, ips, emails, uris]
            .into_iter()
            .flatten()
            .map(Value::String)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// What Go renders with ESO's `pem.go` and `pem_chain.go` over the chain in `testdata/`.
    #[test]
    fn chains_and_sans_as_go() {
        let (root, inter, leaf) = (
            fixture("root.pem"),
            fixture("inter.pem"),
            fixture("leaf.pem"),
        );
        let mixed = "(print .root_pem .leaf_pem .inter_pem)";
        for (tpl, want) in [
            (format!(r#"{{{{ filterCertChain "leaf" {mixed} }}}}"#), leaf.clone()),
            (format!(r#"{{{{ filterCertChain "intermediate" {mixed} }}}}"#), inter.clone()),
            (format!(r#"{{{{ filterCertChain "root" {mixed} }}}}"#), root.clone()),
            (format!(r#"{{{{ filterCertChain "other" {mixed} }}}}"#), String::new()),
            // A lone self-signed certificate is a root only.
            (
                r#"{{ filterCertChain "leaf" .root_pem }}|{{ filterCertChain "intermediate" .root_pem }}"#.to_owned(),
                "|".to_owned(),
            ),
            (r#"{{ filterCertChain "root" .root_pem }}"#.to_owned(), root.clone()),
            // Without its root, the chain has none, and the intermediate is still one.
            (
                r#"{{ filterCertChain "root" (print .leaf_pem .inter_pem) }}|{{ filterCertChain "intermediate" (print .leaf_pem .inter_pem) }}"#.to_owned(),
                format!("|{inter}"),
            ),
            (
                "{{ certSANs .leaf_pem | toJson }}".to_owned(),
                r#"["a.example","b.example","10.0.0.1","2001:db8::1","ops@example.com","spiffe://example/ns/a"]"#.to_owned(),
            ),
            ("{{ certSANs .root_pem | toJson }}".to_owned(), "[]".to_owned()),
            (
                r#"{{ certSANs (print "junk\n" .leaf_pem) | first }}"#.to_owned(),
                "a.example".to_owned(),
            ),
        ] {
            assert_eq!(render_fixtures(&tpl).unwrap(), want, "{tpl}");
        }
        for (tpl, want) in [
            (
                r#"{{ filterCertChain "leaf" (print .leaf_pem .root_pem) }}"#,
                "found multiple leaf or disjunct certificates",
            ),
            (
                r#"{{ filterCertChain "leaf" "" }}"#,
                "no leaf certificate found",
            ),
            (
                r#"{{ filterCertChain "leaf" .leaf_key_pkcs8 }}"#,
                "x509: malformed",
            ),
            (r#"{{ certSANs "junk" }}"#, "failed to decode PEM block"),
        ] {
            let err = render_fixtures(tpl).unwrap_err().to_string();
            assert!(err.contains(want), "{tpl}: {err}");
        }
    }
}
