//! Makes a loaded PDF safe for the text readers before they see it. pdf-extract
//! follows a page's `/Parent` chain and every `/Name Do` by recursion, with no
//! check for cycles or depth, and lopdf's page lookup walks the whole page
//! tree on every call. Here, in loops with explicit bounds:
//!
//! - the page list comes from one walk of the page tree (each node once, so
//!   a tree that contains itself ends), or from a scan for page objects when
//!   the tree gives none;
//! - each page gets its inherited `/Resources` and `/MediaBox` written on
//!   itself, so no reader needs to climb `/Parent`;
//! - every XObject a page draws is followed as pdf-extract would follow it,
//!   and a `Do` that would draw a form already being drawn, nest forms past
//!   [`MAX_FORM_DEPTH`], exceed the page's token budget, draw an image (no
//!   text) or name nothing is removed from its content stream;
//! - content streams past the limits of `pdf_content.rs` are cut or flattened;
//! - a stream that draws a lot (paths, colours, inline images) loses that
//!   drawing, which gives no text and would cost the readers as much memory
//!   as text does.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

use super::pdf_content::{self, Scan, MAX_CONTENT_TOKENS, MAX_OPERAND_DEPTH, MAX_SAVE_DEPTH};

/// Form XObjects drawn inside one another deeper than this are not drawn.
/// The reader recurses once per level, holding that level's decoded stream;
/// real documents nest forms a handful of levels (PDF 1.7's implementation
/// limits, Annex C, give 28 for the graphics-state stack forms push).
pub const MAX_FORM_DEPTH: usize = 28;
/// Tokens one page may have interpreted, counting a form's tokens each time
/// it is drawn. Forms drawing forms twice, 40 levels deep, are 2^40 draws
/// in 8 KB; at the readers' measured cost (up to 3 µs a token) this keeps a
/// page to seconds. A dense page of text is tens of thousands of tokens.
pub const MAX_PAGE_TOKENS: usize = 4_000_000;
/// The page size readers assume when a page has no usable `/MediaBox`:
/// US Letter, as poppler does.
const DEFAULT_MEDIA_BOX: [f32; 4] = [0.0, 0.0, 612.0, 792.0];

/// The pages of a document, in order.
pub struct PageList {
    pub pages: Vec<ObjectId>,
    /// The page tree gave no page and these were found by scanning objects.
    pub scanned: bool,
}

fn is_type(dict: &Dictionary, name: &[u8]) -> bool {
    dict.get(b"Type").and_then(Object::as_name).is_ok_and(|found| found == name)
}

/// The pages, by one walk of the page tree: each node is visited once, so
/// loops and shared subtrees end; a page listed twice is read once.
pub fn page_list(document: &Document) -> PageList {
    let mut pages = Vec::new();
    let mut seen = HashSet::new();
    let root = document.catalog().ok().and_then(|catalog| catalog.get(b"Pages").ok()?.as_reference().ok());
    let mut stack: Vec<ObjectId> = root.into_iter().collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Ok(node) = document.get_dictionary(id) else { continue };
        let kids = node.get_deref(b"Kids", document).and_then(Object::as_array).ok();
        match kids {
            Some(kids) if !is_type(node, b"Page") => {
                stack.extend(kids.iter().rev().filter_map(|kid| kid.as_reference().ok()));
            }
            _ if is_type(node, b"Page") || node.has(b"Contents") => pages.push(id),
            _ => {}
        }
    }
    if !pages.is_empty() {
        return PageList { pages, scanned: false };
    }
    let pages = document
        .objects
        .iter()
        .filter(|(_, object)| matches!(object, Object::Dictionary(dict) if is_type(dict, b"Page")))
        .map(|(id, _)| *id)
        .collect();
    PageList { pages, scanned: true }
}

/// Four finite numbers, as a rectangle.
fn rectangle(document: &Document, object: &Object) -> Option<[f32; 4]> {
    let (_, object) = document.dereference(object).ok()?;
    let items = object.as_array().ok()?;
    if items.len() != 4 {
        return None;
    }
    let mut rect = [0.0; 4];
    for (slot, item) in rect.iter_mut().zip(items) {
        *slot = item.as_float().ok().filter(|v| v.is_finite())?;
    }
    Some(rect)
}

fn rectangle_object(rect: [f32; 4]) -> Object {
    Object::Array(rect.iter().map(|v| Object::Real(*v)).collect())
}

/// Writes the page's inherited `/Resources` and `/MediaBox` (or defaults)
/// on the page itself, marks it `/Type /Page`, and drops a malformed
/// `/ArtBox`, so the readers find all of it without climbing `/Parent`.
pub fn settle_page(document: &mut Document, page: ObjectId) {
    let mut resources = None;
    let mut media_box = None;
    let mut seen = HashSet::new();
    let mut node = page;
    while seen.insert(node) {
        let Ok(dict) = document.get_dictionary(node) else { break };
        if resources.is_none() {
            if let Ok(found) = dict.get(b"Resources") {
                let usable = document.dereference(found).is_ok_and(|(_, object)| object.as_dict().is_ok());
                if usable {
                    resources = Some(found.clone());
                }
            }
        }
        if media_box.is_none() {
            media_box = dict.get(b"MediaBox").ok().and_then(|found| rectangle(document, found));
        }
        if resources.is_some() && media_box.is_some() {
            break;
        }
        match dict.get(b"Parent").and_then(Object::as_reference) {
            Ok(parent) => node = parent,
            Err(_) => break,
        }
    }
    let art_box = document
        .get_dictionary(page)
        .ok()
        .and_then(|dict| dict.get(b"ArtBox").ok())
        .map(|found| rectangle(document, found).map(rectangle_object));
    let Ok(dict) = document.get_dictionary_mut(page) else { return };
    dict.set("Type", Object::Name(b"Page".to_vec()));
    dict.set("Resources", resources.unwrap_or_else(|| Object::Dictionary(Dictionary::new())));
    dict.set("MediaBox", rectangle_object(media_box.unwrap_or(DEFAULT_MEDIA_BOX)));
    match art_box {
        Some(Some(rect)) => dict.set("ArtBox", rect),
        Some(None) => {
            dict.remove(b"ArtBox");
        }
        None => {}
    }
}

/// What a page draws, its forms included, as far as text is concerned.
#[derive(Debug, Default, Clone, Copy)]
pub struct Drawn {
    pub text_operators: usize,
    pub images: usize,
}

/// What the guards changed, for the report's warnings, and what each page
/// draws.
#[derive(Debug, Default)]
pub struct Guarded {
    pub pages: Vec<Drawn>,
    /// Form XObjects that would have drawn themselves, directly or not.
    pub cycles: usize,
    /// Forms not drawn for nesting past [`MAX_FORM_DEPTH`].
    pub too_deep: usize,
    /// Pages whose forms stopped being drawn at [`MAX_PAGE_TOKENS`].
    pub over_budget: usize,
    /// Content streams cut at [`MAX_CONTENT_TOKENS`] or [`MAX_OPERAND_DEPTH`].
    pub cut_streams: usize,
    /// Content streams whose graphics states nest past [`MAX_SAVE_DEPTH`].
    pub flattened_streams: usize,
    /// Pages whose content names `/ActualText`, for
    /// [`super::pdf_actualtext::apply`]: found here, where every page's
    /// content is decompressed anyway, so other pages are not read twice.
    pub actual_text_pages: Vec<ObjectId>,
}

impl Guarded {
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.cycles > 0 {
            warnings.push(format!(
                "{} Form XObjects draw themselves (directly or through others); the loops were cut",
                self.cycles
            ));
        }
        if self.too_deep > 0 {
            warnings.push(format!(
                "{} Form XObjects nested deeper than {MAX_FORM_DEPTH} levels were not drawn",
                self.too_deep
            ));
        }
        if self.over_budget > 0 {
            warnings.push(format!(
                "truncated: {} pages draw more than {MAX_PAGE_TOKENS} tokens through their Form XObjects; the rest of their forms were not drawn",
                self.over_budget
            ));
        }
        if self.cut_streams > 0 {
            warnings.push(format!(
                "truncated: {} content streams were cut at {MAX_CONTENT_TOKENS} tokens or operands nested deeper than {MAX_OPERAND_DEPTH}",
                self.cut_streams
            ));
        }
        if self.flattened_streams > 0 {
            warnings.push(format!(
                "{} content streams nest graphics states deeper than {MAX_SAVE_DEPTH}; the deeper levels were flattened",
                self.flattened_streams
            ));
        }
        warnings
    }
}

/// A content stream's bytes as the reader takes them: decoded when its
/// filters allow, else as stored.
fn stream_bytes(stream: &Stream) -> Vec<u8> {
    stream.decompressed_content().unwrap_or_else(|_| stream.content.clone())
}

/// The Form XObject `name` resolves to in the resources of `owner` (a page
/// or a form), and whose resources it draws with: its own when it has a
/// dictionary of them, else the caller's. `Err(true)` for an XObject that
/// is not a form (an image: no text), `Err(false)` for a name that resolves
/// to nothing, where pdf-extract would panic.
fn resolve_form(document: &Document, owner: ObjectId, name: &[u8]) -> Result<(ObjectId, ObjectId), bool> {
    let dict = match document.get_object(owner).map_err(|_| false)? {
        Object::Dictionary(dict) => dict,
        Object::Stream(stream) => &stream.dict,
        _ => return Err(false),
    };
    let resources = dict.get_deref(b"Resources", document).and_then(Object::as_dict).map_err(|_| false)?;
    let xobjects = resources.get_deref(b"XObject", document).and_then(Object::as_dict).map_err(|_| false)?;
    let id = xobjects.get(name).and_then(Object::as_reference).map_err(|_| false)?;
    let stream = document.get_object(id).and_then(Object::as_stream).map_err(|_| false)?;
    if !stream.dict.get(b"Subtype").and_then(Object::as_name).is_ok_and(|subtype| subtype == b"Form") {
        return Err(true);
    }
    match stream.dict.get(b"Resources") {
        Err(_) => Ok((id, owner)),
        Ok(own) => match document.dereference(own) {
            Ok((_, Object::Dictionary(_))) => Ok((id, id)),
            Ok(_) => Ok((id, owner)),
            // pdf-extract panics on a reference to a missing object.
            Err(_) => Err(false),
        },
    }
}

/// One content stream being followed: the page's (`form: None`) or a form's.
struct Frame {
    form: Option<ObjectId>,
    /// The page or form whose resources names resolve in.
    owner: ObjectId,
    next: usize,
}

/// Guards the content of `pages`: see the module documentation.
pub fn guard_content(document: &mut Document, pages: &[ObjectId]) -> Guarded {
    let mut guarded = Guarded::default();
    let mut forms: HashMap<ObjectId, Scan> = HashMap::new();
    let mut form_drops: HashMap<ObjectId, BTreeSet<usize>> = HashMap::new();
    for page in pages {
        let content = document.get_page_content(*page).unwrap_or_default();
        if memchr::memmem::find(&content, b"ActualText").is_some() {
            guarded.actual_text_pages.push(*page);
        }
        let page_scan = pdf_content::scan(&content);
        let mut page_drops = BTreeSet::new();
        let mut tokens = page_scan.tokens;
        let mut over_budget = false;
        let mut drawn = Drawn { text_operators: page_scan.text_operators, images: page_scan.inline_images };
        let mut stack = vec![Frame { form: None, owner: *page, next: 0 }];
        while let Some(frame) = stack.last_mut() {
            let invocations = match frame.form {
                None => &page_scan.invocations,
                Some(form) => &forms[&form].invocations,
            };
            let index = frame.next;
            let Some((_, name)) = invocations.get(index) else {
                stack.pop();
                continue;
            };
            frame.next += 1;
            let (form, owner) = (frame.form, frame.owner);
            let drops = match form {
                None => &mut page_drops,
                Some(form) => form_drops.entry(form).or_default(),
            };
            if drops.contains(&index) {
                continue;
            }
            let resolved = match name {
                Some(name) => resolve_form(document, owner, name),
                None => Err(false),
            };
            let (child, child_owner) = match resolved {
                Ok(found) => found,
                Err(image) => {
                    drawn.images += usize::from(image);
                    drops.insert(index);
                    continue;
                }
            };
            if stack.iter().any(|frame| frame.form == Some(child)) {
                guarded.cycles += 1;
                drops.insert(index);
                continue;
            }
            if stack.len() > MAX_FORM_DEPTH {
                guarded.too_deep += 1;
                drops.insert(index);
                continue;
            }
            let scanned = forms.entry(child).or_insert_with(|| {
                let bytes =
                    document.get_object(child).and_then(Object::as_stream).map(stream_bytes).unwrap_or_default();
                pdf_content::scan(&bytes)
            });
            tokens += scanned.tokens + 1;
            drawn.text_operators += scanned.text_operators;
            drawn.images += scanned.inline_images;
            if tokens > MAX_PAGE_TOKENS {
                over_budget = true;
                drops.insert(index);
                continue;
            }
            stack.push(Frame { form: Some(child), owner: child_owner, next: 0 });
        }
        guarded.over_budget += usize::from(over_budget);
        guarded.pages.push(drawn);
        if !page_drops.is_empty() || needs_rewrite(&page_scan) {
            count_repairs(&page_scan, &mut guarded);
            let drops = ranges(&page_scan, &page_drops);
            let fixed = pdf_content::rewrite(&content, &drops, &page_scan.next_line_shows, page_scan.cut);
            let stream = document.add_object(Stream::new(Dictionary::new(), fixed));
            if let Ok(dict) = document.get_dictionary_mut(*page) {
                dict.set("Contents", Object::Reference(stream));
            }
        }
    }
    let empty = BTreeSet::new();
    for (form, scan) in &forms {
        let drops = form_drops.get(form).unwrap_or(&empty);
        if drops.is_empty() && !needs_rewrite(scan) {
            continue;
        }
        count_repairs(scan, &mut guarded);
        let Ok(Object::Stream(stream)) = document.get_object_mut(*form) else { continue };
        let fixed = pdf_content::rewrite(&stream_bytes(stream), &ranges(scan, drops), &scan.next_line_shows, scan.cut);
        stream.set_plain_content(fixed);
    }
    guarded
}

/// Whether a scanned stream must be rewritten even with no invocation dropped.
fn needs_rewrite(scan: &Scan) -> bool {
    !scan.excess_saves.is_empty()
        || scan.cut.is_some()
        || !scan.comments.is_empty()
        || scan.drops_drawing()
        || !scan.next_line_shows.is_empty()
}

fn count_repairs(scan: &Scan, guarded: &mut Guarded) {
    guarded.cut_streams += usize::from(scan.cut.is_some());
    guarded.flattened_streams += usize::from(!scan.excess_saves.is_empty());
}

/// The byte ranges to drop from a scanned stream: the dropped invocations,
/// the excess graphics-state levels, the comments and, when there is enough
/// of it, the drawing, in order (a comment inside a drawing range goes with it).
fn ranges(scan: &Scan, drops: &BTreeSet<usize>) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = drops.iter().map(|index| scan.invocations[*index].0.clone()).collect();
    ranges.extend(scan.excess_saves.iter().cloned());
    ranges.extend(scan.comments.iter().cloned());
    if scan.drops_drawing() {
        ranges.extend(scan.drawing.iter().cloned());
    }
    ranges.sort_by_key(|range| range.start);
    ranges
}
