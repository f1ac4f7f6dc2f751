//! Counts of e-mail addresses, URLs and phone numbers.

use crate::report::Entities;

pub(super) fn entities(text: &str) -> Entities {
    Entities { emails: count_emails(text), urls: count_urls(text), phone_numbers: count_phone_numbers(text) }
}

pub(super) fn is_email_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

pub(super) fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

pub(super) fn count_emails(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut count = 0;
    for at in memchr_iter(b'@', bytes) {
        let local = bytes[..at].iter().rev().take_while(|b| is_email_local(**b)).count();
        let domain_len = bytes[at + 1..].iter().take_while(|b| is_domain(**b)).count();
        let domain = text[at + 1..at + 1 + domain_len].trim_end_matches(['.', '-']);
        let Some((name, tld)) = domain.rsplit_once('.') else { continue };
        if local > 0 && !name.is_empty() && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()) {
            count += 1;
        }
    }
    count
}

pub(super) fn memchr_iter(needle: u8, haystack: &[u8]) -> impl Iterator<Item = usize> + '_ {
    haystack.iter().enumerate().filter(move |(_, b)| **b == needle).map(|(i, _)| i)
}

pub(super) fn count_urls(text: &str) -> u64 {
    let lower = text.to_ascii_lowercase();
    let mut count = 0;
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("http").or_else(|| rest.find("www.")) {
        let candidate = &rest[at..];
        let scheme = ["https://", "http://", "www."].iter().find(|p| candidate.starts_with(**p));
        let before_ok = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric();
        match scheme {
            Some(prefix) if before_ok => {
                let host = &candidate[prefix.len()..];
                let host_len = host.bytes().take_while(|b| is_domain(*b)).count();
                if host[..host_len].contains('.') || (prefix.starts_with("http") && host_len > 0) {
                    count += 1;
                }
                rest = &candidate[prefix.len() + host_len..];
            }
            _ => rest = &candidate[4..],
        }
    }
    count
}

/// Phone numbers: 7 to 15 digits in at least two groups separated by spaces,
/// dashes, dots or parentheses, or after a `+`. Plain runs of digits, dates
/// (`2024-01-31`, `31.01.2024`) and decimals are not phone numbers.
pub(super) fn count_phone_numbers(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let is_part = |b: u8| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'+');
    let mut count = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let boundary =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'.' | b'-' | b'/' | b'+'));
        if !(boundary && (b.is_ascii_digit() || b == b'+' || b == b'(')) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        while end < bytes.len() && is_part(bytes[end]) {
            // A space continues the number only before another digit group.
            if bytes[end] == b' ' && !bytes.get(end + 1).is_some_and(|n| n.is_ascii_digit() || *n == b'(') {
                break;
            }
            if bytes[end] == b'+' {
                break;
            }
            end += 1;
        }
        while end > start && !(bytes[end - 1].is_ascii_digit() || bytes[end - 1] == b')') {
            end -= 1;
        }
        let candidate = &text[start..end];
        let groups: Vec<usize> =
            candidate.split(|c: char| !c.is_ascii_digit()).filter(|g| !g.is_empty()).map(str::len).collect();
        let digits: usize = groups.iter().sum();
        let international = candidate.starts_with('+');
        let date = groups.len() == 3
            && ((groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2)
                || (groups[0] <= 2 && groups[1] <= 2 && groups[2] == 4));
        let decimal = groups.len() == 2 && candidate.contains('.') && !candidate.contains([' ', '-', '(']);
        let followed_ok = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if (7..=15).contains(&digits)
            && (international || groups.len() >= 2)
            && !date
            && !decimal
            && followed_ok
            && groups.iter().all(|g| *g <= 8)
        {
            count += 1;
        }
        i = end.max(start + 1);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_told_from_dates_and_plain_numbers() {
        assert_eq!(count_phone_numbers("Call +1 415 555 2671 or (212) 555-0199 today."), 2);
        assert_eq!(count_phone_numbers("Tel. 030 1234567 / +49 30 1234567"), 2);
        assert_eq!(count_phone_numbers("On 2024-01-31 and 31.01.2024 we paid 1234567890 in 1999."), 0);
    }

    #[test]
    fn emails_and_urls_are_counted() {
        let text = "Write to jane.doe@example.com or ops@mail.example.org; see https://example.com/a, \
                    http://x.io and www.example.net. Not an email: a@b, user@localhost.";
        assert_eq!(count_emails(text), 2);
        assert_eq!(count_urls(text), 3);
    }
}
