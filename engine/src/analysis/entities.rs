//! Counts of e-mail addresses, URLs and phone numbers, each recognised by its
//! shape and its boundaries, so that dates, times, versions, ISBNs, IP
//! addresses, file names and long numbers are not counted.

use crate::report::Entities;

pub(super) fn entities(text: &str) -> Entities {
    Entities { emails: count_emails(text), urls: count_urls(text), phone_numbers: count_phone_numbers(text) }
}

/// Fewest and most digits of a phone number: a local number without its
/// area code has seven; ITU-T E.164 allows fifteen with the country code.
pub(super) const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// Longest group of digits in a phone number written in groups: a
/// subscriber number written whole after its area code (`030 12345678`).
/// A number written as one group after `+` may have all fifteen.
pub(super) const MAX_PHONE_GROUP_DIGITS: usize = 8;

/// Endings after `name@` that are file types, not top-level domains
/// (`icon@2x.png`, `photo@home.jpg`).
const FILE_EXTENSIONS: [&str; 16] =
    ["png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "tif", "tiff", "pdf", "js", "css", "htm", "txt", "doc", "xls"];

pub(super) fn is_email_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

pub(super) fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// A host name: labels of letters, digits and inner hyphens, the last (the
/// top-level domain) two or more letters.
fn is_host_name(host: &str) -> bool {
    let Some((name, tld)) = host.rsplit_once('.') else { return false };
    let label_ok = |label: &str| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-');
    label_ok(name.rsplit('.').next().unwrap_or(name))
        && name.split('.').all(label_ok)
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Addresses `local@domain.tld`. Not counted: a local part that starts or
/// ends with a dot, credentials inside a URL (`https://user:pass@host`), and
/// file names (`icon@2x.png`).
pub(super) fn count_emails(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut count = 0;
    for at in memchr::memchr_iter(b'@', bytes) {
        let local_len = bytes[..at].iter().rev().take_while(|b| is_email_local(**b)).count();
        let local = &text[at - local_len..at];
        let domain_len = bytes[at + 1..].iter().take_while(|b| is_domain(**b)).count();
        let domain = text[at + 1..at + 1 + domain_len].trim_end_matches(['.', '-']);
        let token_start = bytes[..at - local_len].iter().rposition(|b| b.is_ascii_whitespace()).map_or(0, |i| i + 1);
        let in_url = text[token_start..at - local_len].contains("://");
        let tld = domain.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        if !local.is_empty()
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !in_url
            && is_host_name(domain)
            && !FILE_EXTENSIONS.contains(&tld.as_str())
        {
            count += 1;
        }
    }
    count
}

/// `http://` and `https://` URLs with a host, and `www.` names with a
/// domain after them, not inside a word, an address or another URL. Case
/// does not matter (`HTTPS://`, `WWW.`).
pub(super) fn count_urls(text: &str) -> u64 {
    let bytes = text.as_bytes();
    // Where each candidate starts and how long its prefix is: schemes found
    // by their `://`, names by the dot of `www.`, so the text is scanned by
    // `memchr` without a lowercase copy of it.
    let schemes = memchr::memmem::find_iter(bytes, b"://").filter_map(|colon| {
        if colon >= 5 && bytes[colon - 5..colon].eq_ignore_ascii_case(b"https") {
            Some((colon - 5, "https://".len()))
        } else if colon >= 4 && bytes[colon - 4..colon].eq_ignore_ascii_case(b"http") {
            Some((colon - 4, "http://".len()))
        } else {
            None
        }
    });
    let names = memchr::memchr_iter(b'.', bytes)
        .filter(|&dot| dot >= 3 && bytes[dot - 3..dot].eq_ignore_ascii_case(b"www"))
        .map(|dot| (dot - 3, "www.".len()));
    let mut candidates: Vec<(usize, usize)> = schemes.chain(names).collect();
    candidates.sort_unstable();
    let mut count = 0;
    let mut from = 0;
    for (at, prefix_len) in candidates {
        if at < from {
            continue;
        }
        // `x@www.example.com` is an address, `/www.` part of a path.
        let before_ok = at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric() || matches!(bytes[at - 1], b'@' | b'.' | b'/' | b'-' | b'_'));
        if !before_ok {
            from = at + 4;
            continue;
        }
        let host = &text[at + prefix_len..];
        let host_len = host.bytes().take_while(|b| is_domain(*b)).count();
        let name = host[..host_len].trim_end_matches(['.', '-']);
        let host_ok = if prefix_len == "www.".len() {
            is_host_name(&format!("www.{name}"))
        } else {
            // `http://localhost:8080` and `http://10.0.0.1` have hosts too.
            name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if host_ok {
            count += 1;
        }
        from = at + prefix_len + host_len;
    }
    count
}

/// Phone numbers: 7 to 15 digits in groups a phone number has. The number
/// starts with `+` and a country code, a parenthesised area code, or digits,
/// and is two or more groups of digits separated by one space, dash or dot
/// each (or one group after a `+`). Not phone numbers: anything joined to a
/// letter, a `:` (times, `ISO 9001:2015`), a `/`, a `,` or another digit
/// group beyond what was read (a longer number); dates (`2024-03-02`,
/// `02.03.2024`) and year ranges; versions and ISBNs, whose single-digit
/// groups (`10.0.19041.1`, `978-3-16-148410-0`) no phone number has except
/// after its country code or in parentheses; IPv4 addresses; and thousands
/// written with separators (`1 234 567`).
pub(super) fn count_phone_numbers(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut count = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Jump to the next byte that can begin a number: every other byte
        // would only move on by one.
        match bytes[i..].iter().position(|b| b.is_ascii_digit() || matches!(b, b'+' | b'(')) {
            Some(skip) => i += skip,
            None => break,
        }
        let b = bytes[i];
        let starts = b.is_ascii_digit() || b == b'+' || b == b'(';
        let attached = i > 0
            && (bytes[i - 1].is_ascii_alphanumeric()
                || matches!(bytes[i - 1], b'.' | b'-' | b'/' | b'+' | b',' | b':' | b'_'));
        if !starts || attached {
            i += 1;
            continue;
        }
        let (end, shape) = read_phone_shape(bytes, i);
        let followed = bytes.get(end).copied();
        let after = bytes.get(end + 1).copied();
        // Followed by a letter, `:`, `/` or `_`, or by `.`/`,`/`-` and a
        // digit: part of something longer.
        let joined = followed.is_some_and(|f| f.is_ascii_alphanumeric() || matches!(f, b':' | b'/' | b'_' | b'@'))
            || (followed.is_some_and(|f| matches!(f, b'.' | b',' | b'-')) && after.is_some_and(|a| a.is_ascii_digit()));
        // The number an `ISBN` or `ISSN` label names is a book's or serial's.
        let label = &bytes[i.saturating_sub(12)..i];
        let labelled = label.windows(4).any(|w| w.eq_ignore_ascii_case(b"isbn") || w.eq_ignore_ascii_case(b"issn"));
        if let Some(shape) = shape {
            if !joined && !labelled && shape.is_phone() {
                count += 1;
            }
        }
        // Skip the whole run of digits and separators, so its tail is not
        // read again as a number of its own.
        let mut next = end.max(i + 1);
        while next < bytes.len()
            && (bytes[next].is_ascii_alphanumeric() || matches!(bytes[next], b'.' | b'-' | b'/' | b',' | b':' | b'_'))
        {
            next += 1;
        }
        i = next;
    }
    count
}

/// What a run that may be a phone number is made of.
struct PhoneShape {
    /// Digits in each group, in order.
    groups: Vec<usize>,
    international: bool,
    /// Index of the group written in parentheses, if any.
    parenthesised: Option<usize>,
    /// The separators between groups (after the parenthesis, if any).
    separators: Vec<u8>,
    /// The first digit is a 0, as in national numbers (`030 123 456`).
    leading_zero: bool,
}

/// Reads groups of digits from `start`: `+`, an optional `(digits)`, then
/// digit groups joined by single separators (space, `-`, `.`), a separator
/// only counting when a digit follows it. Returns where the run ends and
/// its shape (`None` when it is no shape at all, say a lone `(`).
fn read_phone_shape(bytes: &[u8], start: usize) -> (usize, Option<PhoneShape>) {
    let mut shape = PhoneShape {
        groups: Vec::new(),
        international: false,
        parenthesised: None,
        separators: Vec::new(),
        leading_zero: false,
    };
    let mut i = start;
    if bytes[i] == b'+' {
        shape.international = true;
        i += 1;
    }
    let digits_at = |at: usize| bytes[at.min(bytes.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
    loop {
        if bytes.get(i) == Some(&b'(') {
            let inner = digits_at(i + 1);
            if shape.parenthesised.is_some() || inner == 0 || bytes.get(i + 1 + inner) != Some(&b')') {
                break;
            }
            shape.parenthesised = Some(shape.groups.len());
            shape.groups.push(inner);
            i += inner + 2;
            // After `(212)` a space or dash may come, or the digits at once.
            if matches!(bytes.get(i), Some(b' ' | b'-')) && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            continue;
        }
        let run = digits_at(i);
        if run == 0 {
            break;
        }
        shape.groups.push(run);
        i += run;
        match bytes.get(i) {
            Some(&sep @ (b' ' | b'-' | b'.'))
                if bytes.get(i + 1).is_some_and(|n| n.is_ascii_digit() || (*n == b'(' && sep == b' ')) =>
            {
                shape.separators.push(sep);
                i += 1;
            }
            _ => break,
        }
    }
    if shape.groups.is_empty() {
        return (i.max(start + 1), None);
    }
    shape.leading_zero = bytes[start..].iter().find(|b| b.is_ascii_digit()) == Some(&b'0');
    (i, Some(shape))
}

impl PhoneShape {
    fn is_phone(&self) -> bool {
        let groups = &self.groups;
        let digits: usize = groups.iter().sum();
        if !PHONE_DIGITS.contains(&digits) {
            return false;
        }
        if groups.len() < 2 {
            return self.international;
        }
        if groups.iter().any(|g| *g > MAX_PHONE_GROUP_DIGITS) {
            return false;
        }
        // One digit alone: the first group (a trunk or country code), the
        // group after `+cc` (`+33 6 12 34 56 78`) or `(0)`.
        let single_ok =
            |index: usize| index == 0 || (self.international && index == 1) || self.parenthesised == Some(index);
        if groups.iter().enumerate().any(|(index, g)| *g == 1 && !single_ok(index)) {
            return false;
        }
        if self.international || self.parenthesised.is_some() {
            return true;
        }
        let only = |sep: u8| self.separators.iter().all(|s| *s == sep);
        let date = groups.len() == 3
            && ((groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2)
                || (groups[0] <= 2 && groups[1] <= 2 && groups[2] == 4));
        let year_range = groups.len() == 2 && groups.iter().all(|g| *g == 4);
        let ipv4 = groups.len() == 4 && only(b'.') && groups.iter().all(|g| *g <= 3);
        // `1 234 567`, `12.345.678`: thousands, unless the number starts
        // with a 0 as national phone numbers do.
        let thousands = groups[0] <= 3 && groups[1..].iter().all(|g| *g == 3) && !self.leading_zero;
        !(date || year_range || ipv4 || thousands)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// URLs counted over a lowercase copy of the text, searching `http` and
    /// `www.` from the last candidate on: the plain reading of the rules,
    /// against which the `memchr` scan is checked.
    fn count_urls_by_lowercase_copy(text: &str) -> u64 {
        let lower = text.to_ascii_lowercase();
        let bytes = lower.as_bytes();
        let mut count = 0;
        let mut from = 0;
        while let Some(found) = memchr::memmem::find(&bytes[from..], b"http")
            .into_iter()
            .chain(memchr::memmem::find(&bytes[from..], b"www."))
            .min()
        {
            let at = from + found;
            let candidate = &lower[at..];
            let scheme = ["https://", "http://", "www."].into_iter().find(|p| candidate.starts_with(p));
            let before_ok = at == 0
                || !(bytes[at - 1].is_ascii_alphanumeric()
                    || matches!(bytes[at - 1], b'@' | b'.' | b'/' | b'-' | b'_'));
            let Some(prefix) = scheme.filter(|_| before_ok) else {
                from = at + 4;
                continue;
            };
            let host = &candidate[prefix.len()..];
            let host_len = host.bytes().take_while(|b| is_domain(*b)).count();
            let name = host[..host_len].trim_end_matches(['.', '-']);
            let host_ok = if prefix == "www." {
                is_host_name(&format!("www.{name}"))
            } else {
                name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            };
            if host_ok {
                count += 1;
            }
            from = at + prefix.len() + host_len;
        }
        count
    }

    #[test]
    fn urls_in_every_case_and_position() {
        for (text, urls) in [
            ("see https://example.com and HTTP://EXAMPLE.ORG/x", 2),
            ("WWW.Example.com, www.example, xwww.example.com", 2),
            ("hhttps://a.b https://www.a.b http://https://a.b", 2),
            ("wwww.example.com www.www.example.com", 1),
        ] {
            assert_eq!(count_urls(text), urls, "{text}");
            assert_eq!(count_urls_by_lowercase_copy(text), urls, "{text}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn urls_are_counted_as_the_rules_read(text in "(https?://|HTTP|www\\.|WwW\\.|[hHtTpPsSwW:/.@_a1é -]){0,24}") {
            prop_assert_eq!(count_urls(&text), count_urls_by_lowercase_copy(&text));
        }
    }
}
