//! ESO's PKCS#12 functions (`pkcs12.go`, over `software.sslmate.com/src/go-pkcs12`), read and
//! written with the `p12-keystore` crate.
//!
//! - `pkcs12key[Pass] [password] data` and `pkcs12cert[Pass] [password] data` read a PKCS#12
//!   file (raw bytes: `{{ .p12 | b64dec | pkcs12key }}`) as go-pkcs12's `DecodeChain` does: one
//!   private key, the first certificate is the leaf, the others CA certificates. The key comes
//!   out as a PKCS#8 `PRIVATE KEY` PEM; the certificates as PEM, ordered leaf → root when they
//!   form one chain, else in file order.
//! - `pemToPkcs12[Pass] cert key [password]`, `fullPemToPkcs12[Pass]` (with the CA certificates
//!   that follow the first one) and `pemTruststoreToPKCS12[Pass] certs [password]` write a
//!   PKCS#12 file as go-pkcs12's `Modern` encoder does (PBES2 with PBKDF2-HMAC-SHA-256 and
//!   AES-256-CBC, an HMAC-SHA-256 MAC, 2048 iterations; trust stores mark each certificate
//!   trusted for Java), base64-encoded. Salts are random, so the bytes differ on every render,
//!   in Go too; what they hold does not.

use base64::Engine as _;
use gtmpl_ng::{Func, FuncError, Value};
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, Pkcs12Archive,
    PrivateKey, PrivateKeyChain,
};

use super::certs::{cert_pem, order_chain, parse_cert};
use super::keys::go_pkcs8;
use super::pem::{PemBlock, pem_decode, pem_encode};
use super::values::{arity, generic, str_arg, tstr_to_bytes};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("pkcs12key", pkcs12key),
    ("pkcs12keyPass", pkcs12key_pass),
    ("pkcs12cert", pkcs12cert),
    ("pkcs12certPass", pkcs12cert_pass),
    ("pemToPkcs12", pem_to_pkcs12),
    ("pemToPkcs12Pass", pem_to_pkcs12_pass),
    ("fullPemToPkcs12", full_pem_to_pkcs12),
    ("fullPemToPkcs12Pass", full_pem_to_pkcs12_pass),
    ("pemTruststoreToPKCS12", pem_truststore_to_pkcs12),
    ("pemTruststoreToPKCS12Pass", pem_truststore_to_pkcs12_pass),
];

/// go-pkcs12's `Modern` iteration count, for the key derivation and the MAC.
const ITERATIONS: u32 = 2048;

/// What go-pkcs12's `DecodeChain` answers: the key's DER as it was stored, the leaf and the CA
/// certificates.
struct Chain {
    key: Vec<u8>,
    leaf: Vec<u8>,
    cas: Vec<Vec<u8>>,
}

fn decode_chain(data: &[u8], password: &str) -> Result<Chain, String> {
    let archive = Pkcs12Archive::from_pkcs12(data, password).map_err(|e| format!("pkcs12: {e}"))?;
    if archive.keys.len() > 1 {
        return Err("pkcs12: expected exactly one key bag".to_owned());
    }
    let mut certs = archive.certs.into_iter().map(|c| c.cert.as_der().to_vec());
    let leaf = certs.next().ok_or("pkcs12: certificate missing")?;
    let key = archive
        .keys
        .into_iter()
        .next()
        .ok_or("pkcs12: private key missing")?;
    Ok(Chain {
        key: key.key.as_der().to_vec(),
        leaf,
        cas: certs.collect(),
    })
}

fn key_pem(name: &str, password: &str, data: &str) -> Result<Value, FuncError> {
    let chain = decode_chain(&tstr_to_bytes(data), password)
        .map_err(|e| generic(format!("unable to decode pkcs12 with password: {e}")))?;
    let (der, _) = go_pkcs8(&chain.key).map_err(|e| generic(format!("{name}: {e}")))?;
    Ok(Value::String(pem_encode(&PemBlock {
        type_: "PRIVATE KEY".to_owned(),
        headers: Vec::new(),
        bytes: der,
    })))
}

fn pkcs12key(args: &[Value]) -> Result<Value, FuncError> {
    arity("pkcs12key", args, 1)?;
    key_pem("pkcs12key", "", str_arg("pkcs12key", &args[0])?)
}

fn pkcs12key_pass(args: &[Value]) -> Result<Value, FuncError> {
    arity("pkcs12keyPass", args, 2)?;
    let pass = str_arg("pkcs12keyPass", &args[0])?;
    key_pem("pkcs12keyPass", pass, str_arg("pkcs12keyPass", &args[1])?)
}

fn certs_pem(password: &str, data: &str) -> Result<Value, FuncError> {
    let chain = decode_chain(&tstr_to_bytes(data), password).map_err(|e| {
        generic(format!(
            "unable to decode pkcs12 certificate with password: {e}"
        ))
    })?;
    let all: Vec<Vec<u8>> = std::iter::once(chain.leaf).chain(chain.cas).collect();
    // ESO orders the chain when it can, else keeps the file's order.
    let ordered = all
        .iter()
        .map(|d| parse_cert(d))
        .collect::<Result<Vec<_>, _>>()
        .and_then(order_chain);
    let text: String = match ordered {
        Ok(certs) => certs.iter().map(|c| cert_pem(&c.der)).collect(),
        Err(_) => all.iter().map(|d| cert_pem(d)).collect(),
    };
    Ok(Value::String(text))
}

fn pkcs12cert(args: &[Value]) -> Result<Value, FuncError> {
    arity("pkcs12cert", args, 1)?;
    certs_pem("", str_arg("pkcs12cert", &args[0])?)
}

fn pkcs12cert_pass(args: &[Value]) -> Result<Value, FuncError> {
    arity("pkcs12certPass", args, 2)?;
    let pass = str_arg("pkcs12certPass", &args[0])?;
    certs_pem(pass, str_arg("pkcs12certPass", &args[1])?)
}

/// Go dereferences the nil block `pem.Decode` gives for input without one: a runtime panic,
/// which the template engine reports as this error.
const NIL_BLOCK: &str = "runtime error: invalid memory address or nil pointer dereference";

/// ESO's `parseCaCerts`: PEM certificates until the input is used up.
fn parse_ca_certs(mut rest: &[u8]) -> Result<Vec<Certificate>, String> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (block, next) = pem_decode(rest);
        let block = block.ok_or(NIL_BLOCK)?;
        rest = next;
        out.push(x509(&block.bytes)?);
    }
    Ok(out)
}

fn x509(der: &[u8]) -> Result<Certificate, String> {
    parse_cert(der)?;
    Certificate::from_der(der).map_err(|e| format!("x509: {e}"))
}

fn write(store: &KeyStore, password: &str) -> Result<Value, String> {
    let der = store
        .writer(password)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .encryption_iterations(ITERATIONS)
        .mac_algorithm(MacAlgorithm::HmacSha256)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(|e| format!("pkcs12: {e}"))?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(der),
    ))
}

/// ESO's `pemToPkcs12Pass`/`fullPemToPkcs12Pass`: the first certificate of `cert` with the
/// first key of `key` (and, for `full`, the certificates after the first as CA certificates).
fn key_store(cert: &str, key: &str, password: &str, full: bool) -> Result<Value, String> {
    let cert = tstr_to_bytes(cert);
    let (block, rest) = pem_decode(&cert);
    let leaf = x509(&block.ok_or(NIL_BLOCK)?.bytes)?;
    let cas = if full {
        parse_ca_certs(rest)?
    } else {
        Vec::new()
    };
    let key = tstr_to_bytes(key);
    let (block, _) = pem_decode(&key);
    let (der, _) = go_pkcs8(&block.ok_or(NIL_BLOCK)?.bytes)?;
    let key = PrivateKey::from_der(&der).map_err(|e| format!("pkcs12: {e}"))?;
    // go-pkcs12 names the key by the SHA-1 of the leaf certificate.
    let id = {
        use sha1::Digest as _;
        sha1::Sha1::digest(leaf.as_der()).to_vec()
    };
    let mut store = KeyStore::new();
    let chain = PrivateKeyChain::new(id, key, std::iter::once(leaf).chain(cas));
    store.add_entry("1", KeyStoreEntry::PrivateKeyChain(chain));
    write(&store, password)
}

fn pem_to_pkcs12(args: &[Value]) -> Result<Value, FuncError> {
    arity("pemToPkcs12", args, 2)?;
    let cert = str_arg("pemToPkcs12", &args[0])?;
    let key = str_arg("pemToPkcs12", &args[1])?;
    key_store(cert, key, "", false).map_err(generic)
}

fn pem_to_pkcs12_pass(args: &[Value]) -> Result<Value, FuncError> {
    arity("pemToPkcs12Pass", args, 3)?;
    let cert = str_arg("pemToPkcs12Pass", &args[0])?;
    let key = str_arg("pemToPkcs12Pass", &args[1])?;
    let pass = str_arg("pemToPkcs12Pass", &args[2])?;
    key_store(cert, key, pass, false).map_err(generic)
}

fn full_pem_to_pkcs12(args: &[Value]) -> Result<Value, FuncError> {
    arity("fullPemToPkcs12", args, 2)?;
    let cert = str_arg("fullPemToPkcs12", &args[0])?;
    let key = str_arg("fullPemToPkcs12", &args[1])?;
    key_store(cert, key, "", true).map_err(generic)
}

fn full_pem_to_pkcs12_pass(args: &[Value]) -> Result<Value, FuncError> {
    arity("fullPemToPkcs12Pass", args, 3)?;
    let cert = str_arg("fullPemToPkcs12Pass", &args[0])?;
    let key = str_arg("fullPemToPkcs12Pass", &args[1])?;
    let pass = str_arg("fullPemToPkcs12Pass", &args[2])?;
    key_store(cert, key, pass, true).map_err(generic)
}

/// ESO's `pemTruststoreToPKCS12Pass`: every certificate as a trusted entry.
fn trust_store(certs: &str, password: &str) -> Result<Value, String> {
    let certs = parse_ca_certs(&tstr_to_bytes(certs))?;
    let mut store = KeyStore::new();
    for (i, cert) in certs.into_iter().enumerate() {
        store.add_entry(&i.to_string(), KeyStoreEntry::Certificate(cert));
    }
    write(&store, password)
}

fn pem_truststore_to_pkcs12(args: &[Value]) -> Result<Value, FuncError> {
    arity("pemTruststoreToPKCS12", args, 1)?;
    trust_store(str_arg("pemTruststoreToPKCS12", &args[0])?, "").map_err(generic)
}

fn pem_truststore_to_pkcs12_pass(args: &[Value]) -> Result<Value, FuncError> {
    arity("pemTruststoreToPKCS12Pass", args, 2)?;
    let certs = str_arg("pemTruststoreToPKCS12Pass", &args[0])?;
    let pass = str_arg("pemTruststoreToPKCS12Pass", &args[1])?;
    trust_store(certs, pass).map_err(generic)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use p12_keystore::Pkcs12Archive;

    use crate::render::template::testing::*;

    /// Reading files written as go-pkcs12's `Legacy` and `Modern` encoders write them (and a
    /// passwordless one): the key as Go marshals it, the certificates leaf → root.
    #[test]
    fn decodes_as_go_pkcs12() {
        let (root, inter, leaf) = (
            fixture("root.pem"),
            fixture("inter.pem"),
            fixture("leaf.pem"),
        );
        let key = fixture("leaf.key.pkcs8");
        for (tpl, want) in [
            (
                r#"{{ .legacy_1234_p12 | pkcs12keyPass "1234" }}"#,
                key.clone(),
            ),
            (
                r#"{{ .legacy_1234_p12 | pkcs12certPass "1234" }}"#,
                format!("{leaf}{inter}"),
            ),
            (
                r#"{{ index . "3des_nopass_p12" | pkcs12key }}"#,
                key.clone(),
            ),
            (
                r#"{{ .modern_pass_p12 | pkcs12keyPass "secret-pass" }}"#,
                key.clone(),
            ),
            // The file holds leaf, root, intermediate: ESO orders them.
            (
                r#"{{ .modern_pass_p12 | pkcs12certPass "secret-pass" }}"#,
                format!("{leaf}{inter}{root}"),
            ),
            ("{{ .plain_p12 | pkcs12key }}", key.clone()),
            ("{{ .plain_p12 | pkcs12cert }}", leaf.clone()),
            // The usual form: the file arrives base64-encoded.
            (
                r#"{{ .legacy_1234_p12 | b64enc | b64dec | pkcs12keyPass "1234" }}"#,
                key.clone(),
            ),
        ] {
            assert_eq!(render_fixtures(tpl).unwrap(), want, "{tpl}");
        }
        for (tpl, want) in [
            (
                r#"{{ .legacy_1234_p12 | pkcs12keyPass "wrong" }}"#,
                "unable to decode pkcs12 with password",
            ),
            (
                r#"{{ .legacy_1234_p12 | pkcs12cert }}"#,
                "unable to decode pkcs12 certificate with password",
            ),
            (r#"{{ "junk" | pkcs12key }}"#, "unable to decode pkcs12"),
        ] {
            let err = render_fixtures(tpl).unwrap_err().to_string();
            assert!(err.contains(want), "{tpl}: {err}");
        }
    }

    fn decode(b64: &str, password: &str) -> Pkcs12Archive {
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        Pkcs12Archive::from_pkcs12(&der, password).expect("a PKCS#12 file")
    }

    /// Writing: the output is randomized (salts, IVs), so it is read back, with the crate and
    /// with the template functions, and compared.
    #[test]
    fn encodes_round_trip() {
        let (root, inter, leaf) = (
            fixture("root.pem"),
            fixture("inter.pem"),
            fixture("leaf.pem"),
        );
        let key = fixture("leaf.key.pkcs8");
        let out =
            render_fixtures(r#"{{ pemToPkcs12Pass .leaf_pem .leaf_key_sec1 "pw" }}"#).unwrap();
        let archive = decode(&out, "pw");
        assert_eq!(archive.certs.len(), 1);
        assert_eq!(archive.keys.len(), 1);
        assert!(
            render_fixtures(r#"{{ pemToPkcs12 .leaf_pem .leaf_key_sec1 }}"#).unwrap() != out,
            "salted"
        );
        for (tpl, want) in [
            (
                r#"{{ pemToPkcs12Pass .leaf_pem .leaf_key_sec1 "pw" | b64dec | pkcs12keyPass "pw" }}"#,
                key.clone(),
            ),
            (
                r#"{{ pemToPkcs12 (print .leaf_pem .inter_pem) .rsa_pkcs1 | b64dec | pkcs12key }}"#,
                fixture("rsa.pkcs8"),
            ),
            (
                r#"{{ pemToPkcs12 (print .leaf_pem .inter_pem) .leaf_key_pkcs8 | b64dec | pkcs12cert }}"#,
                leaf.clone(),
            ),
            (
                r#"{{ fullPemToPkcs12 (print .leaf_pem .root_pem .inter_pem) .leaf_key_pkcs8 | b64dec | pkcs12cert }}"#,
                format!("{leaf}{inter}{root}"),
            ),
            (
                r#"{{ fullPemToPkcs12Pass (print .leaf_pem .inter_pem) .ed_pkcs8 "p" | b64dec | pkcs12keyPass "p" }}"#,
                fixture("ed.pkcs8"),
            ),
        ] {
            assert_eq!(render_fixtures(tpl).unwrap(), want, "{tpl}");
        }

        let out =
            render_fixtures(r#"{{ pemTruststoreToPKCS12Pass (print .root_pem .inter_pem) "pw" }}"#)
                .unwrap();
        let archive = decode(&out, "pw");
        assert!(archive.keys.is_empty());
        let ders: Vec<&[u8]> = archive.certs.iter().map(|c| c.cert.as_der()).collect();
        assert_eq!(ders.len(), 2);
        assert!(
            archive.certs.iter().all(|c| c.trusted),
            "Java trust attribute"
        );
        let out = render_fixtures("{{ pemTruststoreToPKCS12 .root_pem }}").unwrap();
        assert_eq!(decode(&out, "").certs.len(), 1);

        for (tpl, want) in [
            (
                r#"{{ pemToPkcs12 "junk" .leaf_key_pkcs8 }}"#,
                "nil pointer dereference",
            ),
            (
                r#"{{ pemToPkcs12 .leaf_pem "junk" }}"#,
                "nil pointer dereference",
            ),
            (
                r#"{{ pemTruststoreToPKCS12 (print .root_pem "\n") }}"#,
                "nil pointer dereference",
            ),
            (
                r#"{{ pemToPkcs12 .leaf_pem .leaf_pem }}"#,
                "unable to parse private key type",
            ),
        ] {
            let err = render_fixtures(tpl).unwrap_err().to_string();
            assert!(err.contains(want), "{tpl}: {err}");
        }
    }
}
