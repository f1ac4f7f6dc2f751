//! Tesseract 5, loaded at run time: `libtesseract.so.5` is opened with
//! `libloading` and driven through its C API, so docmill builds and runs on a
//! machine without Tesseract (OCR is then reported unavailable). Pages arrive
//! as raw 8-bit grey pixels; no file is read but the models.
//!
//! [`init`] runs before any worker is confined (in the supervisor, so every
//! worker it forks shares the models copy-on-write): it opens the library,
//! the models (traineddata) of the default language set, of each installed
//! language on its own (up to [`MAX_PRELOADED_LANGUAGES`]), and Tesseract's
//! debug file. Nothing is opened later: a confined worker may not open
//! files, so a language set that was not loaded then is an
//! [`OcrError::NotLoaded`] warning, never a load; and no Tesseract call that
//! opens files lazily is made (orientation detection, see
//! [`Recognizer::orientation`] below).
//!
//! With `sandbox.rs`, the crate's `unsafe`: every call into the library
//! crosses the FFI boundary with raw pointers.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_float, c_int, c_void, CStr, CString};

use docmill_engine::ocr::{GrayImage, OcrError, Orientation, Recognizer, Starts, Word};
use docmill_engine::OcrLanguages;
use libloading::Library;

use crate::protocol::OcrStatus;

/// The library opened unless `DOCMILL_TESSERACT_LIBRARY` names another
/// (a path, or a soname): Tesseract 5's stable C API.
pub const DEFAULT_LIBRARY: &str = "libtesseract.so.5";
/// Environment variable naming the library to open instead.
pub const LIBRARY_ENV: &str = "DOCMILL_TESSERACT_LIBRARY";
/// Installed languages loaded on their own beside the default set: each
/// holds its models (10 to 30 MiB for Debian's), shared by every worker but
/// resident in the supervisor; a machine with all of Tesseract's hundred-odd
/// languages installed must not load them all.
pub const MAX_PRELOADED_LANGUAGES: usize = 8;
/// Tesseract's debug output goes here rather than into the service's log.
const DEBUG_FILE: &CStr = c"/dev/null";
/// A configuration file that does not exist: asking Tesseract to read it
/// makes it print (to [`DEBUG_FILE`]) and so open that file now, while it
/// may, instead of on the first message in a confined worker.
const MISSING_CONFIG: &CStr = c"/nonexistent/docmill-opens-the-debug-file-now";
/// Tesseract refuses images with a side longer than this.
const MAX_SIDE: u32 = 32_767;

// Tesseract's C enums, from `tesseract/capi.h` and `publictypes.h`.
const RIL_BLOCK: c_int = 0;
const RIL_PARA: c_int = 1;
const RIL_TEXTLINE: c_int = 2;
const RIL_WORD: c_int = 3;
const PSM_AUTO: c_int = 3;

type Handle = *mut c_void;

/// The C functions used, resolved once from the library.
struct Api {
    version: unsafe extern "C" fn() -> *const c_char,
    create: unsafe extern "C" fn() -> Handle,
    delete: unsafe extern "C" fn(Handle),
    init3: unsafe extern "C" fn(Handle, *const c_char, *const c_char) -> c_int,
    set_page_seg_mode: unsafe extern "C" fn(Handle, c_int),
    set_variable: unsafe extern "C" fn(Handle, *const c_char, *const c_char) -> c_int,
    read_config_file: unsafe extern "C" fn(Handle, *const c_char),
    set_image: unsafe extern "C" fn(Handle, *const u8, c_int, c_int, c_int, c_int),
    set_source_resolution: unsafe extern "C" fn(Handle, c_int),
    recognize: unsafe extern "C" fn(Handle, *mut c_void) -> c_int,
    clear: unsafe extern "C" fn(Handle),
    get_iterator: unsafe extern "C" fn(Handle) -> *mut c_void,
    iterator_delete: unsafe extern "C" fn(*mut c_void),
    iterator_next: unsafe extern "C" fn(*mut c_void, c_int) -> c_int,
    iterator_text: unsafe extern "C" fn(*const c_void, c_int) -> *mut c_char,
    iterator_confidence: unsafe extern "C" fn(*const c_void, c_int) -> c_float,
    iterator_page_iterator: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    page_iterator_is_at_beginning_of: unsafe extern "C" fn(*const c_void, c_int) -> c_int,
    delete_text: unsafe extern "C" fn(*const c_char),
    delete_text_array: unsafe extern "C" fn(*mut *mut c_char),
    available_languages: unsafe extern "C" fn(Handle) -> *mut *mut c_char,
}

impl Api {
    fn load(library: &Library) -> Result<Api, libloading::Error> {
        // SAFETY: each symbol is looked up by its C name and given the
        // signature `tesseract/capi.h` declares for it in Tesseract 5.
        unsafe {
            Ok(Api {
                version: *library.get(b"TessVersion\0")?,
                create: *library.get(b"TessBaseAPICreate\0")?,
                delete: *library.get(b"TessBaseAPIDelete\0")?,
                init3: *library.get(b"TessBaseAPIInit3\0")?,
                set_page_seg_mode: *library.get(b"TessBaseAPISetPageSegMode\0")?,
                set_variable: *library.get(b"TessBaseAPISetVariable\0")?,
                read_config_file: *library.get(b"TessBaseAPIReadConfigFile\0")?,
                set_image: *library.get(b"TessBaseAPISetImage\0")?,
                set_source_resolution: *library.get(b"TessBaseAPISetSourceResolution\0")?,
                recognize: *library.get(b"TessBaseAPIRecognize\0")?,
                clear: *library.get(b"TessBaseAPIClear\0")?,
                get_iterator: *library.get(b"TessBaseAPIGetIterator\0")?,
                iterator_delete: *library.get(b"TessResultIteratorDelete\0")?,
                iterator_next: *library.get(b"TessResultIteratorNext\0")?,
                iterator_text: *library.get(b"TessResultIteratorGetUTF8Text\0")?,
                iterator_confidence: *library.get(b"TessResultIteratorConfidence\0")?,
                iterator_page_iterator: *library.get(b"TessResultIteratorGetPageIterator\0")?,
                page_iterator_is_at_beginning_of: *library.get(b"TessPageIteratorIsAtBeginningOf\0")?,
                delete_text: *library.get(b"TessDeleteText\0")?,
                delete_text_array: *library.get(b"TessDeleteTextArray\0")?,
                available_languages: *library.get(b"TessBaseAPIGetAvailableLanguagesAsVector\0")?,
            })
        }
    }
}

/// One `TessBaseAPI` with its models loaded.
struct Engine {
    handle: Handle,
    languages: String,
}

/// Tesseract, ready to read pages. Not `Send`: it lives and dies in the
/// process's one thread (the supervisor's, then each forked worker's).
pub struct Tesseract {
    api: Api,
    version: String,
    /// Installed languages (traineddata files), `osd` aside.
    installed: Vec<String>,
    /// Loaded language sets: the default first (when installed), then single
    /// languages. Never changes after [`init`].
    engines: Vec<Engine>,
    /// Kept last: the functions above point into it.
    _library: Library,
}

/// Opens `libtesseract.so.5` (or `DOCMILL_TESSERACT_LIBRARY`) and loads the
/// models of `default_languages`, of the installed languages one by one (up
/// to [`MAX_PRELOADED_LANGUAGES`]). Call before
/// the process gives up opening files. The error says why OCR is
/// unavailable.
pub fn init(default_languages: &OcrLanguages) -> Result<Tesseract, String> {
    let name = std::env::var(LIBRARY_ENV).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT_LIBRARY.into());
    init_from(&name, default_languages, MAX_PRELOADED_LANGUAGES)
}

/// [`init`] with the library named (a soname or a path) and at most
/// `single_languages` installed languages loaded on their own.
pub fn init_from(name: &str, default_languages: &OcrLanguages, single_languages: usize) -> Result<Tesseract, String> {
    // Tesseract parallelises with OpenMP; a worker is one process per core
    // already, and more threads only contend. libgomp reads this when the
    // library loads. Set once: the environment is process-wide.
    static THREAD_LIMIT: std::sync::Once = std::sync::Once::new();
    THREAD_LIMIT.call_once(|| std::env::set_var("OMP_THREAD_LIMIT", "1"));
    // SAFETY: loading runs the library's initialisers; libtesseract's only
    // set up its own static tables. The process is single-threaded here.
    let library = unsafe { Library::new(name) }.map_err(|err| format!("{name}: {err}"))?;
    let api = Api::load(&library).map_err(|err| format!("{name} is not Tesseract 5's C API: {err}"))?;
    // SAFETY: TessVersion returns a pointer to a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr((api.version)()) }.to_string_lossy().into_owned();
    if !version.starts_with('5') {
        return Err(format!("{name} is Tesseract {version}; docmill needs Tesseract 5"));
    }
    let mut tesseract = Tesseract { api, version, installed: Vec::new(), engines: Vec::new(), _library: library };
    // The orientation model comes with Debian's tesseract-ocr and is the
    // smallest: loaded only to list which languages are installed without
    // loading any of them, then let go.
    if let Ok(osd) = tesseract.load("osd") {
        tesseract.installed = tesseract.list_languages(osd.handle);
        // SAFETY: the handle is ours and not used again.
        unsafe { (tesseract.api.delete)(osd.handle) };
    }
    let listed = !tesseract.installed.is_empty();
    let default_installed = default_languages.names().all(|name| tesseract.installed.iter().any(|i| i == name));
    if !listed || default_installed {
        match tesseract.load(default_languages.as_str()) {
            Ok(engine) => {
                if !listed {
                    tesseract.installed = tesseract.list_languages(engine.handle);
                }
                tesseract.engines.push(engine);
            }
            Err(err) if !listed => return Err(err),
            Err(_) => {}
        }
    }
    // Single languages, those of the default set first: any of them may be
    // asked for with `ocr_lang=`, and a set of them is read with each.
    let mut singles: Vec<String> = default_languages.names().map(str::to_owned).collect();
    singles.extend(tesseract.installed.iter().cloned());
    let mut loaded_singles = 0;
    for language in singles {
        if loaded_singles >= single_languages {
            break;
        }
        if !tesseract.installed.contains(&language) || tesseract.engines.iter().any(|e| e.languages == language) {
            continue;
        }
        if let Ok(engine) = tesseract.load(&language) {
            tesseract.engines.push(engine);
            loaded_singles += 1;
        }
    }
    tesseract.open_debug_file();
    Ok(tesseract)
}

/// What `/v1/pool` shows of the OCR a worker has.
pub fn status(tesseract: Result<&Tesseract, &str>) -> OcrStatus {
    match tesseract {
        Ok(tesseract) => OcrStatus {
            engine: Some(tesseract.engine()),
            languages: tesseract.languages(),
            loaded: tesseract.loaded(),
            unavailable: None,
        },
        Err(why) => OcrStatus { unavailable: Some(why.to_owned()), ..OcrStatus::default() },
    }
}

impl Tesseract {
    /// A new `TessBaseAPI` with `languages` loaded.
    fn load(&self, languages: &str) -> Result<Engine, String> {
        let wanted = CString::new(languages).map_err(|_| "a language name holds NUL".to_owned())?;
        // SAFETY: create returns a fresh handle we own; init3 reads the
        // NUL-terminated language string for the duration of the call, and a
        // null datapath means the library's default (or TESSDATA_PREFIX).
        let handle = unsafe { (self.api.create)() };
        if handle.is_null() {
            return Err("Tesseract could not create an engine".into());
        }
        // SAFETY: `handle` is live; the strings are NUL-terminated.
        let failed = unsafe { (self.api.init3)(handle, std::ptr::null(), wanted.as_ptr()) } != 0;
        if failed {
            // SAFETY: the handle is ours and not used again.
            unsafe { (self.api.delete)(handle) };
            return Err(format!("Tesseract could not load the models for {languages}"));
        }
        // SAFETY: `handle` is live; variable names and values are static C strings.
        unsafe {
            // Tesseract's own debug output would land in the service's log.
            (self.api.set_variable)(handle, c"debug_file".as_ptr(), DEBUG_FILE.as_ptr());
            (self.api.set_page_seg_mode)(handle, PSM_AUTO);
        }
        Ok(Engine { handle, languages: languages.to_owned() })
    }

    /// Tesseract opens its debug file on its first message and keeps it
    /// open; make that first message happen now, before confinement, where
    /// an `open` is still allowed.
    fn open_debug_file(&self) {
        let Some(engine) = self.engines.first() else { return };
        // SAFETY: the handle is live; the name is a static C string. Reading
        // a missing file only prints that it cannot.
        unsafe { (self.api.read_config_file)(engine.handle, MISSING_CONFIG.as_ptr()) };
    }

    fn list_languages(&self, handle: Handle) -> Vec<String> {
        let mut languages = Vec::new();
        // SAFETY: `handle` is initialised; the call returns a NULL-terminated
        // array of NUL-terminated strings that we free with TessDeleteTextArray.
        unsafe {
            let array = (self.api.available_languages)(handle);
            if array.is_null() {
                return languages;
            }
            let mut i = 0;
            while !(*array.add(i)).is_null() {
                languages.push(CStr::from_ptr(*array.add(i)).to_string_lossy().into_owned());
                i += 1;
            }
            (self.api.delete_text_array)(array);
        }
        languages.retain(|name| name != "osd");
        languages.sort();
        languages.dedup();
        languages
    }

    /// The language sets loaded, as `ocr_lang=` would name them.
    pub fn loaded(&self) -> Vec<String> {
        self.engines.iter().map(|engine| engine.languages.clone()).collect()
    }

    /// Gives the page to a handle (copied by Tesseract).
    fn set_page(&self, handle: Handle, page: &GrayImage) -> Result<(), OcrError> {
        if page.width > MAX_SIDE || page.height > MAX_SIDE {
            return Err(OcrError::Failed(format!("a page side over {MAX_SIDE} pixels")));
        }
        if page.pixels.len() != page.width as usize * page.height as usize {
            return Err(OcrError::Failed("page pixels do not match its size".into()));
        }
        // SAFETY: the buffer holds width × height bytes (checked above), one
        // byte a pixel and `width` bytes a row; Tesseract copies it.
        unsafe {
            (self.api.set_image)(
                handle,
                page.pixels.as_ptr(),
                page.width as c_int,
                page.height as c_int,
                1,
                page.width as c_int,
            );
            (self.api.set_source_resolution)(handle, page.ppi as c_int);
        }
        Ok(())
    }

    /// The engines that read `languages`: the set itself when it was loaded,
    /// else one engine per language of the set (each loaded on its own).
    fn engines_for(&self, languages: &OcrLanguages) -> Result<Vec<Handle>, OcrError> {
        if let Some(engine) = self.engines.iter().find(|e| e.languages == languages.as_str()) {
            return Ok(vec![engine.handle]);
        }
        if let Some(missing) = languages.names().find(|name| !self.installed.iter().any(|i| i == name)) {
            return Err(OcrError::LanguageMissing(missing.to_owned()));
        }
        languages
            .names()
            .map(|name| {
                self.engines.iter().find(|e| e.languages == name).map(|e| e.handle).ok_or_else(|| OcrError::NotLoaded {
                    languages: languages.as_str().to_owned(),
                    loaded: self.loaded(),
                })
            })
            .collect()
    }

    /// The words of the page last given to `handle` with [`Self::set_page`].
    fn read_set_page(&self, handle: Handle) -> Result<Vec<Word>, OcrError> {
        let mut words = Vec::new();
        // SAFETY: `handle` is live with an image set. The iterator is owned
        // by us until TessResultIteratorDelete; its page iterator is a view
        // of it, not freed separately. Each word's text is a new string
        // freed with TessDeleteText. Clear releases the image and results.
        unsafe {
            if (self.api.recognize)(handle, std::ptr::null_mut()) != 0 {
                (self.api.clear)(handle);
                return Err(OcrError::Failed("Tesseract could not recognise the page".into()));
            }
            let iterator = (self.api.get_iterator)(handle);
            if !iterator.is_null() {
                let page_iterator = (self.api.iterator_page_iterator)(iterator);
                loop {
                    let text = (self.api.iterator_text)(iterator, RIL_WORD);
                    if !text.is_null() {
                        let starts = if (self.api.page_iterator_is_at_beginning_of)(page_iterator, RIL_BLOCK) != 0
                            || (self.api.page_iterator_is_at_beginning_of)(page_iterator, RIL_PARA) != 0
                        {
                            Starts::Paragraph
                        } else if (self.api.page_iterator_is_at_beginning_of)(page_iterator, RIL_TEXTLINE) != 0 {
                            Starts::Line
                        } else {
                            Starts::Word
                        };
                        words.push(Word {
                            text: CStr::from_ptr(text).to_string_lossy().into_owned(),
                            confidence: (self.api.iterator_confidence)(iterator, RIL_WORD),
                            starts,
                        });
                        (self.api.delete_text)(text);
                    }
                    if (self.api.iterator_next)(iterator, RIL_WORD) == 0 {
                        break;
                    }
                }
                (self.api.iterator_delete)(iterator);
            }
            (self.api.clear)(handle);
        }
        Ok(words)
    }
}

/// Confidence-weighted characters of a reading: the one of several readings
/// of a page (one per language) to keep.
fn weight(words: &[Word]) -> f64 {
    words.iter().map(|word| word.confidence.max(0.0) as f64 * word.text.chars().count() as f64).sum()
}

impl Recognizer for Tesseract {
    fn engine(&self) -> String {
        format!("tesseract {}", self.version)
    }

    fn languages(&self) -> Vec<String> {
        self.installed.clone()
    }

    /// With the set loaded, one reading; otherwise one per language, keeping
    /// the reading with the most confident characters (a page is mostly in
    /// one language).
    ///
    /// Tesseract copies the page in (and holds two page-sized images of its
    /// own while it reads: its copy and its threshold map), so ours is
    /// dropped as soon as the last engine has it: reading a 300-dpi letter
    /// page then peaks 8.4 MB lower. The heap is trimmed first.
    fn recognize(&self, page: GrayImage, languages: &OcrLanguages) -> Result<Vec<Word>, OcrError> {
        let handles = self.engines_for(languages)?;
        // What earlier documents left in the heap for the idle trim goes
        // back before Tesseract's working memory peaks on top of it (a
        // worker busy with one document after another is never idle).
        crate::heap::trim();
        let mut page = Some(page);
        let mut best: Option<(f64, Vec<Word>)> = None;
        for (index, &handle) in handles.iter().enumerate() {
            let Some(pixels) = page.as_ref() else { break };
            self.set_page(handle, pixels)?;
            if index + 1 == handles.len() {
                page = None;
            }
            let words = self.read_set_page(handle)?;
            let score = weight(&words);
            if best.as_ref().is_none_or(|(best, _)| score > *best) {
                best = Some((score, words));
            }
        }
        Ok(best.map(|(_, words)| words).unwrap_or_default())
    }

    /// Not asked of Tesseract: its orientation detection looks for a zone
    /// file named after the input (`noname.uzn`) on every call, an `open` a
    /// confined worker may not make. The engine then tries the quarter turns
    /// itself, which costs about as much (detection takes as long as a
    /// reading).
    fn orientation(&self, _page: &GrayImage) -> Option<Orientation> {
        None
    }
}

impl Drop for Tesseract {
    fn drop(&mut self) {
        for engine in self.engines.drain(..) {
            // SAFETY: each handle is ours and used by nothing else; the
            // library is still loaded (it is dropped after this).
            unsafe { (self.api.delete)(engine.handle) };
        }
    }
}
