//! ESO's key functions: `jwkPublicKeyPem`, `jwkPrivateKeyPem` (`jwk.go`, lestrrat-go/jwx then
//! Go's `x509.MarshalPKIXPublicKey`/`MarshalPKCS8PrivateKey`) and `rsaDecrypt` (`decrypt.go`),
//! and the private-key reading (`parsePrivateKey`: PKCS#1, PKCS#8, SEC 1) and writing (PKCS#8
//! as Go marshals it) that the PKCS#12 functions share.
//!
//! Keys are RSA, ECDSA on P-256/P-384/P-521, Ed25519 and X25519, as Go's x509 package has them.

use base64::Engine as _;
use der::asn1::{AnyRef, BitString, ObjectIdentifier, OctetString, OctetStringRef};
use der::{Decode, Encode};
use gtmpl_ng::{Func, FuncError, Value};
use pkcs8::PrivateKeyInfoRef;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
use rsa::{BoxedUint, Oaep};
use sec1::{EcParameters, EcPrivateKey};
use spki::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use super::pem::{PemBlock, pem_decode, pem_encode};
use super::values::{arity, bytes_to_tstr, generic, str_arg, tstr_to_bytes};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("jwkPublicKeyPem", jwk_public_key_pem),
    ("jwkPrivateKeyPem", jwk_private_key_pem),
    ("rsaDecrypt", rsa_decrypt),
];

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

fn der_err(e: impl std::fmt::Display) -> String {
    format!("asn1: {e}")
}

/// The named curves Go's x509 package marshals, by OID and JWK name.
#[derive(Clone, Copy)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            OID_P256 => Some(Self::P256),
            OID_P384 => Some(Self::P384),
            OID_P521 => Some(Self::P521),
            _ => None,
        }
    }

    fn from_jwk(crv: &str) -> Option<Self> {
        match crv {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            Self::P256 => OID_P256,
            Self::P384 => OID_P384,
            Self::P521 => OID_P521,
        }
    }

    /// Bytes of a scalar or coordinate: (bit length of the order + 7) / 8, as Go pads them.
    fn size(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// The uncompressed public point of scalar `d` (already padded to [`Self::size`]).
    fn public_point(self, d: &[u8]) -> Result<Vec<u8>, String> {
        let bad = |_| "x509: invalid elliptic curve private key value".to_owned();
        Ok(match self {
            Self::P256 => p256::SecretKey::from_slice(d)
                .map_err(bad)?
                .public_key()
                .to_sec1_bytes()
                .into_vec(),
            Self::P384 => p384::SecretKey::from_slice(d)
                .map_err(bad)?
                .public_key()
                .to_sec1_bytes()
                .into_vec(),
            Self::P521 => p521::SecretKey::from_slice(d)
                .map_err(bad)?
                .public_key()
                .to_sec1_bytes()
                .into_vec(),
        })
    }

    /// Whether an uncompressed point is on the curve (Go's `IsOnCurve`).
    fn is_on_curve(self, point: &[u8]) -> bool {
        match self {
            Self::P256 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
            Self::P384 => p384::PublicKey::from_sec1_bytes(point).is_ok(),
            Self::P521 => p521::PublicKey::from_sec1_bytes(point).is_ok(),
        }
    }
}

fn left_pad(bytes: &[u8], size: usize) -> Result<Vec<u8>, String> {
    let bytes = &bytes[bytes.iter().take_while(|&&b| b == 0).count()..];
    if bytes.len() > size {
        return Err("x509: invalid elliptic curve private key value".to_owned());
    }
    let mut out = vec![0; size - bytes.len()];
    out.extend_from_slice(bytes);
    Ok(out)
}

/// Go's `marshalECPrivateKeyWithOID(key, nil)` inside `MarshalPKCS8PrivateKey`: the inner
/// SEC 1 key without parameters, with the public point (computed from `d` when not given).
fn ec_pkcs8(curve: Curve, d: &[u8], point: Option<Vec<u8>>) -> Result<Vec<u8>, String> {
    let d = left_pad(d, curve.size())?;
    let point = match point {
        Some(p) if curve.is_on_curve(&p) => p,
        Some(_) => return Err("invalid elliptic key public key".to_owned()),
        None => curve.public_point(&d)?,
    };
    let inner = EcPrivateKey {
        private_key: &d,
        parameters: None,
        public_key: Some(&point),
    }
    .to_der()
    .map_err(der_err)?;
    let curve_oid = curve.oid();
    let info = pkcs8::PrivateKeyInfoRef {
        algorithm: AlgorithmIdentifier {
            oid: OID_EC,
            parameters: Some(AnyRef::from(&curve_oid)),
        },
        private_key: OctetStringRef::new(&inner).map_err(der_err)?,
        public_key: None,
    };
    info.to_der().map_err(der_err)
}

/// PKCS#8 of an Ed25519 or X25519 key: the 32-byte seed in an OCTET STRING.
fn okp_pkcs8(oid: ObjectIdentifier, seed: &[u8]) -> Result<Vec<u8>, String> {
    if seed.len() != 32 {
        return Err("x509: invalid private key length".to_owned());
    }
    let inner = OctetString::new(seed)
        .map_err(der_err)?
        .to_der()
        .map_err(der_err)?;
    let info = pkcs8::PrivateKeyInfoRef {
        algorithm: AlgorithmIdentifier {
            oid,
            parameters: None,
        },
        private_key: OctetStringRef::new(&inner).map_err(der_err)?,
        public_key: None,
    };
    info.to_der().map_err(der_err)
}

fn rsa_pkcs8(key: &rsa::PrivateKey) -> Result<Vec<u8>, String> {
    key.to_pkcs8_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| format!("x509: {e}"))
}

/// ESO's `parsePrivateKey` (PKCS#1, then PKCS#8, then SEC 1), answered as the PKCS#8 DER that
/// Go's `MarshalPKCS8PrivateKey` writes for the parsed key; `rsa` tells whether it is RSA.
pub(super) fn go_pkcs8(der: &[u8]) -> Result<(Vec<u8>, bool), String> {
    if let Ok(key) = rsa::PrivateKey::from_pkcs1_der(der) {
        return Ok((rsa_pkcs8(&key)?, true));
    }
    if let Ok(info) = PrivateKeyInfoRef::from_der(der) {
        let inner = info.private_key.as_bytes();
        match info.algorithm.oid {
            OID_RSA => {
                let key = rsa::PrivateKey::from_pkcs1_der(inner)
                    .map_err(|e| format!("x509: failed to parse RSA private key: {e}"))?;
                return Ok((rsa_pkcs8(&key)?, true));
            }
            OID_EC => {
                let curve = info
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    .and_then(Curve::from_oid)
                    .ok_or("x509: unknown elliptic curve")?;
                let ec = EcPrivateKey::from_der(inner)
                    .map_err(|e| format!("x509: failed to parse EC private key: {e}"))?;
                return Ok((ec_pkcs8(curve, ec.private_key, None)?, false));
            }
            oid @ (OID_ED25519 | OID_X25519) => {
                let seed = <&OctetStringRef>::from_der(inner).map_err(der_err)?;
                return Ok((okp_pkcs8(oid, seed.as_bytes())?, false));
            }
            oid => {
                return Err(format!(
                    "x509: PKCS#8 wrapping contained private key with unknown algorithm: {oid}"
                ));
            }
        }
    }
    if let Ok(ec) = EcPrivateKey::from_der(der) {
        let curve = ec
            .parameters
            .and_then(EcParameters::named_curve)
            .and_then(Curve::from_oid)
            .ok_or("x509: unknown elliptic curve")?;
        return Ok((ec_pkcs8(curve, ec.private_key, None)?, false));
    }
    Err("unable to parse private key type".to_owned())
}

// ---------------------------------------------------------------------------------------------
// JWK.

/// The members of a JWK that are base64url numbers or octets; padding is accepted too.
fn jwk_bytes(jwk: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<Vec<u8>> {
    let text = jwk.get(name)?.as_str()?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

fn jwk_required(
    jwk: &serde_json::Map<String, serde_json::Value>,
    kty: &str,
    name: &str,
) -> Result<Vec<u8>, String> {
    jwk_bytes(jwk, name)
        .ok_or_else(|| format!("failed to parse {kty} key: required field {name} is missing"))
}

fn big(bytes: &[u8]) -> BoxedUint {
    let bits = u32::try_from(bytes.len() * 8).unwrap_or(u32::MAX).max(64);
    BoxedUint::from_be_slice(bytes, bits).expect("the precision holds the bytes")
}

/// A parsed JWK: the DER Go marshals for its public half, and for its private half when it
/// has one.
struct Jwk {
    public_der: Option<Vec<u8>>,
    private_der: Option<Vec<u8>>,
    type_name: &'static str,
}

fn parse_jwk(text: &str) -> Result<Jwk, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("failed to unmarshal JSON into key: {e}"))?;
    let jwk = value
        .as_object()
        .ok_or("failed to unmarshal JSON into key: not an object")?;
    let kty = jwk
        .get("kty")
        .and_then(|v| v.as_str())
        .ok_or("invalid key type from JSON ()")?;
    let private = jwk.contains_key("d");
    match kty {
        "RSA" => {
            let n = jwk_required(jwk, kty, "n")?;
            let e = jwk_required(jwk, kty, "e")?;
            let public = rsa::PublicKey::new_with_size_limits(big(&n), big(&e), 512..=16384)
                .map_err(|e| format!("failed to build RSA public key: {e}"))?;
            if !private {
                let der = public
                    .to_public_key_der()
                    .map_err(|e| format!("x509: {e}"))?;
                return Ok(Jwk {
                    public_der: Some(der.as_bytes().to_vec()),
                    private_der: None,
                    type_name: "*rsa.PublicKey",
                });
            }
            let d = jwk_required(jwk, kty, "d")?;
            let primes: Vec<BoxedUint> = ["p", "q"]
                .iter()
                .filter_map(|k| jwk_bytes(jwk, k))
                .map(|p| big(&p))
                .collect();
            let key = rsa::PrivateKey::from_components(big(&n), big(&e), big(&d), primes)
                .map_err(|e| format!("failed to build RSA private key: {e}"))?;
            Ok(Jwk {
                public_der: None,
                private_der: Some(rsa_pkcs8(&key)?),
                type_name: "*rsa.PrivateKey",
            })
        }
        "EC" => {
            let crv = jwk.get("crv").and_then(|v| v.as_str()).unwrap_or_default();
            let curve = Curve::from_jwk(crv).ok_or_else(|| {
                format!("failed to parse EC key: invalid curve algorithm {crv:?}")
            })?;
            let x = left_pad(&jwk_required(jwk, kty, "x")?, curve.size())?;
            let y = left_pad(&jwk_required(jwk, kty, "y")?, curve.size())?;
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            if !private {
                if !curve.is_on_curve(&point) {
                    return Err("x509: invalid elliptic curve public key".to_owned());
                }
                let curve_oid = curve.oid();
                let spki = SubjectPublicKeyInfo {
                    algorithm: AlgorithmIdentifier {
                        oid: OID_EC,
                        parameters: Some(AnyRef::from(&curve_oid)),
                    },
                    subject_public_key: BitString::from_bytes(&point).map_err(der_err)?,
                };
                return Ok(Jwk {
                    public_der: Some(spki.to_der().map_err(der_err)?),
                    private_der: None,
                    type_name: "*ecdsa.PublicKey",
                });
            }
            let d = jwk_required(jwk, kty, "d")?;
            Ok(Jwk {
                public_der: None,
                private_der: Some(ec_pkcs8(curve, &d, Some(point))?),
                type_name: "*ecdsa.PrivateKey",
            })
        }
        "OKP" => {
            let crv = jwk.get("crv").and_then(|v| v.as_str()).unwrap_or_default();
            let (oid, names) = match crv {
                "Ed25519" => (OID_ED25519, ("ed25519.PublicKey", "ed25519.PrivateKey")),
                "X25519" => (OID_X25519, ("*ecdh.PublicKey", "*ecdh.PrivateKey")),
                _ => {
                    return Err(format!(
                        "failed to parse OKP key: unsupported curve {crv:?}"
                    ));
                }
            };
            if !private {
                let x = jwk_required(jwk, kty, "x")?;
                let spki = SubjectPublicKeyInfo::<AnyRef<'_>, BitString> {
                    algorithm: AlgorithmIdentifier {
                        oid,
                        parameters: None,
                    },
                    subject_public_key: BitString::from_bytes(&x).map_err(der_err)?,
                };
                return Ok(Jwk {
                    public_der: Some(spki.to_der().map_err(der_err)?),
                    private_der: None,
                    type_name: names.0,
                });
            }
            let d = jwk_required(jwk, kty, "d")?;
            Ok(Jwk {
                public_der: None,
                private_der: Some(okp_pkcs8(oid, &d)?),
                type_name: names.1,
            })
        }
        "oct" => Ok(Jwk {
            public_der: None,
            private_der: None,
            type_name: "[]uint8",
        }),
        other => Err(format!("invalid key type from JSON ({other})")),
    }
}

fn pem_string(der: Vec<u8>, type_: &str) -> Value {
    Value::String(pem_encode(&PemBlock {
        type_: type_.to_owned(),
        headers: Vec::new(),
        bytes: der,
    }))
}

/// `jwkPublicKeyPem`: a public JWK as a `PUBLIC KEY` PEM. A private JWK is refused, as Go's
/// `MarshalPKIXPublicKey` refuses the private key jwx gives for it.
fn jwk_public_key_pem(args: &[Value]) -> Result<Value, FuncError> {
    arity("jwkPublicKeyPem", args, 1)?;
    let jwk = parse_jwk(str_arg("jwkPublicKeyPem", &args[0])?).map_err(generic)?;
    match jwk.public_der {
        Some(der) => Ok(pem_string(der, "PUBLIC KEY")),
        None => Err(generic(format!(
            "x509: unsupported public key type: {}",
            jwk.type_name
        ))),
    }
}

/// `jwkPrivateKeyPem`: a private JWK as a PKCS#8 `PRIVATE KEY` PEM.
fn jwk_private_key_pem(args: &[Value]) -> Result<Value, FuncError> {
    arity("jwkPrivateKeyPem", args, 1)?;
    let jwk = parse_jwk(str_arg("jwkPrivateKeyPem", &args[0])?).map_err(generic)?;
    match jwk.private_der {
        Some(der) => Ok(pem_string(der, "PRIVATE KEY")),
        None => Err(generic(format!(
            "x509: unknown key type while marshaling PKCS#8: {}",
            jwk.type_name
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// rsaDecrypt.

/// ESO's `rsaDecrypt scheme hash ciphertext privateKeyPem`: scheme `None` gives the input back,
/// `RSA-OAEP` decrypts with OAEP (no label) and hash `SHA1`, `SHA512`, or SHA-256 for anything
/// else. The ciphertext is raw bytes (`b64dec` it first).
fn rsa_decrypt(args: &[Value]) -> Result<Value, FuncError> {
    arity("rsaDecrypt", args, 4)?;
    let scheme = str_arg("rsaDecrypt", &args[0])?;
    let hash = str_arg("rsaDecrypt", &args[1])?;
    let input = str_arg("rsaDecrypt", &args[2])?;
    let key_pem = str_arg("rsaDecrypt", &args[3])?;
    match scheme {
        "None" => return Ok(Value::from(input)),
        "RSA-OAEP" => {}
        other => {
            return Err(generic(format!(
                "decryption scheme {other} is not supported"
            )));
        }
    }
    let (block, _) = pem_decode(&tstr_to_bytes(key_pem));
    let block = block.ok_or_else(|| generic("failed to decode PEM block"))?;
    let (pkcs8_der, is_rsa) =
        go_pkcs8(&block.bytes).map_err(|e| generic(format!("could not parse private key: {e}")))?;
    if !is_rsa {
        return Err(generic("could not parse RSA private key"));
    }
    let key = <rsa::PrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_der(&pkcs8_der)
        .map_err(|_| generic("could not parse RSA private key"))?;
    let ciphertext = tstr_to_bytes(input);
    let out = match hash {
        "SHA1" => key.decrypt(Oaep::<sha1_v011::Sha1>::new(), &ciphertext),
        "SHA512" => key.decrypt(Oaep::<rsa::sha2::Sha512>::new(), &ciphertext),
        _ => key.decrypt(Oaep::<rsa::sha2::Sha256>::new(), &ciphertext),
    }
    .map_err(|_| generic("error decrypting data with RSA: crypto/rsa: decryption error"))?;
    Ok(Value::String(bytes_to_tstr(&out)))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// Go's `x509.MarshalPKIXPublicKey`/`MarshalPKCS8PrivateKey` of the keys the JWKs describe
    /// (built as jwx builds them) are the PEM files beside them in `testdata/`.
    #[test]
    fn jwk_to_pem_as_go() {
        for (tpl, want) in [
            ("{{ jwkPrivateKeyPem .rsa_jwk }}", "rsa.pkcs8"),
            ("{{ jwkPublicKeyPem .rsa_pub_jwk }}", "rsa.pub"),
            ("{{ jwkPrivateKeyPem .ec_jwk }}", "leaf.key.pkcs8"),
            ("{{ jwkPublicKeyPem .ec_pub_jwk }}", "ec.pub.pem"),
            ("{{ jwkPrivateKeyPem .ed_jwk }}", "ed.pkcs8"),
            ("{{ jwkPublicKeyPem .ed_pub_jwk }}", "ed.pub.pem"),
        ] {
            assert_eq!(render_fixtures(tpl).unwrap(), fixture(want), "{tpl}");
        }
        // jwx gives the private key for a private JWK, which MarshalPKIXPublicKey refuses, and
        // the public key for a public one, which MarshalPKCS8PrivateKey refuses.
        for (tpl, want) in [
            (
                "{{ jwkPublicKeyPem .rsa_jwk }}",
                "x509: unsupported public key type: *rsa.PrivateKey",
            ),
            (
                "{{ jwkPrivateKeyPem .rsa_pub_jwk }}",
                "x509: unknown key type while marshaling PKCS#8: *rsa.PublicKey",
            ),
            (
                r#"{{ jwkPublicKeyPem `{"kty":"EC","crv":"P-256","x":"AQ","y":"Ag"}` }}"#,
                "invalid elliptic curve public key",
            ),
            (r#"{{ jwkPublicKeyPem "{}" }}"#, "invalid key type"),
        ] {
            let err = render_fixtures(tpl).unwrap_err().to_string();
            assert!(err.contains(want), "{tpl}: {err}");
        }
    }

    /// `{{ rsaDecrypt "RSA-OAEP" hash (b64dec ciphertext) key }}` as ESO's `decrypt.go` gives
    /// it with Go's `rsa.DecryptOAEP`.
    #[test]
    fn rsa_decrypt_as_go() {
        for tpl in [
            r#"{{ rsaDecrypt "RSA-OAEP" "SHA256" (b64dec .oaep_sha256_b64) .rsa_pkcs1 }}"#,
            r#"{{ rsaDecrypt "RSA-OAEP" "None" (b64dec .oaep_sha256_b64) .rsa_pkcs8 }}"#,
            r#"{{ rsaDecrypt "RSA-OAEP" "SHA1" (b64dec .oaep_sha1_b64) .rsa_pkcs8 }}"#,
            r#"{{ rsaDecrypt "RSA-OAEP" "SHA512" (b64dec .oaep_sha512_b64) .rsa_pkcs8 }}"#,
        ] {
            assert_eq!(render_fixtures(tpl).unwrap(), "s3cr3t-value", "{tpl}");
        }
        assert_eq!(
            render_fixtures(r#"{{ rsaDecrypt "None" "x" "in" "" }}"#).unwrap(),
            "in"
        );
        for (tpl, want) in [
            (
                r#"{{ rsaDecrypt "RSA-OAEP" "SHA256" (b64dec .oaep_sha1_b64) .rsa_pkcs8 }}"#,
                "error decrypting data with RSA: crypto/rsa: decryption error",
            ),
            (
                r#"{{ rsaDecrypt "PKCS1" "x" "in" "" }}"#,
                "decryption scheme PKCS1 is not supported",
            ),
            (
                r#"{{ rsaDecrypt "RSA-OAEP" "SHA256" "x" "nope" }}"#,
                "failed to decode PEM block",
            ),
            (
                r#"{{ rsaDecrypt "RSA-OAEP" "SHA256" "x" .leaf_key_pkcs8 }}"#,
                "could not parse RSA private key",
            ),
        ] {
            let err = render_fixtures(tpl).unwrap_err().to_string();
            assert!(err.contains(want), "{tpl}: {err}");
        }
    }
}
