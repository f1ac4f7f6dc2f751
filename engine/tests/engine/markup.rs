//! Engine tests: HTML, XML, Markdown, JSON and CSV.

use serde_json::json;

use crate::{check, check_text};

#[test]
fn html_visible_text_and_metadata() {
    let page = br#"<!DOCTYPE html><html lang="fr"><head><title> Le  titre </title>
        <meta name="description" content="Une page"><meta name="author" content="Ada">
        <style>body { color: red }</style><script>var hidden = "secret";</script></head>
        <body><h1>Bonjour</h1><p>Premier <b>paragraphe</b> avec un <a href="/x">lien</a>.</p>
        <table><tr><td>a</td><td>b</td></tr></table><noscript>invisible</noscript></body></html>"#;
    let report = check(
        "page.html",
        page,
        &[
            ("/metadata/title", json!("Le titre")),
            ("/metadata/description", json!("Une page")),
            ("/metadata/author", json!("Ada")),
            ("/metadata/language", json!("fr")),
            ("/metadata/links", json!(1)),
            ("/metadata/headings", json!(1)),
        ],
    );
    let text = report["text"].as_str().unwrap();
    assert!(text.contains("Bonjour\n\nPremier paragraphe avec un lien.\n\n"), "{text:?}");
    assert_eq!(report["stats"]["paragraphs"], 3);
    assert!(text.contains("a\tb"), "{text:?}");
    for hidden in ["secret", "color", "invisible"] {
        assert!(!text.contains(hidden), "{hidden} leaked into {text:?}");
    }
}

#[test]
fn html_declared_charset_is_honoured() {
    let (body, _, _) = encoding_rs::WINDOWS_1252
        .encode("<html><head><meta charset=\"windows-1252\"></head><body>Café crème</body></html>");
    check_text("cafe.html", &body, &["Café crème"]);
}

#[test]
fn xml_text_root_and_namespaces() {
    let xml = br#"<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
        <title>News &amp; views</title><entry><dc:creator>Ada</dc:creator><summary><![CDATA[A <b>bold</b> claim]]></summary></entry></feed>"#;
    let report = check(
        "feed.xml",
        xml,
        &[
            ("/metadata/root", json!("feed")),
            ("/metadata/namespaces", json!(["http://www.w3.org/2005/Atom", "http://purl.org/dc/elements/1.1/"])),
            ("/metadata/elements", json!(5)),
        ],
    );
    let text = report["text"].as_str().unwrap();
    // The CDATA summary is HTML: read as such.
    assert!(text.contains("News & views") && text.contains("A bold claim"), "{text:?}");
}

#[test]
fn xml_entities_are_never_expanded() {
    let laughs = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"#;
    let report = check("laughs.xml", laughs, &[("/format", json!("xml"))]);
    assert!(report["text"].as_str().unwrap().len() < 100);
    let external = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
    let report = check("external.xml", external, &[("/format", json!("xml"))]);
    assert!(!report["text"].as_str().unwrap().contains("root:"));
}

#[test]
fn html_inside_feed_items_is_read_as_html() {
    let rss = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>Town news</title><item><title>Budget</title><description><![CDATA[<p>The council <b>approved</b> the budget.<br>Work starts&nbsp;soon.</p>]]></description></item><item><title>Bridge</title><description>&lt;p&gt;The bridge &lt;i&gt;reopens&lt;/i&gt; on Monday.&lt;/p&gt;</description></item></channel></rss>"#;
    let report = check_text(
        "feed.xml",
        rss,
        &["The council approved the budget.\nWork starts soon.", "The bridge reopens on Monday."],
    );
    let text = report["text"].as_str().unwrap();
    assert!(!text.contains('<') && !text.contains("&nbsp;"), "{text:?}");
    assert_eq!(report["metadata"]["root"], "rss");
}

#[test]
fn malformed_xml_keeps_what_was_read_with_a_warning() {
    let report = check("cut.xml", b"<doc><p>first part</p><p>second", &[("/format", json!("xml"))]);
    assert!(report["text"].as_str().unwrap().contains("first part"));
    let deep = "<a>".repeat(100_000);
    let report = check("deep.xml", deep.as_bytes(), &[("/format", json!("xml"))]);
    assert!(report["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("deeper")));
    // Past the depth limit the structure is flattened, the text kept, and
    // what follows the deep part is read too.
    let deep = format!(
        "<r><intro>Before the abyss</intro>{}Deep down{}<outro>After the abyss</outro></r>",
        "<s>".repeat(600),
        "</s>".repeat(600)
    );
    let report = check_text("deep.xml", deep.as_bytes(), &["Before the abyss", "Deep down", "After the abyss"]);
    assert_eq!(report["metadata"]["root"], "r");
    assert!(report["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("deeper")));
}

#[test]
fn markdown_without_markup() {
    let md = b"---\ntitle: Front Title\nauthor: Ada\n---\n# Heading One\n\nSome **bold** text and a [link](https://example.com).\n\n```\ncode line\n```\n\n## Two\n";
    let report = check(
        "doc.md",
        md,
        &[
            ("/metadata/title", json!("Front Title")),
            ("/metadata/author", json!("Ada")),
            ("/metadata/headings", json!(2)),
            ("/metadata/links", json!(1)),
            ("/metadata/code_blocks", json!(1)),
        ],
    );
    let text = report["text"].as_str().unwrap();
    assert!(text.contains("Some bold text and a link."), "{text:?}");
    assert!(!text.contains("https://") && !text.contains("**") && !text.contains("title:"), "{text:?}");
}

#[test]
fn json_metadata_and_string_text() {
    let report = check(
        "data.json",
        br#"{"name": "Ada Lovelace", "born": 1815, "works": ["Notes on the engine"]}"#,
        &[("/metadata/valid", json!(true)), ("/metadata/top_level", json!("object")), ("/metadata/keys", json!(3))],
    );
    assert_eq!(report["text"], "Ada Lovelace\nNotes on the engine\n");
    let report = check("bad.json", b"{\"a\": 1,", &[("/metadata/valid", json!(false))]);
    assert!(report["warnings"][0].as_str().unwrap().contains("line 1"));
    check("empty.json", b"", &[("/format", json!("json")), ("/metadata/valid", json!(false))]);
}

#[test]
fn csv_with_quotes_delimiter_and_header() {
    let csv = b"name;quote;year\n\"Lovelace, Ada\";\"said \"\"hi\"\"\";1843\n\"Turing\";\"multi\nline\";1950\n";
    let report = check(
        "people.csv",
        csv,
        &[
            ("/metadata/delimiter", json!(";")),
            ("/metadata/rows", json!(3)),
            ("/metadata/columns", json!(3)),
            ("/metadata/header", json!(["name", "quote", "year"])),
        ],
    );
    let text = report["text"].as_str().unwrap();
    assert!(text.contains("Lovelace, Ada\tsaid \"hi\"\t1843"), "{text:?}");
    check("numbers.csv", b"1,2\n3,4\n", &[("/metadata/header", json!(null))]);
}

#[test]
fn json_deeper_than_serde_limits_or_past_f64_range_is_valid() {
    let deep = format!("{}\"bottom\"{}", "{\"k\": ".repeat(200), "}".repeat(200));
    let report = check(
        "deep.json",
        deep.as_bytes(),
        &[("/metadata/valid", json!(true)), ("/metadata/top_level", json!("object")), ("/metadata/keys", json!(1))],
    );
    assert_eq!(report["text"], "bottom\n");
    check(
        "huge.json",
        br#"{"f": 1e999, "g": -2.5E+400, "s": "x"}"#,
        &[("/metadata/valid", json!(true)), ("/metadata/keys", json!(3)), ("/text", json!("x\n"))],
    );
    check(
        "items.json",
        br#"[1, "a\u00e9\ud83d\ude00\n", {"k": [true, null]}, [], {}]"#,
        &[("/metadata/valid", json!(true)), ("/metadata/items", json!(5)), ("/text", json!("a\u{e9}\u{1F600}\n\n"))],
    );
    check("dup.json", br#"{"a": 1, "a": 2}"#, &[("/metadata/keys", json!(1))]);
    // Detected as JSON by content too, without the extension.
    check("deep", deep.as_bytes(), &[("/format", json!("json")), ("/metadata/valid", json!(true))]);
    for bad in [
        &b"[01]"[..],
        b"[1.]",
        b"[1e]",
        b"{\"a\" 1}",
        b"[1,]",
        b"{\"a\":1,}",
        b"[\"a\tb\"]",
        b"[\"\\x\"]",
        b"tru",
        b"1 2",
    ] {
        check("bad.json", bad, &[("/metadata/valid", json!(false))]);
    }
}

#[test]
fn hostile_json_nesting_is_fast_and_invalid() {
    let started = std::time::Instant::now();
    let report = check("open.json", "[".repeat(1_000_000).as_bytes(), &[("/metadata/valid", json!(false))]);
    assert!(report["warnings"][0].as_str().unwrap().contains("EOF"), "{report}");
    let closed = format!("{}{}", "[".repeat(500_000), "]".repeat(500_000));
    check("closed.json", closed.as_bytes(), &[("/metadata/valid", json!(true)), ("/metadata/items", json!(1))]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn markdown_nested_list_items_are_separate_lines() {
    let report =
        check_text("list.md", b"- alpha\n  - beta\n    - gamma\n- delta\n\nAfter.\n", &["alpha\nbeta\ngamma\ndelta\n"]);
    assert!(!report["text"].as_str().unwrap().contains("alphabeta"));
    check_text("ordered.md", b"1. one\n   1. two\n      > three\n", &["one\ntwo\nthree"]);
    // Hostile nesting: every level one item deeper than the last.
    let depth = 300;
    let deep: String = (0..depth).map(|level| format!("{}- item{level}\n", "  ".repeat(level))).collect();
    let report = check("deep.md", deep.as_bytes(), &[("/format", json!("markdown"))]);
    let text = report["text"].as_str().unwrap();
    for level in 1..depth {
        assert!(text.contains(&format!("item{}\nitem{level}", level - 1)), "level {level}: {text:?}");
    }
}

/// The text of a Markdown document was parsed without GFM: a table came out
/// as its pipes and dashes on one line, `~~struck~~` with its tildes and a
/// task list with its `[ ]`. A row is now a line of tab-separated cells.
/// A Markdown file's paragraphs counted as one: its text joined blocks with
/// a single line break, where a plain text file has a blank line.
#[test]
fn markdown_blocks_are_paragraphs_as_in_plain_text() {
    let source = b"# Notes\n\nA one.\nStill one.\n\nB two.\n\n- x\n- y\n\n> C three.\n";
    let report = check("notes.md", source, &[("/stats/paragraphs", json!(5))]);
    assert_eq!(report["text"], json!("Notes\n\nA one. Still one.\n\nB two.\n\nx\ny\n\nC three.\n"));
    let plain = check("notes.txt", b"A one.\n\nB two.\n\nC three.\n", &[("/stats/paragraphs", json!(3))]);
    check("notes.md", b"A one.\n\nB two.\n\nC three.\n", &[("/stats", plain["stats"].clone())]);
}

#[test]
fn markdown_gfm_tables_strikethrough_and_tasks_are_read_as_text() {
    let source = "Intro.\n\n| Name | City |\n|---|:---:|\n| Ada | London |\n| Grace | New York |\n\n\
        - [x] done\n- [ ] open\n\nSome ~~old~~ new words.\n";
    check(
        "table.md",
        source.as_bytes(),
        &[(
            "/text",
            json!("Intro.\n\nName\tCity\nAda\tLondon\nGrace\tNew York\n\ndone\nopen\n\nSome old new words.\n"),
        )],
    );
}

/// Text a browser does not show was read: elements marked `hidden` or
/// `style="display:none"` (menus, templates for scripts). And a `pre`
/// block's lines ran together into one ("line one line two"), its
/// indentation gone.
#[test]
fn html_hidden_elements_are_skipped_and_pre_keeps_its_lines() {
    let html = br#"<html><body><p>Shown words.</p><div hidden><p>hiddenword</p></div><nav style="color: red; DISPLAY : none"><a href="x">menuword</a></nav><details hidden="until-found"><p>findable</p></details><pre>  line one
    line two</pre><p>After.</p></body></html>"#;
    let report = check_text("page.html", html, &["Shown words.", "findable", "  line one\n    line two", "After."]);
    let text = report["text"].as_str().unwrap();
    assert!(!text.contains("hiddenword") && !text.contains("menuword"), "{text:?}");
    let options = docmill_engine::Options { markdown: true, ..Default::default() };
    let report = crate::analyze_with("page.html", html, options).unwrap();
    let markdown = report["markdown"].as_str().unwrap();
    assert!(
        !markdown.contains("hiddenword") && !markdown.contains("menuword") && markdown.contains("findable"),
        "{markdown}"
    );
}

#[test]
fn markdown_toml_front_matter() {
    let md = b"+++\ntitle = \"Hugo Page\"\nauthor = 'Ada'\ndate = 2024-01-02\n[params]\ntitle = \"not this\"\n+++\n# Heading\n\nBody text.\n";
    let report = check(
        "hugo.md",
        md,
        &[
            ("/metadata/title", json!("Hugo Page")),
            ("/metadata/author", json!("Ada")),
            ("/metadata/headings", json!(1)),
        ],
    );
    let text = report["text"].as_str().unwrap();
    assert!(text.contains("Body text.") && !text.contains("+++") && !text.contains("date"), "{text:?}");
}

#[test]
fn html_nested_too_deep_is_read_in_linear_time() {
    let depth = 200_000;
    let page = format!(
        "<html><head><title>Deep &amp; dark</title><style>p {{ color: red }}</style></head><body><h1>Top</h1>{}<p>Fish &amp; chips <a href=\"/x\">here</a></p><script>var hidden = 1;</script>{}</body></html>",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    let started = std::time::Instant::now();
    let report = check(
        "deep.html",
        page.as_bytes(),
        &[("/metadata/title", json!("Deep & dark")), ("/metadata/links", json!(1)), ("/metadata/headings", json!(1))],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    let text = report["text"].as_str().unwrap();
    assert!(text.contains("Top\n\nFish & chips here"), "{text:?}");
    for hidden in ["hidden", "color", "Deep"] {
        assert!(!text.contains(hidden), "{hidden} leaked into {text:?}");
    }
    assert!(report["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("nested deeper")));
    // Ordinary pages, and long runs of elements whose end tags are implied,
    // still get the full parse.
    let list = format!("<ul>{}</ul>", "<li>item".repeat(10_000));
    let report = check("list.html", list.as_bytes(), &[]);
    assert!(report["warnings"].as_array().is_none_or(|w| w.is_empty()), "{report}");
}

#[test]
fn email_messages_give_their_headers_and_decoded_bodies() {
    // Subject in RFC 2047 (UTF-8, base64), a quoted-printable Latin-1 plain
    // part, its base64 HTML alternative, and a base64 attachment.
    let html = "<p>Le comit&eacute; se r&eacute;unit <b>lundi</b>.</p>";
    let message = format!(
        "From: =?UTF-8?Q?Zo=C3=AB_Martin?= <zoe@example.org>\r\n\
         To: Team <team@example.org>, ana@example.org\r\n\
         Subject: =?UTF-8?B?{}?=\r\n\
         Date: Tue, 3 Sep 2024 09:15:00 +0200\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\n\
         Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n\
         --inner\r\n\
         Content-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n\
         Le comit=E9 se r=E9unit lundi pour le budget de l'=E9cole.\r\n\
         --inner\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --inner--\r\n\
         --outer\r\n\
         Content-Type: application/pdf; name=\"budget.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"budget.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n\
         --outer--\r\n",
        base64("Réunion du comité"),
        base64(html)
    );
    for name in ["meeting.eml", "meeting"] {
        let report = check(
            name,
            message.as_bytes(),
            &[
                ("/format", json!("text")),
                ("/media_type", json!("message/rfc822")),
                ("/metadata/title", json!("Réunion du comité")),
                ("/metadata/author", json!("Zoë Martin <zoe@example.org>")),
                ("/metadata/to", json!(["Team <team@example.org>", "ana@example.org"])),
                ("/metadata/created", json!("2024-09-03T09:15:00+02:00")),
                ("/metadata/attachments", json!(1)),
                ("/metadata/attachment_names", json!(["budget.pdf"])),
            ],
        );
        let text = report["text"].as_str().unwrap();
        assert!(
            text.starts_with("Réunion du comité\n\nLe comité se réunit lundi pour le budget de l'école."),
            "{text:?}"
        );
        assert!(!text.contains("JVBER") && !text.contains("--outer") && !text.contains("=E9"), "{text:?}");
    }
    // A text file that merely mentions headers stays plain text.
    check("notes", b"From: the minutes\nwe agreed on three points\n", &[("/media_type", json!("text/plain"))]);
}

/// Standard base64, for the e-mail fixture.
fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A page saved as UTF-8 under a template's `charset=ISO-8859-1` (or
/// `windows-1252`, or a meaningless `UTF-16`) was decoded by the
/// declaration: every non-ASCII character became mojibake ("Ð¡Ð¸ÑÑ‚ÐµÐ¼Ð°"
/// for "Система") and the language went undetected. Bytes that are valid
/// UTF-8 with non-ASCII in them are read as UTF-8; a page really in the
/// declared encoding still is read by it.
#[test]
fn html_valid_utf8_overrules_a_lying_charset() {
    let russian = "Система анализа документов читает текст страницы и вычисляет ключевые слова. \
                   Сегодня в Москве ясная погода, а после обеда может пойти дождь. \
                   Мы взяли в библиотеке несколько новых книг и прочитаем их в выходные.";
    for head in [
        "<meta charset=\"ISO-8859-1\">",
        "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\">",
        "<meta charset=\"utf-16\">",
    ] {
        let page =
            format!("<html><head>{head}</head><body><p>{russian}</p><p>{russian}</p><p>{russian}</p></body></html>");
        let report = check(
            &format!("lying {head}.html"),
            page.as_bytes(),
            &[("/metadata/encoding", json!("UTF-8")), ("/language/code", json!("ru"))],
        );
        assert!(report["text"].as_str().unwrap().contains(russian), "{head}: {report:#}");
    }
    let ascii = b"<html><head><meta charset=\"utf-16\"></head><body><p>Plain words here.</p></body></html>";
    check_text("ascii.html", ascii, &["Plain words here."]);
    let (latin1, _, _) = encoding_rs::WINDOWS_1252
        .encode("<html><head><meta charset=\"ISO-8859-1\"></head><body>Crème brûlée</body></html>");
    check("latin1.html", &latin1, &[("/metadata/encoding", json!("windows-1252"))]);
}
