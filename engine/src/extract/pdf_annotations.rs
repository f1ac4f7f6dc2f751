//! Text shown by annotations (filled-in form fields, free text, stamps) lives
//! in their appearance streams, not in the page's content, and the text
//! readers never look there; poppler draws them with the page. Each visible
//! annotation's normal appearance is appended to the page's content as a
//! form drawn at the annotation's place, so the readers (and the guards,
//! which run after this) treat it like any other form.

use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

/// Annotations drawn per page. Pages of real forms have tens to hundreds of
/// fields; past this the rest are widgets generated to slow a reader.
const MAX_ANNOTATIONS: usize = 2000;
/// The annotation flag (PDF 32000-1, 12.5.3) that hides it on screen.
const HIDDEN: i64 = 1 << 1;

/// The annotation's normal appearance, a form stream, with the state its
/// `/AS` selects when it has several (check boxes, radio buttons).
fn appearance(document: &Document, annotation: &Dictionary) -> Option<ObjectId> {
    let normal = annotation.get_deref(b"AP", document).ok()?.as_dict().ok()?.get(b"N").ok()?;
    let id = match normal {
        Object::Reference(id) => *id,
        _ => return None,
    };
    match document.get_object(id).ok()? {
        Object::Stream(_) => Some(id),
        Object::Dictionary(states) => {
            let state = annotation.get(b"AS").and_then(Object::as_name).ok()?;
            states.get(state).and_then(Object::as_reference).ok()
        }
        _ => None,
    }
}

/// Appends the page's visible annotation appearances to its content (see the
/// module documentation). Pages without any are left as they are.
pub fn draw_annotations(document: &mut Document, page: ObjectId) {
    let Ok(page_dict) = document.get_dictionary(page) else { return };
    let Ok(annotations) = page_dict.get_deref(b"Annots", document).and_then(Object::as_array) else { return };
    let mut drawn = Vec::new();
    for annotation in annotations.iter().take(MAX_ANNOTATIONS) {
        let Ok((_, Object::Dictionary(annotation))) = document.dereference(annotation) else { continue };
        let subtype = annotation.get(b"Subtype").and_then(Object::as_name).unwrap_or_default();
        let flags = annotation.get(b"F").and_then(Object::as_i64).unwrap_or(0);
        if matches!(subtype, b"Link" | b"Popup") || flags & HIDDEN != 0 {
            continue;
        }
        let Some(form) = appearance(document, annotation) else { continue };
        let corner = |object: &Object| -> Option<(f32, f32)> {
            let (_, object) = document.dereference(object).ok()?;
            let items = object.as_array().ok()?;
            Some((items.first()?.as_float().ok()?, items.get(1)?.as_float().ok()?))
        };
        let Some((x, y)) = annotation.get(b"Rect").ok().and_then(corner) else { continue };
        let bbox = document.get_object(form).and_then(Object::as_stream).ok().and_then(|s| s.dict.get(b"BBox").ok());
        let (bx, by) = bbox.and_then(corner).unwrap_or((0.0, 0.0));
        let (dx, dy) = (x - bx, y - by);
        if dx.is_finite() && dy.is_finite() {
            drawn.push((form, dx, dy));
        }
    }
    if drawn.is_empty() {
        return;
    }
    // The page's resources (written on it by `settle_page`) with the
    // appearances added as XObjects, as a dictionary of the page's own.
    let mut resources =
        page_dict.get_deref(b"Resources", document).and_then(Object::as_dict).cloned().unwrap_or_default();
    let mut xobjects = resources.get_deref(b"XObject", document).and_then(Object::as_dict).cloned().unwrap_or_default();
    let mut content = document.get_page_content(page).unwrap_or_default();
    for (i, (form, dx, dy)) in drawn.iter().enumerate() {
        let name = format!("DocmillAnnotation{i}");
        xobjects.set(name.as_bytes(), Object::Reference(*form));
        content.extend_from_slice(format!("\nq 1 0 0 1 {dx} {dy} cm /{name} Do Q").as_bytes());
    }
    resources.set("XObject", Object::Dictionary(xobjects));
    let stream = document.add_object(Stream::new(Dictionary::new(), content));
    if let Ok(page_dict) = document.get_dictionary_mut(page) {
        page_dict.set("Resources", Object::Dictionary(resources));
        page_dict.set("Contents", Object::Reference(stream));
    }
    // Appearance streams are forms even when they do not say so.
    for (form, ..) in drawn {
        if let Ok(Object::Stream(stream)) = document.get_object_mut(form) {
            if !stream.dict.has(b"Subtype") {
                stream.dict.set("Subtype", Object::Name(b"Form".to_vec()));
            }
        }
    }
}
