//! Where an operation is served on the bus: one subject per operation, under a prefix.

use sha2::{Digest, Sha256};

/// The longest subject [`operation_subject`] makes.
pub const MAX_SUBJECT_LEN: usize = 256;

/// The subject `operation` is served on under `prefix`: its `/`-segments as subject tokens
/// (`demo/echo` under `alknet` → `alknet.demo.echo`). A segment character outside
/// `A-Z a-z 0-9 - _` becomes `_`, and then (or when the subject would be longer than
/// [`MAX_SUBJECT_LEN`]) the subject is cut and ends in `-` plus 8 hex digits of the name's
/// SHA-256, so that distinct operations never share a subject. Every node derives the same
/// subject from the same name.
///
/// ```
/// use alknet_http_nats::operation_subject;
/// assert_eq!(operation_subject("alknet", "/demo/echo"), "alknet.demo.echo");
/// let odd = operation_subject("alknet", "demo/with space");
/// assert!(odd.starts_with("alknet.demo.with_space-") && odd.len() == "alknet.demo.with_space-".len() + 8);
/// ```
pub fn operation_subject(prefix: &str, operation: &str) -> String {
    let name = operation.trim_start_matches('/');
    let mut lossy = false;
    let mut subject = String::with_capacity(prefix.len() + name.len() + 1);
    subject.push_str(prefix);
    for segment in name.split('/') {
        subject.push('.');
        if segment.is_empty() {
            lossy = true;
            subject.push('_');
            continue;
        }
        for c in segment.chars() {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                subject.push(c);
            } else {
                lossy = true;
                subject.push('_');
            }
        }
    }
    if lossy || subject.len() > MAX_SUBJECT_LEN {
        // ASCII only by now, so any length is a character boundary.
        subject.truncate(MAX_SUBJECT_LEN - 9);
        let digest = Sha256::digest(name.as_bytes());
        subject.push('-');
        subject.push_str(&hex::encode(&digest[..4]));
    }
    subject
}

/// Whether `name` is usable as a NATS service or subject-prefix token: `A-Z a-z 0-9 - _`,
/// not empty.
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_map_one_to_one_and_odd_ones_get_a_hash() {
        assert_eq!(operation_subject("p", "a/b/c"), "p.a.b.c");
        assert_ne!(
            operation_subject("p", "a/b c"),
            operation_subject("p", "a/b.c")
        );
        let long = format!("a/{}", "x".repeat(400));
        let subject = operation_subject("p", &long);
        assert_eq!(subject.len(), MAX_SUBJECT_LEN);
        assert_ne!(subject, operation_subject("p", &format!("{long}y")));
        assert!(is_token("alknet_1-x") && !is_token("a.b") && !is_token(""));
    }
}
