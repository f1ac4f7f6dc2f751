//! PowerPoint 97-2003 presentations (`.ppt`): each slide's text (its
//! placeholders' text, kept in the document's slide list, then the text of
//! its other shapes), followed by its speaker notes; properties from
//! `SummaryInformation`.
//!
//! The `PowerPoint Document` stream is a tree of records: an 8-byte header
//! (version and instance, type, length), containers (version 0xF) holding
//! more records. Masters, handouts and the environment (fonts, styles) are
//! not the deck's text and are skipped. A deck saved incrementally ("fast
//! save") holds every version of the slides it changed, the newer appended
//! after the older: the last save's persist directory (found from the
//! `Current User` stream through the chain of `UserEditAtom`s) names the
//! records that are the deck now, and only those are read, in the order the
//! slide list gives.

use super::ole::{self, u16_at, u32_at};
use super::{ExtractError, Extracted};

const DOCUMENT: u16 = 0x03E8;
const SLIDE: u16 = 0x03EE;
const NOTES: u16 = 0x03F0;
const NOTES_ATOM: u16 = 0x03F1;
const SLIDE_PERSIST: u16 = 0x03F3;
const MAIN_MASTER: u16 = 0x03F8;
const SLIDE_LIST_WITH_TEXT: u16 = 0x0FF0;
const TEXT_CHARS: u16 = 0x0FA0;
const TEXT_BYTES: u16 = 0x0FA8;
const USER_EDIT: u16 = 0x0FF5;
const PERSIST_DIRECTORY: u16 = 0x1772;
/// Saves followed back through `offsetLastEdit`: a deck saved a thousand
/// times without a full save is not one PowerPoint writes.
const MAX_EDITS: usize = 1000;
/// Containers whose text is not the deck's: masters and their titles
/// ("Click to edit Master title style"), the handout master, the
/// environment (fonts, text styles), embedded objects' list, headers and
/// footers' settings.
const SKIPPED: [u16; 6] = [MAIN_MASTER, 0x0FC9, 0x03F2, 0x0409, 0x0FD9, 0x0FF5];
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
    let current_user = ole::stream(&mut file, "/Current User").unwrap_or_default();
    let persist = persist_directory(&stream, &current_user);
    let mut deck = Deck::default();
    walk(&stream, 0, &mut deck, Place::Top, persist.as_ref());
    if let Some(persist) = &persist {
        deck.slides_in_list_order(persist);
    }
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
    /// Each listed slide's persist id, which the persist directory maps to
    /// its slide record's offset.
    listed_refs: Vec<u32>,
    /// Each slide record's offset in the stream, `slides` order.
    slide_offsets: Vec<u32>,
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

/// Reads the records of `bytes` into `deck`. At the top (`depth` 0), with
/// the last save's `persist` directory, a document, slide, notes or master
/// record it does not name (an older version of one) is passed over.
fn walk(bytes: &[u8], depth: usize, deck: &mut Deck, place: Place, persist: Option<&Persist>) {
    let mut pos = 0;
    while let (Some(version_instance), Some(kind), Some(len)) =
        (u16_at(bytes, pos), u16_at(bytes, pos + 2), u32_at(bytes, pos + 4))
    {
        let offset = pos as u32;
        let superseded = depth == 0
            && persist.is_some_and(|persist| match kind {
                DOCUMENT => persist.document != offset,
                SLIDE | NOTES | MAIN_MASTER => !persist.live.contains(&offset),
                _ => false,
            });
        let start = pos + 8;
        let end = start.saturating_add(len as usize).min(bytes.len());
        let body = &bytes[start.min(end)..end];
        pos = end;
        let container = version_instance & 0xF == 0xF;
        if superseded {
            continue;
        }
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
                deck.listed_refs.push(u32_at(body, 0).unwrap_or(0));
            }
            NOTES_ATOM if place == Place::Notes => {
                if let Some(of) = deck.notes_of.last_mut() {
                    *of = u32_at(body, 0);
                }
            }
            _ if !container || depth >= MAX_DEPTH || SKIPPED.contains(&kind) => {}
            SLIDE => {
                deck.slides.push(Vec::new());
                deck.slide_offsets.push(offset);
                walk(body, depth + 1, deck, Place::Slide, None);
            }
            NOTES => {
                deck.notes.push(Vec::new());
                deck.notes_of.push(None);
                walk(body, depth + 1, deck, Place::Notes, None);
            }
            SLIDE_LIST_WITH_TEXT if version_instance >> 4 == 0 => walk(body, depth + 1, deck, Place::SlideList, None),
            SLIDE_LIST_WITH_TEXT => {}
            DOCUMENT => walk(body, depth + 1, deck, Place::Other, None),
            _ => walk(body, depth + 1, deck, place, None),
        }
    }
}

impl Deck {
    /// Puts the slide records' text in the order of the slide list, by the
    /// offsets `persist` gives their persist ids: a slide changed in a fast
    /// save is written after the others. Records the list does not name
    /// follow, in the stream's order.
    fn slides_in_list_order(&mut self, persist: &Persist) {
        let mut slides: Vec<Option<Vec<String>>> = std::mem::take(&mut self.slides).into_iter().map(Some).collect();
        let by_offset: std::collections::HashMap<u32, usize> =
            self.slide_offsets.iter().enumerate().map(|(i, offset)| (*offset, i)).collect();
        let mut ordered = Vec::with_capacity(slides.len());
        for persist_id in &self.listed_refs {
            let at = persist.offsets.get(persist_id).and_then(|offset| by_offset.get(offset));
            ordered.push(at.and_then(|&i| slides[i].take()).unwrap_or_default());
        }
        ordered.extend(slides.into_iter().flatten());
        self.slides = ordered;
    }
}

/// What the last save's persist directory says: each persist id's record
/// offset, those offsets as a set, and the document record's offset.
struct Persist {
    offsets: std::collections::HashMap<u32, u32>,
    live: std::collections::HashSet<u32>,
    document: u32,
}

/// The persist directory of the deck as last saved: the `Current User`
/// stream gives the offset of the last `UserEditAtom`, each of which names
/// its save's persist directory and the `UserEditAtom` before it; a newer
/// save's entry for a persist id overrides an older's. `None` when the chain
/// cannot be followed (a writer that leaves `Current User` empty) or names
/// no document record, and the stream is then read whole.
fn persist_directory(stream: &[u8], current_user: &[u8]) -> Option<Persist> {
    let mut edit = u32_at(current_user, 16)? as usize;
    let mut offsets = std::collections::HashMap::new();
    let mut document = None;
    let (mut seen, mut directories) = (std::collections::HashSet::new(), std::collections::HashSet::new());
    for _ in 0..MAX_EDITS {
        if u16_at(stream, edit + 2)? != USER_EDIT || !seen.insert(edit) {
            return None;
        }
        let body = stream.get(edit + 8..)?;
        let (last_edit, directory) = (u32_at(body, 8)? as usize, u32_at(body, 12)? as usize);
        // The newest save names the document.
        document = document.or_else(|| Some(u32_at(body, 16)));
        // Each directory read once: edits naming one directory over and
        // over would read it over and over.
        if u16_at(stream, directory + 2)? != PERSIST_DIRECTORY || !directories.insert(directory) {
            return None;
        }
        let len = u32_at(stream, directory + 4)? as usize;
        let entries = stream.get(directory + 8..(directory + 8).saturating_add(len).min(stream.len()))?;
        let mut at = 0;
        while let Some(word) = u32_at(entries, at) {
            let (first_id, count) = (word & 0xF_FFFF, word >> 20);
            for k in 0..count {
                let Some(offset) = u32_at(entries, at + 4 + 4 * k as usize) else { break };
                offsets.entry(first_id + k).or_insert(offset);
            }
            at += 4 + 4 * count as usize;
        }
        if last_edit == 0 {
            break;
        }
        edit = last_edit;
    }
    // Without the document's record the directory is not this deck's.
    let document = document.flatten().and_then(|id| offsets.get(&id).copied())?;
    let live = offsets.values().copied().collect();
    Some(Persist { offsets, live, document })
}
