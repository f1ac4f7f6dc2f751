//! Engine tests: e-mail, URL and phone-number counts, a table of tricky
//! strings both ways.

use serde_json::json;

use crate::check;

/// Each text with the counts of e-mails, URLs and phone numbers its report
/// must give.
fn check_entities(cases: &[(&str, u64, u64, u64)]) {
    let mut wrong = Vec::new();
    for (text, emails, urls, phones) in cases {
        let report = check("entities.txt", text.as_bytes(), &[]);
        let got = &report["entities"];
        let want = json!({"emails": emails, "urls": urls, "phone_numbers": phones});
        if *got != want {
            wrong.push(format!("{text:?}: got {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn phone_numbers_are_counted() {
    check_entities(&[
        ("Call +1 415 555 2671 today.", 0, 0, 1),
        ("Office: (212) 555-0199", 0, 0, 1),
        ("Tel. 030 1234567 / +49 30 1234567", 0, 0, 2),
        ("London +44 20 7946 0958.", 0, 0, 1),
        ("Ring 415.555.2671 or 1-800-555-0199", 0, 0, 2),
        ("Paris 06 12 34 56 78, mobile +33 6 12 34 56 78", 0, 0, 2),
        ("+44 (0) 20 7946 0958", 0, 0, 1),
        ("Tokyo +81 3-1234-5678", 0, 0, 1),
        ("Mumbai +91 98765 43210", 0, 0, 1),
        ("Berlin 030 123 456", 0, 0, 1),
        ("Hotline 555-0199", 0, 0, 1),
        ("+491701234567", 0, 0, 1),
    ]);
}

/// A text with six numbers counted as phones and none in it.
#[test]
fn dates_times_versions_isbns_and_long_numbers_are_not_phone_numbers() {
    check_entities(&[
        ("Logged at 2024-03-02 14:30:00 by the server.", 0, 0, 0),
        ("2024-03-02T14:30:00Z", 0, 0, 0),
        ("On 2024-01-31 and 31.01.2024 and 02/03/2024", 0, 0, 0),
        ("Meeting 02.03.2024 14:30", 0, 0, 0),
        ("ISBN 978-3-16-148410-0", 0, 0, 0),
        ("ISBN 0-306-40615-2", 0, 0, 0),
        ("ISBN-13: 978-0306406157", 0, 0, 0),
        ("Update to version 10.0.19041.1 or v2.10.4", 0, 0, 0),
        ("Release 1.2.3-beta.4 of 2.5.1", 0, 0, 0),
        ("Server 192.168.100.200 port 8080", 0, 0, 0),
        ("Population 1,234,567 or 1 234 567 or 12.345.678", 0, 0, 0),
        ("Total € 1.234.567,89", 0, 0, 0),
        ("pi 3.14159 2.71828", 0, 0, 0),
        ("Card 4111 1111 1111 1111", 0, 0, 0),
        ("Order 1234567890 and 12345678901234567890", 0, 0, 0),
        ("The years 2023-2024 and 1999 2000", 0, 0, 0),
        ("ISO 9001:2015 certified", 0, 0, 0),
        ("Pages 123-145, in 1999.", 0, 0, 0),
        ("Serial ABC-1234567-XY", 0, 0, 0),
        ("Fax at 12:30:45.123456", 0, 0, 0),
        ("Книга ISBN 978-3-16-148410-0 и ещё ISBN: 0-306-40615-2", 0, 0, 0),
        ("東京の番号は 03-1234-5678 です", 0, 0, 1),
    ]);
}

#[test]
fn emails_and_urls_are_counted() {
    check_entities(&[
        ("Write to jane.doe@example.com or ops@mail.example.org;", 2, 0, 0),
        ("mailto:help@example.co.uk", 1, 0, 0),
        ("see https://example.com/a, http://x.io and www.example.net.", 0, 3, 0),
        ("http://localhost:8080/health and https://10.0.0.1/", 0, 2, 0),
        ("HTTPS://EXAMPLE.COM/PATH", 0, 1, 0),
        ("Mail first.last+tag@sub.example.com now", 1, 0, 0),
    ]);
}

#[test]
fn near_misses_are_not_emails_or_urls() {
    check_entities(&[
        ("Not an email: a@b, user@localhost, x@y.z", 0, 0, 0),
        ("Retina icon@2x.png and photo@home.jpg", 0, 0, 0),
        ("Login https://user:secret@example.com/", 0, 1, 0),
        (".hidden@example.com and dot.@example.com", 0, 0, 0),
        ("@handle and @media screen", 0, 0, 0),
        ("Edit httpd.conf and the http header", 0, 0, 0),
        ("www. and http:// alone, www..com", 0, 0, 0),
        ("jane@www.example.com", 1, 0, 0),
        ("files/www.example.com.txt", 0, 0, 0),
    ]);
}
