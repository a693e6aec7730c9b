//! The API server's rules for a Secret that a write would break, checked before the write so
//! that the ExternalSecret names the rule (`InvalidSecret`) instead of sending what will be
//! refused: the data's total size (`MaxSecretSize`, 1 MiB: the API server answers 422, and over
//! its 3 MiB request-body limit the request does not even reach validation), and the type of an
//! existing Secret, which never changes. Whatever else the API server refuses as invalid (422:
//! a key the type requires, a docker config that is not JSON, data of an immutable Secret)
//! comes back as [`InvalidSecret::Refused`], told without the values the answer may quote.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

/// The most data bytes (all keys together, decoded) the API server accepts in one Secret.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// Why the API server would refuse (or refused) the Secret as written.
#[derive(Debug, thiserror::Error)]
pub enum InvalidSecret {
    /// The data is over [`MAX_SECRET_SIZE`].
    #[error(
        "Secret {secret:?} would hold {bytes} bytes of data, and the API server refuses more than {MAX_SECRET_SIZE} (data: Too long: may not be more than {MAX_SECRET_SIZE} bytes); nothing was written"
    )]
    TooLarge {
        /// The Secret's name.
        secret: String,
        /// Its data's total size.
        bytes: usize,
    },
    /// The existing Secret has another type.
    #[error(
        "Secret {secret:?} has type {live:?}, and a Secret's type never changes (type: field is immutable); delete the Secret to have it written with type {wanted:?}; nothing was written"
    )]
    TypeChange {
        /// The Secret's name.
        secret: String,
        /// Its type now.
        live: String,
        /// The type the ExternalSecret wants.
        wanted: String,
    },
    /// The API server answered 422.
    #[error("the API server refuses Secret {secret:?} as written: {refusal}; nothing was written")]
    Refused {
        /// The Secret's name.
        secret: String,
        /// The answer, by field and cause (see `api_refusal`).
        refusal: String,
    },
}

/// Refuses a `desired` Secret the API server would refuse, given the `existing` one.
pub fn check(existing: Option<&Secret>, desired: &Secret) -> Result<(), InvalidSecret> {
    let secret = desired.name_any();
    let bytes: usize = desired.data.iter().flatten().map(|(_, v)| v.0.len()).sum();
    if bytes > MAX_SECRET_SIZE {
        return Err(InvalidSecret::TooLarge { secret, bytes });
    }
    if let (Some(live), Some(wanted)) = (existing, desired.type_.as_deref()) {
        let live = live.type_.as_deref().unwrap_or("Opaque");
        if live != wanted {
            return Err(InvalidSecret::TypeChange {
                secret,
                live: live.to_owned(),
                wanted: wanted.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn secret(type_: Option<&str>, sizes: &[usize]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("s".into()),
                ..Default::default()
            },
            type_: type_.map(str::to_owned),
            data: Some(
                sizes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (format!("k{i}"), ByteString(vec![b'x'; *n])))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn data_up_to_one_mebibyte_in_total() {
        assert!(check(None, &secret(None, &[MAX_SECRET_SIZE])).is_ok());
        let err = check(
            None,
            &secret(None, &[MAX_SECRET_SIZE / 2, MAX_SECRET_SIZE / 2 + 1]),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                InvalidSecret::TooLarge {
                    bytes: 1_048_577,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("may not be more than 1048576 bytes")
        );
    }

    #[test]
    fn the_type_of_an_existing_secret_never_changes() {
        let live = secret(Some("Opaque"), &[1]);
        assert!(check(Some(&live), &secret(Some("Opaque"), &[2])).is_ok());
        // A merge does not set the type.
        assert!(check(Some(&live), &secret(None, &[2])).is_ok());
        let err = check(Some(&live), &secret(Some("kubernetes.io/tls"), &[2])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Secret \"s\" has type \"Opaque\", and a Secret's type never changes (type: field is immutable); delete the Secret to have it written with type \"kubernetes.io/tls\"; nothing was written"
        );
        // A live Secret without a type is Opaque (the API server's default).
        assert!(check(Some(&secret(None, &[1])), &secret(Some("Opaque"), &[1])).is_ok());
    }
}
