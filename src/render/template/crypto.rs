//! sprig's hashes (`sha1sum sha256sum sha512sum adler32sum`), `bcrypt` and `htpasswd`,
//! `derivePassword` and `decryptAES`, and the generators this engine refuses.
//!
//! `bcrypt` (and `htpasswd` with it) salts each hash, so its output, and the Secret holding it,
//! changes on every render, in ESO too: a template using it rewrites the Secret on every
//! refresh.

use base64::Engine as _;
use gtmpl_ng::{Func, FuncError, Value};

use super::encoding::go_b64_decode;
use super::values::{arity, bytes_to_tstr, generic, hex, kind, str_arg, tstr_to_bytes};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("sha1sum", sha1sum),
    ("sha256sum", sha256sum),
    ("sha512sum", sha512sum),
    ("adler32sum", adler32sum),
    ("bcrypt", bcrypt),
    ("htpasswd", htpasswd),
    ("derivePassword", derive_password),
    ("decryptAES", decrypt_aes),
];

/// Defines one failing function per name (a template function cannot know the name it was
/// called by) and the table of them.
macro_rules! failing_functions {
    ($table:ident, $why:ident, $($f:ident => $name:literal,)*) => {
        $(fn $f(_: &[Value]) -> Result<Value, FuncError> {
            Err($why($name))
        })*

        pub(super) const $table: &[(&str, Func)] = &[$(($name, $f)),*];
    };
}

// The functions of ESO's sprig map that give a new value on every call: each fails with
// `refused`'s reason rather than being missing.
failing_functions! {
    REFUSED, refused,
    refuse_rand_alpha => "randAlpha",
    refuse_rand_alpha_num => "randAlphaNum",
    refuse_rand_ascii => "randAscii",
    refuse_rand_numeric => "randNumeric",
    refuse_rand_int => "randInt",
    refuse_rand_bytes => "randBytes",
    refuse_uuidv4 => "uuidv4",
    refuse_shuffle => "shuffle",
    refuse_gen_private_key => "genPrivateKey",
    refuse_gen_c_a => "genCA",
    refuse_gen_c_a_with_key => "genCAWithKey",
    refuse_gen_self_signed_cert => "genSelfSignedCert",
    refuse_gen_self_signed_cert_with_key => "genSelfSignedCertWithKey",
    refuse_gen_signed_cert => "genSignedCert",
    refuse_gen_signed_cert_with_key => "genSignedCertWithKey",
    refuse_build_custom_cert => "buildCustomCert",
    refuse_encrypt_a_e_s => "encryptAES",
}

/// The error of a refused function; `name` is the function's.
pub(super) fn refused(name: &str) -> FuncError {
    generic(format!(
        "function {name:?} is refused: it gives a new value on every render, and a synced Secret must not change on every refresh"
    ))
}

/// sprig's `bcrypt`: Go's `bcrypt.GenerateFromPassword` at the default cost 10, `$2a$`; a
/// password over 72 bytes renders Go's error text, as sprig returns it.
fn bcrypt_hash(password: &[u8]) -> String {
    if password.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
            .to_owned();
    }
    match bcrypt::hash_with_result(password, 10) {
        Ok(parts) => parts.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

fn bcrypt(args: &[Value]) -> Result<Value, FuncError> {
    arity("bcrypt", args, 1)?;
    let password = tstr_to_bytes(str_arg("bcrypt", &args[0])?);
    Ok(Value::String(bcrypt_hash(&password)))
}

/// ESO's `htpasswd user password algorithm`: `sha` gives `user:{SHA}base64(sha1)`, anything else
/// a bcrypt line; a user name with `:` renders an error text in place of the line.
fn htpasswd(args: &[Value]) -> Result<Value, FuncError> {
    use sha1::Digest as _;
    arity("htpasswd", args, 3)?;
    let user = str_arg("htpasswd", &args[0])?;
    let password = tstr_to_bytes(str_arg("htpasswd", &args[1])?);
    let algorithm = str_arg("htpasswd", &args[2])?;
    if user.contains(':') {
        return Ok(Value::String(format!("invalid username: {user}")));
    }
    let hash = if algorithm == "sha" {
        let sum = sha1::Sha1::digest(&password);
        format!(
            "{{SHA}}{}",
            base64::engine::general_purpose::STANDARD.encode(sum)
        )
    } else {
        bcrypt_hash(&password)
    };
    Ok(Value::String(format!("{user}:{hash}")))
}

/// sprig's Master Password templates (Maarten Billemont's algorithm): one is picked by the
/// seed's first byte, each character from its class by the next bytes.
const PASSWORD_TEMPLATES: &[(&str, &[&str])] = &[
    ("maximum", &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"]),
    (
        "long",
        &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
    ),
    ("medium", &["CvcnoCvc", "CvcCvcno"]),
    ("short", &["Cvcn"]),
    ("basic", &["aaanaaan", "aannaaan", "aaannaaa"]),
    ("pin", &["nnnn"]),
];

/// The characters each template letter stands for.
fn password_characters(class: u8) -> &'static [u8] {
    match class {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

const MASTER_PASSWORD_SEED: &[u8] = b"com.lyndir.masterpassword";

/// The seed prefix followed by a length-prefixed (big-endian u32) text.
fn seeded(text: &[u8]) -> Vec<u8> {
    let mut out = MASTER_PASSWORD_SEED.to_vec();
    // Go writes uint32(len(...)): a text over 4 GiB cannot reach a template.
    out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(text);
    out
}

/// sprig's `derivePassword counter type password user site`: the scrypt key of the master
/// password salted with the user (N 32768, r 8, p 2, 64 bytes), an HMAC-SHA-256 of the site and
/// counter under it, and the password that seed picks from the type's templates. An unknown type
/// renders sprig's message in place of the password. Deterministic, but each call costs an
/// scrypt (32 MiB, a fraction of a second).
fn derive_password(args: &[Value]) -> Result<Value, FuncError> {
    use hmac::{KeyInit as _, Mac as _};
    arity("derivePassword", args, 5)?;
    // Go's template passes an integer constant to the uint32 parameter; anything else is an
    // error there.
    let counter = match &args[0] {
        Value::Number(n) => n.as_u64().and_then(|c| u32::try_from(c).ok()),
        _ => None,
    }
    .ok_or_else(|| {
        generic(format!(
            "wrong type for value in derivePassword; expected uint32; got {}",
            kind(&args[0])
        ))
    })?;
    let password_type = str_arg("derivePassword", &args[1])?;
    let password = tstr_to_bytes(str_arg("derivePassword", &args[2])?);
    let user = tstr_to_bytes(str_arg("derivePassword", &args[3])?);
    let site = tstr_to_bytes(str_arg("derivePassword", &args[4])?);
    let Some((_, templates)) = PASSWORD_TEMPLATES
        .iter()
        .find(|(name, _)| *name == password_type)
    else {
        return Ok(Value::String(format!(
            "cannot find password template {password_type}"
        )));
    };
    let params = scrypt::Params::new(15, 8, 2).map_err(|e| generic(e.to_string()))?;
    let mut key = zeroize::Zeroizing::new([0u8; 64]);
    scrypt::scrypt(&password, &seeded(&user), &params, key.as_mut_slice())
        .map_err(|e| generic(format!("failed to derive password: {e}")))?;
    let mut mac = hmac::Hmac::<sha2_v011::Sha256>::new_from_slice(key.as_slice())
        .map_err(|e| generic(e.to_string()))?;
    let mut message = seeded(&site);
    message.extend_from_slice(&counter.to_be_bytes());
    mac.update(&message);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()].as_bytes();
    let out: String = template
        .iter()
        .zip(&seed[1..])
        .map(|(&class, &byte)| {
            let chars = password_characters(class);
            char::from(chars[usize::from(byte) % chars.len()])
        })
        .collect();
    Ok(Value::String(out))
}

/// sprig's `decryptAES password base64`: what its `encryptAES` makes — AES-256-CBC under the
/// password's bytes copied into 32 zero bytes (cut at 32), the IV first, PKCS#7 padding — read
/// back as Go does: the last byte says how many bytes to drop, unchecked. What Go fails on (a
/// short or ragged ciphertext, a padding byte longer than the text) is an error with Go's
/// message; none quotes the text.
fn decrypt_aes(args: &[Value]) -> Result<Value, FuncError> {
    use aes::cipher::{BlockModeDecrypt as _, KeyIvInit as _, block_padding::NoPadding};
    arity("decryptAES", args, 2)?;
    let password = tstr_to_bytes(str_arg("decryptAES", &args[0])?);
    let input = tstr_to_bytes(str_arg("decryptAES", &args[1])?);
    if input.is_empty() {
        return Ok(Value::from(""));
    }
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password[..n]);
    let crypt = go_b64_decode(&input)
        .map_err(|at| generic(format!("illegal base64 data at input byte {at}")))?;
    if crypt.len() < 16 {
        // Go's decoder allocates len(input)/4*3 bytes: the capacity its panic names.
        return Err(generic(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            input.len() / 4 * 3
        )));
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err(generic("crypto/cipher: input not full blocks"));
    }
    let mut plain = zeroize::Zeroizing::new(body.to_vec());
    cbc::Decryptor::<aes::Aes256>::new_from_slices(key.as_slice(), iv)
        .map_err(|e| generic(e.to_string()))?
        .decrypt_padded::<NoPadding>(plain.as_mut_slice())
        .map_err(|e| generic(e.to_string()))?;
    let Some(&pad) = plain.last() else {
        return Err(generic("runtime error: index out of range [-1]"));
    };
    let Some(end) = plain.len().checked_sub(usize::from(pad)) else {
        return Err(generic(format!(
            "runtime error: slice bounds out of range [:-{}]",
            usize::from(pad) - plain.len()
        )));
    };
    Ok(Value::String(bytes_to_tstr(&plain[..end])))
}

fn adler32sum(args: &[Value]) -> Result<Value, FuncError> {
    arity("adler32sum", args, 1)?;
    let (mut a, mut b) = (1u32, 0u32);
    for byte in tstr_to_bytes(str_arg("adler32sum", &args[0])?) {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    // sprig prints the checksum in decimal.
    Ok(Value::String(((b << 16) | a).to_string()))
}

fn sha1sum(args: &[Value]) -> Result<Value, FuncError> {
    use sha1::Digest as _;
    arity("sha1sum", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("sha1sum", &args[0])?);
    Ok(Value::String(hex(&sha1::Sha1::digest(bytes))))
}

fn sha256sum(args: &[Value]) -> Result<Value, FuncError> {
    use sha2::Digest as _;
    arity("sha256sum", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("sha256sum", &args[0])?);
    Ok(Value::String(hex(&sha2::Sha256::digest(bytes))))
}

fn sha512sum(args: &[Value]) -> Result<Value, FuncError> {
    use sha2::Digest as _;
    arity("sha512sum", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("sha512sum", &args[0])?);
    Ok(Value::String(hex(&sha2::Sha512::digest(bytes))))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// bcrypt output is salted: checked by verifying it, and its form against Go's
    /// (`$2a$10$` and 53 more characters).
    #[test]
    fn bcrypt_and_htpasswd() {
        let d: &[(&str, &str)] = &[("pw", "s3cret")];
        let hash = render("{{ .pw | bcrypt }}", d).unwrap();
        assert!(hash.starts_with("$2a$10$") && hash.len() == 60, "{hash}");
        assert!(bcrypt::verify("s3cret", &hash).unwrap());
        let line = render(r#"{{ htpasswd "admin" .pw "bcrypt" }}"#, d).unwrap();
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "admin");
        assert!(bcrypt::verify("s3cret", hash).unwrap());
        check(&[
            // Go: htpasswd "a" "b" "sha" → "a:{SHA}" + base64(sha1("b")).
            (
                r#"{{ htpasswd "a" "b" "sha" }}"#,
                d,
                "a:{SHA}6dcfXufJLW3J6S/9rRe4vUlBj5g=",
            ),
            (
                r#"{{ htpasswd "a:b" "c" "sha" }}"#,
                d,
                "invalid username: a:b",
            ),
            (
                r#"{{ repeat 73 "x" | bcrypt }}"#,
                d,
                "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes",
            ),
        ]);
        // ESO's htpasswd takes the algorithm: two arguments are an error, as in Go.
        assert!(render(r#"{{ htpasswd "a" "b" }}"#, d).is_err());
    }

    /// sprig's TestDerivePassword (crypto_test.go).
    #[test]
    fn derive_password() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (
                r#"{{derivePassword 1 "long" "password" "user" "example.com"}}"#,
                d,
                "ZedaFaxcZaso9*",
            ),
            (
                r#"{{derivePassword 2 "long" "password" "user" "example.com"}}"#,
                d,
                "Fovi2@JifpTupx",
            ),
            (
                r#"{{derivePassword 1 "maximum" "password" "user" "example.com"}}"#,
                d,
                "pf4zS1LjCg&LjhsZ7T2~",
            ),
            (
                r#"{{derivePassword 1 "medium" "password" "user" "example.com"}}"#,
                d,
                "ZedJuz8$",
            ),
            (
                r#"{{derivePassword 1 "basic" "password" "user" "example.com"}}"#,
                d,
                "pIS54PLs",
            ),
            (
                r#"{{derivePassword 1 "short" "password" "user" "example.com"}}"#,
                d,
                "Zed5",
            ),
            (
                r#"{{derivePassword 1 "pin" "password" "user" "example.com"}}"#,
                d,
                "6685",
            ),
            // sprig renders its message in place of a password for an unknown type.
            (
                r#"{{derivePassword 1 "nope" "password" "user" "example.com"}}"#,
                d,
                "cannot find password template nope",
            ),
        ]);
        for tpl in [
            r#"{{derivePassword -1 "pin" "p" "u" "s"}}"#,
            r#"{{derivePassword "1" "pin" "p" "u" "s"}}"#,
            r#"{{derivePassword 1 "pin" "p" "u"}}"#,
        ] {
            assert!(render(tpl, d).is_err(), "{tpl}");
        }
    }

    /// sprig's only decryptAES test is a round trip through encryptAES (random IV); these
    /// ciphertexts were made the way encryptAES makes them, with OpenSSL 3.0
    /// (`openssl enc -aes-256-cbc -K <password in 32 zero bytes> -iv <iv>`, base64 of IV and
    /// ciphertext); the last three with `-nopad` over a last block that is not PKCS#7.
    #[test]
    fn decrypt_aes() {
        let d: &[(&str, &str)] = &[("cipher", "AAECAwQFBgcICQoLDA0OD4aChIkqfhLglmmHSXlA6r0=")];
        check(&[
            (r#"{{ .cipher | decryptAES "secretkey" }}"#, d, "plaintext"),
            (r#"{{ decryptAES "secretkey" "" }}"#, d, ""),
            // A password over 32 bytes is cut; a whole block of padding.
            (
                r#"{{ decryptAES "0123456789abcdef0123456789abcdefEXTRA" "8OHSw7Sllod4aVpLPC0eDwqVJXfe5qaOkyg53sUF+VXZGNp+2l/Z4kCpj05N23U1" }}"#,
                d,
                "sixteen bytes!!!",
            ),
            (
                r#"{{ decryptAES "k" "8OHSw7Sllod4aVpLPC0eD89pHtKWCMlz1JnQEztbev5bQMCsZXIfh/7Wl5c2l6unFdP18AR8To3XVZnokhXRtw==" }}"#,
                d,
                "pässwörd: ünïcödé, two blocks",
            ),
            // Go drops as many bytes as the last one says, without checking them.
            (
                r#"{{ decryptAES "k" "8OHSw7Sllod4aVpLPC0eD8ToPxv8w40ZZUKCpmtEhb4=" }}"#,
                d,
                "abcdefghijklm",
            ),
            (
                r#"{{ decryptAES "k" "8OHSw7Sllod4aVpLPC0eD0K49uNdbsfKs6kcCiYcx28=" | len }}"#,
                d,
                "16",
            ),
        ]);
        for (tpl, err) in [
            // A padding byte of 0x20 in a 16-byte text: Go's slice panic.
            (
                r#"{{ decryptAES "k" "8OHSw7Sllod4aVpLPC0eD0WSQ7TAzAXgqLPMRjpIG+k=" }}"#,
                "slice bounds out of range [:-16]",
            ),
            (
                r#"{{ decryptAES "k" "AAEC" }}"#,
                "slice bounds out of range [:16] with capacity 3",
            ),
            (
                r#"{{ decryptAES "k" "AAECAwQFBgcICQoLDA0ODw==" }}"#,
                "index out of range [-1]",
            ),
            (
                r#"{{ decryptAES "k" "AAECAwQFBgcICQoLDA0OD4aChA==" }}"#,
                "input not full blocks",
            ),
            (
                r#"{{ decryptAES "k" "not base64!" }}"#,
                "illegal base64 data at input byte 3",
            ),
        ] {
            let got = render(tpl, d).unwrap_err().to_string();
            assert!(got.contains(err), "{tpl}: {got}");
        }
    }

    #[test]
    fn generators_are_refused_by_name() {
        for (name, _) in super::REFUSED {
            let err = render(&format!("{{{{ {name} }}}}"), &[])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("{name:?} is refused"))
                    && err.contains("a synced Secret must not change on every refresh"),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn hashes() {
        let d: &[(&str, &str)] = &[("v", "hello")];
        check(&[
            (
                "{{ .v | sha1sum }}",
                d,
                "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
            ),
            (
                "{{ .v | sha256sum }}",
                d,
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            ),
            (
                "{{ .v | sha512sum }}",
                d,
                "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043",
            ),
        ]);
    }

    #[test]
    fn adler32() {
        let d: &[(&str, &str)] = &[];
        check(&[
            // adler32("Wikipedia") = 0x11E60398 = 300286872, printed in decimal by sprig.
            (r#"{{ adler32sum "Wikipedia" }}"#, d, "300286872"),
        ]);
    }
}
