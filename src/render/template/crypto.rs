//! sprig's hashes (`sha1sum sha256sum sha512sum adler32sum`), `bcrypt` and `htpasswd`, and the
//! generators this engine refuses.
//!
//! `bcrypt` (and `htpasswd` with it) salts each hash, so its output, and the Secret holding it,
//! changes on every render, in ESO too: a template using it rewrites the Secret on every
//! refresh.

use base64::Engine as _;
use gtmpl_ng::{Func, FuncError, Value};

use super::values::{arity, generic, hex, str_arg, tstr_to_bytes};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("sha1sum", sha1sum),
    ("sha256sum", sha256sum),
    ("sha512sum", sha512sum),
    ("adler32sum", adler32sum),
    ("bcrypt", bcrypt),
    ("htpasswd", htpasswd),
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

// Functions of ESO's map that this engine does not have yet: each fails saying so.
failing_functions! {
    NOT_YET, not_yet,
    not_yet_url_parse => "urlParse",
    not_yet_url_join => "urlJoin",
    not_yet_semver => "semver",
    not_yet_semver_compare => "semverCompare",
    not_yet_derive_password => "derivePassword",
    not_yet_decrypt_a_e_s => "decryptAES",
}

/// The error of a function ESO has and this engine does not yet.
pub(super) fn not_yet(name: &str) -> FuncError {
    generic(format!(
        "function {name:?} is not supported by this operator yet (ESO has it)"
    ))
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

    #[test]
    fn missing_functions_say_so() {
        for (name, _) in super::NOT_YET {
            let err = render(&format!("{{{{ {name} }}}}"), &[])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("is not supported by this operator yet"),
                "{name}: {err}"
            );
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
