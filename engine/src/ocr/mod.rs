//! OCR orchestration: which pages are read, upright, with what confidence,
//! and what the report says about it (`metadata.ocr`, warnings). The engine
//! never recognises text itself: the caller hands it a [`Recognizer`] (the
//! worker's Tesseract binding), or none, and then every page that wanted OCR
//! becomes a warning saying how to enable it.
//!
//! # Layout
//!
//! - [`raster`]: 8-bit grey pages, decoding image files into them within a
//!   pixel budget, rotation.
//! - `pdf_images`: the scanned image of a PDF page, decoded directly.

pub mod pdf_images;
pub mod raster;

use serde_json::{json, Value};

pub use raster::GrayImage;

use crate::options::{OcrLanguages, OcrMode};

/// What recognises text in a page image. Implementations hold native state
/// (models, handles), so the engine calls them through `&self` one page at a
/// time and never from two threads.
pub trait Recognizer {
    /// The engine and its version, as `metadata.ocr.engine` shows it
    /// (`tesseract 5.3.0`).
    fn engine(&self) -> String;
    /// Languages whose models are installed and loadable.
    fn languages(&self) -> Vec<String>;
    /// The words of an upright page, in reading order. The page is handed
    /// over: a recognizer that copies it in (Tesseract does) lets it go
    /// before it reads, so the pixels are not held twice while its own
    /// working memory peaks.
    fn recognize(&self, page: GrayImage, languages: &OcrLanguages) -> Result<Vec<Word>, OcrError>;
    /// How far the page is turned clockwise from upright (0, 90, 180 or 270
    /// degrees) with the engine's confidence, if it can tell.
    fn orientation(&self, page: &GrayImage) -> Option<Orientation>;
}

/// One recognised word.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    /// 0–100.
    pub confidence: f32,
    /// What separates it from the word before.
    pub starts: Starts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starts {
    /// Same line.
    Word,
    Line,
    Paragraph,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Orientation {
    /// Clockwise turn of the page away from upright: 0, 90, 180 or 270.
    pub degrees: u16,
    /// The engine's own scale; compared against [`MIN_ORIENTATION_CONFIDENCE`].
    pub confidence: f32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcrError {
    /// The language's model is not installed.
    LanguageMissing(String),
    /// Installed, but not loaded when the recogniser started, and it cannot
    /// load models now (a confined worker opens no files).
    NotLoaded {
        languages: String,
        /// The sets that are loaded.
        loaded: Vec<String>,
    },
    /// The recogniser failed on this page.
    Failed(String),
}

/// What the engine is given for OCR.
#[derive(Clone, Copy)]
pub struct OcrContext<'a> {
    /// `None` when no OCR engine could be loaded.
    pub recognizer: Option<&'a dyn Recognizer>,
    /// Why there is no recognizer, for the warning ("libtesseract.so.5: cannot
    /// open shared object file").
    pub unavailable: &'a str,
    /// Pages read by OCR per document (`--ocr-max-pages`).
    pub max_pages: usize,
}

/// Pages read by OCR per document when the caller does not say: a long scan
/// takes a second or more per page, so a few hundred pages is already minutes
/// of one worker.
pub const DEFAULT_MAX_PAGES: usize = 100;

impl OcrContext<'_> {
    /// No OCR engine: images and scans get the "unavailable" warning.
    pub fn none() -> OcrContext<'static> {
        OcrContext { recognizer: None, unavailable: "no OCR engine is loaded", max_pages: DEFAULT_MAX_PAGES }
    }
}

/// Words below this confidence are dropped: on photos, noise and drawings
/// Tesseract "reads" marks as short words at confidences under ~40, while
/// words of real print score above 60 even on poor scans.
pub const MIN_WORD_CONFIDENCE: f32 = 45.0;
/// A reading at or above this mean confidence is taken as upright without
/// trying other orientations.
const CONFIDENT: f32 = 80.0;
/// Tesseract's orientation detection scores its choice against the runner
/// up; below this it is guessing (blank or nearly blank pages).
pub const MIN_ORIENTATION_CONFIDENCE: f32 = 2.0;

/// One page as read, upright.
#[derive(Debug, Default)]
struct Reading {
    text: String,
    /// Mean word confidence weighted by characters, over the words kept.
    confidence: f32,
    characters: usize,
    rotated: u16,
}

impl Reading {
    fn is_confident(&self) -> bool {
        self.confidence >= CONFIDENT && self.characters > 0
    }

    /// Favours the reading with both confident and many characters: a page
    /// read sideways yields few characters at middling confidence.
    fn score(&self) -> f32 {
        self.confidence * (self.characters as f32).sqrt()
    }
}

/// OCR of one document: counts pages, keeps confidences, collects warnings,
/// and writes `metadata.ocr` at the end.
pub struct Session<'a> {
    context: OcrContext<'a>,
    pub mode: OcrMode,
    languages: OcrLanguages,
    /// Pages read (or attempted) so far.
    pages: usize,
    /// Pages that wanted OCR past `max_pages`.
    skipped: usize,
    weighted_confidence: f64,
    characters: usize,
    rotated_pages: Vec<usize>,
    warnings: Vec<String>,
    /// Set once OCR turned out to be impossible for this document (no engine,
    /// language missing), so the warning is given once.
    impossible: bool,
}

impl<'a> Session<'a> {
    pub fn new(context: OcrContext<'a>, mode: OcrMode, languages: OcrLanguages) -> Session<'a> {
        Session {
            context,
            mode,
            languages,
            pages: 0,
            skipped: 0,
            weighted_confidence: 0.0,
            characters: 0,
            rotated_pages: Vec::new(),
            warnings: Vec::new(),
            impossible: false,
        }
    }

    /// The recogniser when OCR can run for this document; otherwise records
    /// why not (once) and returns `None`.
    fn recognizer(&mut self) -> Option<&'a dyn Recognizer> {
        if self.impossible {
            return None;
        }
        if self.mode == OcrMode::Off {
            self.impossible = true;
            self.warnings.push("OCR is off (ocr=off): text in images was not read".into());
            return None;
        }
        let Some(recognizer) = self.context.recognizer else {
            self.impossible = true;
            let packages: Vec<String> = self.languages.names().map(|name| format!("tesseract-ocr-{name}")).collect();
            self.warnings.push(format!(
                "OCR unavailable ({}): text in images was not read; install Tesseract 5 \
                 (Debian/Ubuntu: apt-get install tesseract-ocr {}) and restart the service",
                self.context.unavailable,
                packages.join(" ")
            ));
            return None;
        };
        let installed = recognizer.languages();
        let missing: Vec<&str> = self.languages.names().filter(|name| !installed.iter().any(|i| i == name)).collect();
        if !missing.is_empty() {
            self.impossible = true;
            self.warnings.push(language_missing_warning(&missing, &installed));
            return None;
        }
        Some(recognizer)
    }

    /// Whether a page would be read, past the page limit or not: counts it
    /// and says whether to go ahead. Call only for pages that want OCR.
    fn take_page(&mut self) -> bool {
        if self.pages >= self.context.max_pages {
            self.skipped += 1;
            return false;
        }
        self.pages += 1;
        true
    }

    /// Reads one page (page number `number`, from 1): its text, empty when
    /// OCR ran and found none; `None` when OCR did not run on it. `page` goes
    /// to the recognizer; `again` decodes the same page once more, for the
    /// rare page that must be tried turned (`None` if it cannot).
    pub fn read_page(
        &mut self,
        number: usize,
        page: GrayImage,
        again: &mut dyn FnMut() -> Option<GrayImage>,
    ) -> Option<String> {
        let recognizer = self.recognizer()?;
        if !self.take_page() {
            return None;
        }
        match read_upright(recognizer, page, again, &self.languages) {
            Ok(reading) => {
                if reading.rotated != 0 {
                    self.rotated_pages.push(number);
                }
                self.weighted_confidence += reading.confidence as f64 * reading.characters as f64;
                self.characters += reading.characters;
                Some(reading.text)
            }
            Err(OcrError::LanguageMissing(name)) => {
                // Nothing was read: the page does not count as read by OCR.
                self.pages -= 1;
                self.impossible = true;
                self.warnings.push(language_missing_warning(&[&name], &recognizer.languages()));
                None
            }
            Err(OcrError::NotLoaded { languages, loaded }) => {
                self.pages -= 1;
                self.impossible = true;
                self.warnings.push(format!(
                    "OCR unavailable for {languages}: installed but not loaded when the service started \
                     (loaded: {}); text in images was not read; start the service with --ocr-lang {languages} \
                     to read these languages",
                    loaded.join(", ")
                ));
                None
            }
            Err(OcrError::Failed(why)) => {
                self.warnings.push(format!("OCR failed on page {number}: {why}"));
                None
            }
        }
    }

    /// A page that wanted OCR but whose image could not be had.
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// Whether OCR may run at all (mode not off, an engine present, the
    /// languages installed); records the reason when not.
    pub fn possible(&mut self) -> bool {
        self.recognizer().is_some()
    }

    /// `metadata.ocr` (when OCR ran) and the warnings.
    pub fn finish(self, metadata: &mut serde_json::Map<String, Value>, warnings: &mut Vec<String>) {
        warnings.extend(self.warnings);
        if self.skipped > 0 {
            warnings.push(format!(
                "truncated: OCR read the first {} of {} pages that needed it (--ocr-max-pages)",
                self.pages,
                self.pages + self.skipped
            ));
        }
        if self.pages == 0 {
            return;
        }
        let Some(recognizer) = self.context.recognizer else { return };
        let mean = if self.characters == 0 { 0.0 } else { self.weighted_confidence / self.characters as f64 };
        let mut ocr = json!({
            "engine": recognizer.engine(),
            "languages": self.languages.names().collect::<Vec<_>>(),
            "pages": self.pages,
            "mean_confidence": (mean * 10.0).round() / 10.0,
        });
        if !self.rotated_pages.is_empty() {
            ocr["rotated_pages"] = json!(self.rotated_pages);
        }
        metadata.insert("ocr".into(), ocr);
    }
}

fn language_missing_warning(missing: &[&str], installed: &[String]) -> String {
    let packages: Vec<String> = missing.iter().map(|name| format!("tesseract-ocr-{name}")).collect();
    let installed = if installed.is_empty() { "none".to_owned() } else { installed.join(", ") };
    format!(
        "OCR unavailable for {}: no traineddata installed for it (installed: {installed}); \
         text in images was not read; install it (Debian/Ubuntu: apt-get install {}) and restart the service",
        missing.join("+"),
        packages.join(" ")
    )
}

/// Reads a page in whichever orientation reads best. Upright first, since
/// most scans are (and Tesseract reads many pages turned 90 degrees by
/// itself); when that reading is not confident but found marks that might be
/// letters, the recogniser's orientation guess next, then the other quarter
/// turns until one reading is confident. A page with no marks at all (a
/// photo, a blank page) is not turned.
///
/// The upright page goes to the recognizer, which frees it once it holds
/// its own copy; the turns start from the page decoded `again`, so the
/// common upright page is never held twice while it is read.
fn read_upright(
    recognizer: &dyn Recognizer,
    page: GrayImage,
    again: &mut dyn FnMut() -> Option<GrayImage>,
    languages: &OcrLanguages,
) -> Result<Reading, OcrError> {
    let words = recognizer.recognize(page, languages)?;
    let marks = words.iter().any(|word| word.text.chars().any(char::is_alphanumeric));
    let upright = reading_of(words);
    if upright.is_confident() || !marks {
        return Ok(upright);
    }
    let Some(page) = again() else { return Ok(upright) };
    let mut order: Vec<u16> = Vec::with_capacity(3);
    if let Some(found) = recognizer.orientation(&page) {
        if found.confidence >= MIN_ORIENTATION_CONFIDENCE && matches!(found.degrees, 90 | 180 | 270) {
            order.push(found.degrees);
        }
    }
    for degrees in [180, 90, 270] {
        if !order.contains(&degrees) {
            order.push(degrees);
        }
    }
    let mut best = upright;
    for degrees in order {
        let turned = page.rotated_counterclockwise(degrees);
        let mut reading = reading_of(recognizer.recognize(turned, languages)?);
        reading.rotated = degrees;
        let confident = reading.is_confident();
        if reading.score() > best.score() {
            best = reading;
        }
        if confident {
            break;
        }
    }
    Ok(best)
}

/// Text from words: confident words only, lines and paragraphs kept.
fn reading_of(words: Vec<Word>) -> Reading {
    let mut reading = Reading::default();
    let mut weighted = 0.0f64;
    let mut pending_break = Starts::Word;
    for word in words {
        let rank = |starts: Starts| match starts {
            Starts::Word => 0,
            Starts::Line => 1,
            Starts::Paragraph => 2,
        };
        if rank(word.starts) > rank(pending_break) {
            pending_break = word.starts;
        }
        let text = word.text.trim();
        if word.confidence < MIN_WORD_CONFIDENCE || text.is_empty() {
            continue;
        }
        if !reading.text.is_empty() {
            reading.text.push_str(match pending_break {
                Starts::Word => " ",
                Starts::Line => "\n",
                Starts::Paragraph => "\n\n",
            });
        }
        pending_break = Starts::Word;
        reading.text.push_str(text);
        let characters = text.chars().count();
        reading.characters += characters;
        weighted += word.confidence as f64 * characters as f64;
    }
    if reading.characters > 0 {
        reading.confidence = (weighted / reading.characters as f64) as f32;
    }
    reading
}
