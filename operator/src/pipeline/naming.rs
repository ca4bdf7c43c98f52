//! Names and label values derived from a tenant. Every tenant object lives in the platform's
//! namespace next to thousands of others, so its name must carry the tenant (its unit code is
//! unique on a platform) and must stay a valid DNS label even for long commune slugs.

use sha2::{Digest, Sha256};

/// Longest slug part kept in a stem; slugs in the registry are at most 42 characters.
const SLUG_MAX: usize = 40;
/// DNS-1123 label limit, which Services and most kinds need.
pub const NAME_MAX: usize = 63;

/// The tenant's name stem, `<slug>-<code>`: unique per platform because unit codes are.
pub fn tenant_stem(slug: &str, code: &str) -> String {
    let slug = truncate_label(slug, SLUG_MAX);
    format!("{slug}-{code}")
}

/// An object name `<stem>-<suffix>`, or an error saying how long the suffix may be.
pub fn object_name(stem: &str, suffix: &str) -> Result<String, String> {
    if suffix.is_empty() {
        return Ok(stem.to_string());
    }
    if !is_dns_label_fragment(suffix) {
        return Err(format!(
            "name suffix {suffix:?} must use only lowercase letters, digits and '-'"
        ));
    }
    let name = format!("{stem}-{}", suffix.trim_matches('-'));
    if name.len() > NAME_MAX {
        return Err(format!(
            "name {name:?} is longer than {NAME_MAX} characters; shorten the suffix {suffix:?} to at most {} characters",
            NAME_MAX.saturating_sub(stem.len() + 1)
        ));
    }
    Ok(name)
}

/// The value of the `khaibao.dev/tenant` label: `<namespace>.<name>`, shortened with a hash when
/// longer than a label value may be (63 characters).
pub fn tenant_label_value(namespace: &str, name: &str) -> String {
    let full = format!("{namespace}.{name}");
    if full.len() <= NAME_MAX {
        return full;
    }
    let hash = short_hash(full.as_bytes(), 8);
    let head = full[..NAME_MAX - 9].trim_end_matches(['-', '.', '_']);
    format!("{head}-{hash}")
}

/// The first `n` hex characters of the SHA-256 of `bytes`.
pub fn short_hash(bytes: &[u8], n: usize) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex.truncate(n);
    hex
}

fn truncate_label(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    // Slugs are ASCII, so byte slicing is safe; trailing dashes would make an invalid label.
    s[..max].trim_end_matches('-')
}

fn is_dns_label_fragment(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// True for a valid DNS-1123 label (what Kubernetes requires of most object names).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_MAX
        && is_dns_label_fragment(s)
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_tenant_and_stay_dns_labels() {
        let stem = tenant_stem("phuong-huong-van-thi-xa-huong-tra-20008", "20008");
        let n = object_name(&stem, "portal-config").unwrap();
        assert!(n.ends_with("-20008-portal-config"), "{n}");
        assert!(is_dns_label(&n), "{n}");
        assert!(object_name(&stem, "a-very-long-suffix-that-cannot-fit-anymore").is_err());
        assert!(object_name(&stem, "Bad_Suffix").is_err());
    }

    #[test]
    fn label_values_fit() {
        assert_eq!(tenant_label_value("tinh-01", "ha-noi"), "tinh-01.ha-noi");
        let long = tenant_label_value("tinh-01", &"x".repeat(80));
        assert!(long.len() <= 63);
        assert_ne!(long, tenant_label_value("tinh-01", &"x".repeat(81)));
    }
}
