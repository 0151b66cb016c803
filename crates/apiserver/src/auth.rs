//! Authentication: bearer tokens. Health and version endpoints are public, as kube-apiserver's
//! `system:public-info-viewer` role makes them.

use http::HeaderMap;

use crate::ApiServer;
use crate::request::Endpoint;

pub fn is_public(endpoint: &Endpoint) -> bool {
    matches!(endpoint, Endpoint::Version | Endpoint::Health(_))
}

pub fn authenticate(server: &ApiServer, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(token) = value.strip_prefix("Bearer ").map(str::trim) else { return false };
    server.config.admin_tokens.iter().any(|accepted| constant_time_eq(accepted.as_bytes(), token.as_bytes()))
}

/// Compares without an early exit, so response timing does not reveal a token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
