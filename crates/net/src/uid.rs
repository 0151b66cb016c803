//! Validation of pod UIDs before they become file names (IPAM records, netns files) or feed the
//! host veth name. Pure; no IO.

use crate::error::NetError;

/// Longest accepted UID; Kubernetes UIDs are 36-character UUIDs, names are capped at 253.
const MAX_LEN: usize = 253;

/// Accepts UUIDs and any other plain file name: `[A-Za-z0-9._-]`, not starting with `.`
/// (which also rules out `.`, `..` and this crate's temporary files).
pub(crate) fn check_pod_uid(uid: &str) -> Result<(), NetError> {
    let plain = uid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if uid.is_empty() || uid.len() > MAX_LEN || uid.starts_with('.') || !plain {
        return Err(NetError::InvalidPodUid(uid.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_plain_names() {
        assert!(check_pod_uid("0b7f2c5e-1a2b-4c3d-9e8f-0123456789ab").is_ok());
        assert!(check_pod_uid("pod_1.a").is_ok());
    }

    #[test]
    fn rejects_path_like_or_empty() {
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a b", "é", &"x".repeat(254)] {
            assert!(matches!(check_pod_uid(bad), Err(NetError::InvalidPodUid(_))), "{bad:?} must be rejected");
        }
    }
}
