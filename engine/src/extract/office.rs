//! Office documents in zip containers: DOCX and PPTX (OOXML), ODT
//! (OpenDocument). Body text in document order with paragraph breaks, tables
//! as tab-separated rows, headers, footers and notes; document properties as
//! metadata (XLSX shares the OOXML ones).

use super::xmltext::{attribute, walk, Node};
use super::zipsafe::{resolve_part, Container};
use super::{ExtractError, Extracted};
use crate::structure::chunk::PageSpan;
use crate::structure::{plain_inlines, Block};
use crate::Options;

/// Walks a WordprocessingML or DrawingML part into text: `t` elements hold
/// text; paragraphs, rows and breaks become newlines, tabs and cells tabs.
fn ooxml_text(xml: &str, out: &mut String, warnings: &mut Vec<String>, part: &str) {
    let mut in_text = false;
    let mut in_tab_stops = 0usize;
    // Inside a table cell, paragraphs are joined by spaces so that a row
    // stays one line.
    let mut cell_depth = 0usize;
    // Word and PowerPoint write text boxes and shapes twice: as DrawingML in
    // `mc:Choice` and as VML in `mc:Fallback` for old readers. The fallback
    // copy is skipped, or every text box would be counted twice. So are the
    // others Word keeps beside the text: where tracked changes moved text
    // from (`moveFrom`; `moveTo` holds it) and the reading set above
    // ideographs (ruby's `rt`, as "とうきょう" over 東京).
    let mut fallback_depth = 0usize;
    // A slide-number field's text is what was last drawn there, and in a
    // notes page the placeholder's own "<number>": not the deck's words.
    let mut in_slide_number = false;
    let mut runs = HiddenRuns::default();
    let walked = walk(xml, |node| match node {
        Node::Open { name: "fld", attributes } if attribute(attributes, "type") == Some("slidenum") => {
            in_slide_number = true;
            fallback_depth += 1;
        }
        Node::Close { name: "fld" } if in_slide_number => {
            in_slide_number = false;
            fallback_depth = fallback_depth.saturating_sub(1);
        }
        Node::Open { name: "Fallback" | "moveFrom" | "rt", .. } => fallback_depth += 1,
        Node::Close { name: "Fallback" | "moveFrom" | "rt" } => fallback_depth = fallback_depth.saturating_sub(1),
        Node::Open { .. } | Node::Close { .. } | Node::Text(_) if fallback_depth > 0 => {}
        Node::Open { name, attributes } if runs.open(name, attributes) => {}
        Node::Close { name } if runs.close(name) => {}
        Node::Open { .. } | Node::Text(_) if runs.hidden() => {}
        Node::Open { name, .. } => match name {
            "t" => in_text = true,
            "tabs" => in_tab_stops += 1,
            "tab" if in_tab_stops == 0 => out.push('\t'),
            "br" | "cr" => out.push('\n'),
            // Word's non-breaking hyphen is an element, not a character:
            // without it "co-operate" read as "cooperate".
            "noBreakHyphen" => out.push('\u{2011}'),
            "tc" => cell_depth += 1,
            // A text box sits inside a run of the paragraph it is anchored
            // to, often right after its last word: without a space the two
            // read as one word ("box.Boxed").
            "txbxContent" if !out.is_empty() && !out.ends_with(char::is_whitespace) => out.push(' '),
            _ => {}
        },
        Node::Close { name } => match name {
            "t" => in_text = false,
            "tabs" => in_tab_stops = in_tab_stops.saturating_sub(1),
            "p" if cell_depth > 0 && !out.ends_with(['\t', '\n', ' ']) => out.push(' '),
            "p" if cell_depth > 0 => {}
            // Paragraphs are separated by a blank line, as in plain text, so
            // that they count as paragraphs.
            "p" => out.push_str("\n\n"),
            "tbl" if !out.ends_with("\n\n") => out.push('\n'),
            "tc" => {
                cell_depth = cell_depth.saturating_sub(1);
                if out.ends_with(' ') {
                    out.pop();
                }
                out.push('\t');
            }
            "tr" => {
                if out.ends_with('\t') {
                    out.pop();
                }
                out.push('\n')
            }
            _ => {}
        },
        Node::Text(text) if in_text => out.push_str(text),
        Node::Text(_) => {}
    });
    if let Err(err) = walked {
        warnings.push(format!("{part}: {}", err.0));
    }
}

/// Which runs of a WordprocessingML part are hidden text (`w:vanish` in a
/// run's own properties: Word neither shows nor prints it, and leaves it out
/// of the text it copies, as other readers do). A text box's runs sit inside
/// the run that anchors it, so runs are a stack; a paragraph's own
/// properties (`w:pPr/w:rPr`, the paragraph mark's) hide no text.
#[derive(Default)]
pub(super) struct HiddenRuns {
    /// Per open run, whether it is hidden.
    runs: Vec<bool>,
    paragraph_properties: usize,
}

impl HiddenRuns {
    /// Takes in an element's opening; true when it is one of the elements
    /// this tracks, and so nothing else to do with.
    pub(super) fn open(&mut self, name: &str, attributes: &[(String, String)]) -> bool {
        match name {
            "r" => self.runs.push(false),
            "pPr" => self.paragraph_properties += 1,
            "vanish" if self.paragraph_properties == 0 => {
                let on = attribute(attributes, "val").is_none_or(|v| !matches!(v, "0" | "false" | "off"));
                if let Some(hidden) = self.runs.last_mut() {
                    *hidden = on;
                }
            }
            _ => return false,
        }
        true
    }

    /// Takes in an element's closing, as [`HiddenRuns::open`].
    pub(super) fn close(&mut self, name: &str) -> bool {
        match name {
            "r" => {
                self.runs.pop();
            }
            "pPr" => self.paragraph_properties = self.paragraph_properties.saturating_sub(1),
            "vanish" => {}
            _ => return false,
        }
        true
    }

    /// Inside a hidden run: its text, tabs and breaks are not read.
    pub(super) fn hidden(&self) -> bool {
        self.runs.last().copied().unwrap_or(false)
    }
}

/// The words of `charts`, a line each, into `text` (and a paragraph each
/// into the Markdown's blocks).
fn chart_text(
    container: &mut Container<'_>,
    charts: &[String],
    text: &mut String,
    mut builder: Option<&mut crate::structure::Builder>,
) {
    for chart in charts {
        let Some(xml) = container.read_text(chart) else { continue };
        for line in super::chart::chart_lines(&xml) {
            text.push_str(&line);
            text.push('\n');
            if let Some(builder) = builder.as_deref_mut() {
                builder.text(&line, &crate::structure::Style::default());
                builder.flush();
            }
        }
    }
}

/// Dublin Core properties of `docProps/core.xml` and counts of `app.xml`.
pub(super) fn ooxml_properties(container: &mut Container<'_>, extracted: &mut Extracted) {
    if let Some(core) = container.read_text("docProps/core.xml") {
        let mut current = String::new();
        let _ = walk(&core, |node| match node {
            Node::Open { name, .. } => current = name.to_owned(),
            Node::Text(text) => {
                let field = match current.as_str() {
                    "title" => "title",
                    "creator" => "author",
                    "created" => "created",
                    "modified" => "modified",
                    "subject" => "subject",
                    "language" => "language",
                    _ => return,
                };
                extracted.set(field, text);
            }
            Node::Close { .. } => current.clear(),
        });
    }
    if let Some(app) = container.read_text("docProps/app.xml") {
        let mut current = String::new();
        let _ = walk(&app, |node| match node {
            Node::Open { name, .. } => current = name.to_owned(),
            Node::Text(text) => {
                let field = match current.as_str() {
                    "Pages" => "pages",
                    "Words" => "words_declared",
                    _ => return,
                };
                if let Ok(n) = text.trim().parse::<u64>() {
                    extracted.set(field, n);
                }
            }
            Node::Close { .. } => current.clear(),
        });
    }
}

/// Parts named `prefix<N>.xml`, in numeric order.
fn numbered_parts(names: &[String], prefix: &str) -> Vec<String> {
    let mut parts: Vec<(u64, String)> = names
        .iter()
        .filter_map(|name| {
            let number = name.strip_prefix(prefix)?.strip_suffix(".xml")?.parse().ok()?;
            Some((number, name.clone()))
        })
        .collect();
    parts.sort();
    parts.into_iter().map(|(_, name)| name).collect()
}

/// The header and footer parts a Word document shows, headers first, in
/// the order its sections name them: each section's default ones, its
/// first-page ones when it has a title page (`w:titlePg`), its even-page
/// ones when the settings ask for them (`w:evenAndOddHeaders`). Word writes
/// first-page and even-page parts that nothing shows; they were read as
/// text, the same header three times. `None` when no section names any
/// (then every header and footer part is read).
fn shown_margins(body: &str, rels: &[Relationship], settings: Option<&str>) -> Option<Vec<String>> {
    let switched_on = |attributes: &[(String, String)]| {
        attribute(attributes, "val").is_none_or(|value| !matches!(value, "0" | "false" | "off"))
    };
    let mut even_pages = false;
    if let Some(settings) = settings {
        let _ = walk(settings, |node| {
            if let Node::Open { name: "evenAndOddHeaders", attributes } = node {
                even_pages = switched_on(attributes);
            }
        });
    }
    let (mut headers, mut footers) = (Vec::new(), Vec::new());
    let mut section: Vec<(bool, String, String)> = Vec::new();
    let mut title_page = false;
    let mut named_any = false;
    let _ = walk(body, |node| match node {
        Node::Open { name: name @ ("headerReference" | "footerReference"), attributes } => {
            let kind = attribute(attributes, "type").unwrap_or("default").to_owned();
            let id = attribute(attributes, "id").unwrap_or_default().to_owned();
            section.push((name == "headerReference", kind, id));
            named_any = true;
        }
        Node::Open { name: "titlePg", attributes } => title_page = switched_on(attributes),
        Node::Close { name: "sectPr" } => {
            for (header, kind, id) in section.drain(..) {
                let shown = match kind.as_str() {
                    "first" => title_page,
                    "even" => even_pages,
                    _ => true,
                };
                let target = rels.iter().find(|rel| rel.id == id).map(|rel| rel.target.clone());
                if let Some(target) = target.filter(|_| shown) {
                    let list = if header { &mut headers } else { &mut footers };
                    if !list.contains(&target) {
                        list.push(target);
                    }
                }
            }
            title_page = false;
        }
        _ => {}
    });
    named_any.then(|| headers.into_iter().chain(footers).collect())
}

/// Slides in the order the deck shows them: `ppt/presentation.xml` lists
/// them by relationship id, which its relationships resolve to parts. Slide
/// file numbers only tell the order they were created in. Slides the list
/// does not name (a damaged deck) follow by number.
fn slide_order(container: &mut Container<'_>, names: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    if let Some(presentation) = container.read_text("ppt/presentation.xml") {
        let _ = walk(&presentation, |node| {
            if let Node::Open { name: "sldId", attributes } = node {
                if let Some((_, id)) = attributes.iter().find(|(key, _)| key.ends_with(":id")) {
                    ids.push(id.clone());
                }
            }
        });
    }
    let targets = relationships(container, "ppt/_rels/presentation.xml.rels", "ppt");
    let mut slides: Vec<String> = Vec::new();
    for id in ids {
        if let Some(found) = targets.iter().find(|r| r.id == id && names.contains(&r.target)) {
            if !slides.contains(&found.target) {
                slides.push(found.target.clone());
            }
        }
    }
    for numbered in numbered_parts(names, "ppt/slides/slide") {
        if !slides.contains(&numbered) {
            slides.push(numbered);
        }
    }
    slides
}

/// One relationship of a part (`_rels/*.rels`): its id, type and target
/// part, resolved against `folder` (the folder of the part the
/// relationships belong to).
pub(super) struct Relationship {
    pub id: String,
    pub kind: String,
    pub target: String,
}

pub(super) fn relationships(container: &mut Container<'_>, rels: &str, folder: &str) -> Vec<Relationship> {
    let mut found = Vec::new();
    if let Some(xml) = container.read_text(rels) {
        let _ = walk(&xml, |node| {
            if let Node::Open { name: "Relationship", attributes } = node {
                if let Some(target) = attribute(attributes, "Target") {
                    found.push(Relationship {
                        id: attribute(attributes, "Id").unwrap_or_default().to_owned(),
                        kind: attribute(attributes, "Type").unwrap_or_default().to_owned(),
                        target: resolve_part(folder, target),
                    });
                }
            }
        });
    }
    found
}

/// The package's main part, as its relationships (`_rels/.rels`) name it:
/// `word/document.xml` for Word, but some producers write
/// `word/document2.xml`, and only the relationship says so.
pub(crate) fn package_main_part(rels: &str) -> Option<String> {
    let mut found = None;
    let _ = walk(rels, |node| {
        if let Node::Open { name: "Relationship", attributes } = node {
            let kind = attribute(attributes, "Type").unwrap_or_default();
            if found.is_none() && kind.ends_with("/officeDocument") {
                found = attribute(attributes, "Target").map(|target| resolve_part("", target));
            }
        }
    });
    found
}

/// The text of the documents a body imports whole (`w:altChunk`: an HTML
/// page, MHTML, RTF, plain text or another DOCX), in the order it names
/// them. Formats of their own are read by their own extractors; an imported
/// DOCX's body is read, not what it imports in turn.
fn alt_chunks(container: &mut Container<'_>, body: &str, rels: &[Relationship], warnings: &mut Vec<String>) -> String {
    let mut text = String::new();
    for (at, _) in body.match_indices("altChunk ") {
        let tag = &body[at..body[at..].find('>').map_or(body.len(), |end| at + end)];
        let Some(id) = tag.split_once("id=\"").and_then(|(_, rest)| rest.split_once('"')).map(|(id, _)| id) else {
            continue;
        };
        let Some(part) = rels.iter().find(|rel| rel.id == id && rel.kind.ends_with("/aFChunk")) else { continue };
        let Some(bytes) = container.read(&part.target) else { continue };
        let extension = part.target.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
        let read = match extension.as_str() {
            "rtf" => super::rtf::extract(&bytes),
            "txt" | "text" => super::text::extract(&bytes),
            "mht" | "mhtml" => super::email::extract(&bytes),
            "docx" | "docm" | "dotx" => Container::open(&bytes).and_then(|mut inner| {
                let xml = inner.read_text("word/document.xml").ok_or_else(|| ExtractError("no body".into()))?;
                let mut extracted = Extracted::default();
                ooxml_text(&xml, &mut extracted.text, &mut extracted.warnings, &part.target);
                Ok(extracted)
            }),
            _ => super::html::extract(&bytes, &Options::default()),
        };
        match read {
            Ok(imported) => {
                text.push_str(imported.text.trim_matches('\n'));
                text.push_str("\n\n");
            }
            Err(err) => warnings.push(format!("imported document {}: {err}", part.target)),
        }
    }
    text
}

/// A password-protected OOXML document is an OLE container, not a zip.
pub(super) fn refuse_encrypted(bytes: &[u8]) -> Result<(), ExtractError> {
    if bytes.starts_with(b"\xD0\xCF\x11\xE0") {
        return Err(ExtractError("encrypted: this Office document is password-protected".into()));
    }
    Ok(())
}

pub fn docx(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    refuse_encrypted(bytes)?;
    let mut container = Container::open(bytes)?;
    let mut extracted = Extracted::default();
    let main_part = container
        .read_text("_rels/.rels")
        .and_then(|rels| package_main_part(&rels))
        .filter(|part| part.ends_with(".xml"))
        .unwrap_or_else(|| "word/document.xml".to_owned());
    let body = container
        .read_text(&main_part)
        .or_else(|| container.read_text("word/document.xml"))
        .ok_or_else(|| ExtractError(format!("not a Word document: {main_part} is missing")))?;
    let mut text = String::new();
    ooxml_text(&body, &mut text, &mut extracted.warnings, &main_part);
    // SmartArt's text is in the diagram's data part, which the body only
    // names; it is read after the body, with the notes.
    let (folder, file) = main_part.rsplit_once('/').unwrap_or(("", &main_part));
    let body_rels = relationships(&mut container, &format!("{folder}/_rels/{file}.rels"), folder);
    let charts = super::chart::charts_of(&body_rels);
    // Documents imported whole where the body names them (web exporters
    // write a whole document as one imported HTML page).
    let imported = alt_chunks(&mut container, &body, &body_rels, &mut extracted.warnings);
    if !imported.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&imported);
    }
    let diagrams: Vec<String> =
        body_rels.iter().filter(|r| r.kind.ends_with("/diagramData")).map(|r| r.target.clone()).collect();
    if options.wants_structure() {
        extracted.blocks =
            super::office_structure::docx_blocks(&mut container, &body, &diagrams, &mut extracted.warnings);
        let paragraphs = imported.split("\n\n").map(str::trim).filter(|paragraph| !paragraph.is_empty());
        extracted.blocks.extend(paragraphs.map(|paragraph| Block::Paragraph(plain_inlines(paragraph))));
    }
    // Charts' words follow the body, as SmartArt's do.
    let mut chart_words = String::new();
    let mut chart_blocks = options.wants_structure().then(crate::structure::Builder::default);
    chart_text(&mut container, &charts, &mut chart_words, chart_blocks.as_mut());
    if !chart_words.is_empty() {
        text.push('\n');
        text.push_str(&chart_words);
    }
    if let Some(blocks) = chart_blocks {
        extracted.blocks.extend(blocks.finish());
    }
    let names = container.names();
    let mut extra_parts = diagrams;
    extra_parts.extend(["word/footnotes.xml", "word/endnotes.xml", "word/comments.xml"].map(str::to_owned));
    let settings = container.read_text("word/settings.xml");
    match shown_margins(&body, &body_rels, settings.as_deref()) {
        Some(margins) => extra_parts.extend(margins),
        None => {
            extra_parts.extend(numbered_parts(&names, "word/header"));
            extra_parts.extend(numbered_parts(&names, "word/footer"));
        }
    }
    // A header or footer written again for each section reads once.
    let mut margins_read: Vec<String> = Vec::new();
    for part in extra_parts {
        if let Some(xml) = container.read_text(&part) {
            let mut part_text = String::new();
            ooxml_text(&xml, &mut part_text, &mut extracted.warnings, &part);
            let margin = part.starts_with("word/header") || part.starts_with("word/footer");
            if margin && margins_read.contains(&part_text) {
                continue;
            }
            if margin {
                margins_read.push(part_text.clone());
            }
            if !part_text.trim().is_empty() {
                text.push('\n');
                text.push_str(part_text.trim_end());
                text.push('\n');
            }
        }
    }
    ooxml_properties(&mut container, &mut extracted);
    extracted.warnings.append(&mut container.warnings);
    extracted.text = text;
    Ok(extracted)
}

pub fn pptx(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    refuse_encrypted(bytes)?;
    let mut container = Container::open(bytes)?;
    let mut extracted = Extracted::default();
    let names = container.names();
    let slides = slide_order(&mut container, &names);
    // Each slide's speaker notes follow it (a slide is a page, notes and
    // all); notes no slide names (a damaged deck) come last.
    let mut notes: Vec<Vec<String>> = Vec::new();
    // SmartArt's text is not in the slide, which only names the diagram's
    // data part; it is read with the slide, before the notes.
    let mut diagrams: Vec<Vec<String>> = Vec::new();
    // Charts' words too (their title, series and labels), after the slide's.
    let mut charts: Vec<Vec<String>> = Vec::new();
    for slide in &slides {
        let (folder, file) = slide.rsplit_once('/').unwrap_or(("", slide));
        let rels = relationships(&mut container, &format!("{folder}/_rels/{file}.rels"), folder);
        notes.push(rels.iter().filter(|r| r.kind.ends_with("/notesSlide")).map(|r| r.target.clone()).collect());
        charts.push(super::chart::charts_of(&rels));
        diagrams.push(rels.into_iter().filter(|r| r.kind.ends_with("/diagramData")).map(|r| r.target).collect());
    }
    let orphans: Vec<String> = numbered_parts(&names, "ppt/notesSlides/notesSlide")
        .into_iter()
        .filter(|numbered| !notes.iter().flatten().any(|named| named == numbered))
        .collect();
    let mut text = String::new();
    let mut builder = options.wants_structure().then(crate::structure::Builder::default);
    let per_slide = slides.iter().zip(&notes).zip(&diagrams).zip(&charts);
    for (i, (((slide, slide_notes), slide_diagrams), slide_charts)) in per_slide.enumerate() {
        let number = i as u32 + 1;
        if options.pages.is_some_and(|selection| !selection.contains(number)) {
            continue;
        }
        let start = text.len();
        let parts = std::iter::once((slide, false))
            .chain(slide_diagrams.iter().map(|part| (part, false)))
            .chain(slide_notes.iter().map(|part| (part, true)));
        let mut charts_read = false;
        for (part, is_notes) in parts {
            if is_notes && !charts_read {
                charts_read = true;
                chart_text(&mut container, slide_charts, &mut text, builder.as_mut());
            }
            if let Some(xml) = container.read_text(part) {
                ooxml_text(&xml, &mut text, &mut extracted.warnings, part);
                text.push('\n');
                if let Some(builder) = builder.as_mut() {
                    let (folder, file) = part.rsplit_once('/').unwrap_or(("", part));
                    let rels = container.read_text(&format!("{folder}/_rels/{file}.rels"));
                    let links = rels.map(|rels| super::office_structure::external_targets(&rels)).unwrap_or_default();
                    super::slide_structure::pptx_part(&xml, &links, is_notes, builder);
                }
            }
        }
        if !charts_read {
            chart_text(&mut container, slide_charts, &mut text, builder.as_mut());
        }
        extracted.pages.push(PageSpan { number, start, end: text.len() });
    }
    if options.pages.is_none() {
        for part in &orphans {
            if let Some(xml) = container.read_text(part) {
                ooxml_text(&xml, &mut text, &mut extracted.warnings, part);
                text.push('\n');
            }
        }
    }
    if let Some(builder) = builder {
        extracted.blocks = builder.finish();
    }
    extracted.set("slides", slides.len());
    extracted.page_total = Some(slides.len().min(u32::MAX as usize) as u32);
    ooxml_properties(&mut container, &mut extracted);
    extracted.metadata.remove("pages");
    extracted.warnings.append(&mut container.warnings);
    extracted.text = text;
    Ok(extracted)
}
