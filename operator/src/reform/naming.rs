//! Names of successors. A successor keeps the shape of its predecessor's name with the unit's
//! slug swapped (`ha-giang-vanban` → `tuyen-quang-vanban`), so a fleet named by a convention
//! keeps it; a name that does not carry the old slug becomes the new slug.

use crate::pipeline::is_dns_label;

/// DNS-1123 label limit: Tenant names become label values and object-name parts.
const NAME_MAX: usize = 63;

pub fn successor_name(old_name: &str, old_slug: &str, new_slug: &str) -> String {
    let swapped = if old_slug.is_empty() {
        None
    } else if old_name == old_slug {
        Some(new_slug.to_string())
    } else {
        old_name
            .find(old_slug)
            .filter(|&i| {
                let before_ok = i == 0 || old_name.as_bytes()[i - 1] == b'-';
                let end = i + old_slug.len();
                let after_ok = end == old_name.len() || old_name.as_bytes()[end] == b'-';
                before_ok && after_ok
            })
            .map(|i| {
                format!(
                    "{}{new_slug}{}",
                    &old_name[..i],
                    &old_name[i + old_slug.len()..]
                )
            })
    };
    match swapped {
        Some(n) if n.len() <= NAME_MAX && is_dns_label(&n) => n,
        _ => new_slug.to_string(),
    }
}

/// `name-suffix`, shortened so it stays a DNS label.
pub fn with_suffix(name: &str, suffix: &str) -> String {
    let keep = NAME_MAX.saturating_sub(suffix.len() + 1);
    let head = name[..name.len().min(keep)].trim_end_matches('-');
    format!("{head}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slug_is_swapped_where_the_name_carries_it() {
        assert_eq!(
            successor_name("ha-giang", "ha-giang", "tuyen-quang"),
            "tuyen-quang"
        );
        assert_eq!(
            successor_name("ha-giang-vanban", "ha-giang", "tuyen-quang"),
            "tuyen-quang-vanban"
        );
        assert_eq!(
            successor_name("xa-phuong-ha-giang", "ha-giang", "tuyen-quang"),
            "xa-phuong-tuyen-quang"
        );
        // "ha-giang" inside another word is not the slug.
        assert_eq!(
            successor_name("sha-giangx", "ha-giang", "tuyen-quang"),
            "tuyen-quang"
        );
        assert_eq!(
            successor_name("custom", "ha-giang", "tuyen-quang"),
            "tuyen-quang"
        );
    }

    #[test]
    fn suffixes_keep_names_dns_labels() {
        assert_eq!(
            with_suffix("xa-phuong-tuyen-quang", "34"),
            "xa-phuong-tuyen-quang-34"
        );
        let long = "a".repeat(63);
        let n = with_suffix(&long, "34");
        assert!(n.len() <= 63 && n.ends_with("-34"));
    }
}
