//! PowerPoint 97-2003 presentations (`.ppt`): each slide's text (its
//! placeholders' text, kept in the document's slide list, then the text of
//! its other shapes), followed by its speaker notes; properties from
//! `SummaryInformation`.
//!
//! The `PowerPoint Document` stream is a tree of records: an 8-byte header
//! (version and instance, type, length), containers (version 0xF) holding
//! more records. Masters, handouts and the environment (fonts, styles) are
//! not the deck's text and are skipped.

use super::ole::{self, u16_at, u32_at};
use super::{ExtractError, Extracted};

const DOCUMENT: u16 = 0x03E8;
const SLIDE: u16 = 0x03EE;
const NOTES: u16 = 0x03F0;
const NOTES_ATOM: u16 = 0x03F1;
const SLIDE_PERSIST: u16 = 0x03F3;
const SLIDE_LIST_WITH_TEXT: u16 = 0x0FF0;
const TEXT_CHARS: u16 = 0x0FA0;
const TEXT_BYTES: u16 = 0x0FA8;
/// Containers whose text is not the deck's: masters and their titles
/// ("Click to edit Master title style"), the handout master, the
/// environment (fonts, text styles), embedded objects' list, headers and
/// footers' settings.
const SKIPPED: [u16; 6] = [0x03F8, 0x0FC9, 0x03F2, 0x0409, 0x0FD9, 0x0FF5];
/// Records nested deeper than this are not read: real decks nest a dozen.
const MAX_DEPTH: usize = 32;

pub fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let (mut file, cut_short) = ole::open(bytes)?;
    let stream = ole::stream(&mut file, "/PowerPoint Document").ok_or_else(|| {
        ExtractError("not a PowerPoint presentation: the PowerPoint Document stream is missing".into())
    })?;
    if file.is_stream("/EncryptedSummary") {
        return Err(ExtractError("the presentation is encrypted (password-protected)".into()));
    }
    let mut deck = Deck::default();
    walk(&stream, 0, &mut deck, Place::Top);
    let mut extracted = Extracted::default();
    if cut_short {
        extracted.warnings.push(ole::CUT_SHORT.into());
    }
    let slides = deck.listed.len().max(deck.slides.len());
    // Each notes page after its slide: by the slide id it names, or else
    // by its place when there are as many of them as slides.
    let by_place = deck.notes.len() == slides && deck.notes_of.iter().all(Option::is_none);
    let mut placed = vec![false; deck.notes.len()];
    let mut notes_by_slide: std::collections::HashMap<u32, Vec<usize>> = std::collections::HashMap::new();
    for (n, of) in deck.notes_of.iter().enumerate() {
        if let Some(id) = of {
            notes_by_slide.entry(*id).or_default().push(n);
        }
    }
    let mut text = String::new();
    for i in 0..slides {
        let listed = deck.listed.get(i).map(Vec::as_slice).unwrap_or_default();
        let own = deck.slides.get(i).map(Vec::as_slice).unwrap_or_default();
        let seen: std::collections::HashSet<&String> = listed.iter().collect();
        for piece in listed.iter().chain(own.iter().filter(|piece| !seen.contains(piece))) {
            push_paragraphs(&mut text, piece);
        }
        let ids = deck.slide_ids.get(i).and_then(|id| notes_by_slide.get(id)).map(Vec::as_slice).unwrap_or_default();
        let at_place = [i];
        for &n in if by_place { &at_place[..] } else { ids } {
            if !std::mem::replace(&mut placed[n], true) {
                for piece in &deck.notes[n] {
                    push_paragraphs(&mut text, piece);
                }
            }
        }
    }
    for (n, notes) in deck.notes.iter().enumerate() {
        if !placed[n] {
            for piece in notes {
                push_paragraphs(&mut text, piece);
            }
        }
    }
    extracted.text = text;
    ole::summary(&mut file, &mut extracted);
    extracted.metadata.remove("pages");
    extracted.set("slides", slides);
    Ok(extracted)
}

/// A text atom's paragraphs (PowerPoint ends each with a carriage return,
/// a line break within one is a vertical tab), each then a blank line.
fn push_paragraphs(text: &mut String, piece: &str) {
    for paragraph in piece.split('\r') {
        let paragraph = paragraph.replace('\u{B}', "\n");
        let paragraph = paragraph.trim();
        if !paragraph.is_empty() {
            text.push_str(paragraph);
            text.push_str("\n\n");
        }
    }
}

#[derive(Default)]
struct Deck {
    /// The placeholders' text of each slide, from the slide list.
    listed: Vec<Vec<String>>,
    /// The other shapes' text of each slide record, in the stream's order.
    slides: Vec<Vec<String>>,
    /// Each listed slide's id (`SlidePersistAtom`).
    slide_ids: Vec<u32>,
    notes: Vec<Vec<String>>,
    /// The slide each notes page is of (`NotesAtom`), when it says.
    notes_of: Vec<Option<u32>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    Top,
    /// Inside the document's list of slides (instance 0).
    SlideList,
    Slide,
    Notes,
    /// Anywhere else: its text is not read.
    Other,
}

fn walk(bytes: &[u8], depth: usize, deck: &mut Deck, place: Place) {
    let mut pos = 0;
    while let (Some(version_instance), Some(kind), Some(len)) =
        (u16_at(bytes, pos), u16_at(bytes, pos + 2), u32_at(bytes, pos + 4))
    {
        let start = pos + 8;
        let end = start.saturating_add(len as usize).min(bytes.len());
        let body = &bytes[start.min(end)..end];
        pos = end;
        let container = version_instance & 0xF == 0xF;
        match kind {
            TEXT_CHARS | TEXT_BYTES => {
                let text = if kind == TEXT_CHARS {
                    let units: Vec<u16> = body.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
                    String::from_utf16_lossy(&units)
                } else {
                    body.iter().map(|&b| char::from(b)).collect()
                };
                let target = match place {
                    Place::SlideList => deck.listed.last_mut(),
                    Place::Slide => deck.slides.last_mut(),
                    Place::Notes => deck.notes.last_mut(),
                    Place::Top | Place::Other => None,
                };
                // A lone `*` is the slide number's or date's field as
                // stored (the shown value is worked out when drawn).
                if let Some(target) = target.filter(|_| text.trim() != "*") {
                    target.push(text);
                }
            }
            SLIDE_PERSIST if place == Place::SlideList => {
                deck.listed.push(Vec::new());
                deck.slide_ids.push(u32_at(body, 12).unwrap_or(0));
            }
            NOTES_ATOM if place == Place::Notes => {
                if let Some(of) = deck.notes_of.last_mut() {
                    *of = u32_at(body, 0);
                }
            }
            _ if !container || depth >= MAX_DEPTH || SKIPPED.contains(&kind) => {}
            SLIDE => {
                deck.slides.push(Vec::new());
                walk(body, depth + 1, deck, Place::Slide);
            }
            NOTES => {
                deck.notes.push(Vec::new());
                deck.notes_of.push(None);
                walk(body, depth + 1, deck, Place::Notes);
            }
            SLIDE_LIST_WITH_TEXT if version_instance >> 4 == 0 => walk(body, depth + 1, deck, Place::SlideList),
            SLIDE_LIST_WITH_TEXT => {}
            DOCUMENT => walk(body, depth + 1, deck, Place::Other),
            _ => walk(body, depth + 1, deck, place),
        }
    }
}
