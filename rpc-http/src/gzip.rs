//! gzip for bodies both ways, as Python's `xmlrpc` does it: `Content-Encoding: gzip` on requests and
//! responses, negotiated with `Accept-Encoding`.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// Python's default threshold (`xmlrpc.server`'s `encode_threshold`): bodies smaller than this are not worth
/// compressing.
pub const DEFAULT_GZIP_THRESHOLD: usize = 1400;

/// Why a gzip body could not be inflated.
#[derive(Debug)]
pub enum InflateError {
    /// It inflates to more than the limit.
    TooLarge,
    /// It is not valid gzip.
    Corrupt(std::io::Error),
}

/// Inflates a gzip body, refusing (without inflating further) one that grows past `limit` bytes.
pub fn inflate(body: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let read = GzDecoder::new(body)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(InflateError::Corrupt)?;
    if read > limit {
        return Err(InflateError::TooLarge);
    }
    Ok(out)
}

/// Compresses a body.
pub fn deflate(body: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// True when an `Accept-Encoding` value allows gzip (`gzip`, `x-gzip` or `*`, without `q=0`).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
        });
        !refused && (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") || coding == "*")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limit() {
        let body = b"<methodCall>".repeat(1000);
        let z = deflate(&body);
        assert!(z.len() < body.len() / 10);
        assert_eq!(inflate(&z, body.len()).unwrap(), body);
        assert!(matches!(inflate(&z, body.len() - 1), Err(InflateError::TooLarge)));
        assert!(matches!(inflate(b"not gzip", 100), Err(InflateError::Corrupt(_))));
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        // 64 MiB of zeros compresses to ~64 KiB; inflating stops just past the 1 MiB limit.
        let bomb = deflate(&vec![0u8; 64 << 20]);
        assert!(matches!(inflate(&bomb, 1 << 20), Err(InflateError::TooLarge)));
    }

    #[test]
    fn accept_encoding_negotiation() {
        for yes in ["gzip", "gzip, deflate", "deflate, GZIP;q=0.5", "*", "x-gzip"] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in ["", "identity", "deflate", "gzip;q=0", "gzip; q=0.0"] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }
}
