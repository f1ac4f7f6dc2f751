//! A document's shape, next to its plain text: a small block model that
//! extractors fill where the format knows structure (headings with levels,
//! list items, tables, code, footnotes, with links and emphasis inline), the
//! Markdown rendered from it, the chunks cut from the text along it, and the
//! page boundaries of paged formats.
//!
//! # Layout
//!
//! - this file: the model ([`Block`], [`Inline`]) and the [`Builder`] that
//!   extractors walking a tree feed.
//! - [`markdown`]: blocks to CommonMark with GFM pipe tables.
//! - [`chunk`]: the pure chunker over text, heading spans and page spans.
//! - [`locate`]: where the blocks' headings sit in the plain text; byte to
//!   code-point offsets.
//! - [`pages`]: the `pages=2-3,7` selection.

pub mod chunk;
pub mod locate;
pub mod markdown;
pub mod pages;

/// How a run of text is marked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub bold: bool,
    pub italic: bool,
    /// Inline code.
    pub code: bool,
    /// The target of the link the text is in.
    pub link: Option<String>,
}

/// Inline content of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline {
    Text(String, Style),
    /// A reference to the footnote of this label (`[^label]`).
    FootnoteRef(String),
    /// A hard line break within the block.
    Break,
}

/// One cell of a table: its inline content.
pub type Cell = Vec<Inline>;

/// A block of a document, in reading order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// A section title; `level` 1 (top) to 6.
    Heading {
        level: u8,
        content: Vec<Inline>,
    },
    Paragraph(Vec<Inline>),
    /// A list item; `depth` 0 for a top-level list, 1 for a list nested in
    /// one of its items, and so on.
    Item {
        ordered: bool,
        depth: u8,
        content: Vec<Inline>,
    },
    /// Rows of cells; the first row is the header.
    Table(Vec<Vec<Cell>>),
    /// Preformatted text, verbatim.
    Code(String),
    /// A footnote's text, rendered at the end of the document.
    Footnote {
        label: String,
        content: Vec<Inline>,
    },
}

/// Deepest list nesting kept; deeper items are shown at this depth. Real
/// documents nest a handful of levels; Markdown indents each level, so a
/// hostile depth would multiply the output.
pub const MAX_LIST_DEPTH: u8 = 8;

/// Most rows one table keeps in the block model (XLSX and CSV sheets are the
/// large ones); past it the table is cut with a warning. A million-row sheet
/// as a pipe table is no longer a document a reader or a retriever can use.
pub const MAX_TABLE_ROWS: usize = 10_000;

/// Most columns one table keeps; the rest of a row is left out.
pub const MAX_TABLE_COLUMNS: usize = 256;

/// What a block's open run of inline content becomes when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Paragraph,
    Heading(u8),
    Item { ordered: bool, depth: u8 },
}

/// Collects blocks from a walk over a document tree: text arrives in runs
/// with their style, block starts and ends arrive as calls. Whitespace is
/// collapsed as HTML collapses it; [`Builder::code`] keeps it.
pub struct Builder {
    pub blocks: Vec<Block>,
    current: Vec<Inline>,
    kind: Kind,
    /// The table being built and the row and cell open in it. Tables inside
    /// a table's cell are flattened into that cell's text.
    table: Option<Vec<Vec<Cell>>>,
    row: Option<Vec<Cell>>,
    cell: Option<Cell>,
    table_depth: usize,
    /// Set when a table was cut at [`MAX_TABLE_ROWS`].
    pub tables_cut: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            blocks: Vec::new(),
            current: Vec::new(),
            kind: Kind::Paragraph,
            table: None,
            row: None,
            cell: None,
            table_depth: 0,
            tables_cut: false,
        }
    }
}

impl Builder {
    /// The inline run text goes to: the open cell, else the open block.
    fn target(&mut self) -> &mut Vec<Inline> {
        match self.cell.as_mut() {
            Some(cell) => cell,
            None => &mut self.current,
        }
    }

    /// Appends text, collapsing whitespace runs to one space.
    pub fn text(&mut self, text: &str, style: &Style) {
        let target = self.target();
        let ends_space = match target.last() {
            None | Some(Inline::Break) => true,
            Some(Inline::Text(last, _)) => last.ends_with(' '),
            Some(Inline::FootnoteRef(_)) => false,
        };
        let mut collapsed = String::with_capacity(text.len());
        let mut space = ends_space;
        // Whether the whitespace run since the last letter holds a line end.
        let mut line_end = false;
        for c in text.chars() {
            if c.is_whitespace() {
                line_end |= c == '\n';
                if !space {
                    collapsed.push(' ');
                    space = true;
                }
            } else {
                // Chinese and Japanese are written without spaces: a line
                // broken between two of their characters joins without one
                // (as browsers join such lines, CSS Text 3 4.1.3).
                if line_end && collapsed.ends_with(' ') {
                    let before = collapsed[..collapsed.len() - 1].chars().next_back();
                    if before.is_some_and(is_wide_unspaced) && is_wide_unspaced(c) {
                        collapsed.pop();
                    }
                }
                line_end = false;
                collapsed.push(c);
                space = false;
            }
        }
        if collapsed.is_empty() {
            return;
        }
        match target.last_mut() {
            Some(Inline::Text(last, last_style)) if last_style == style => last.push_str(&collapsed),
            _ => target.push(Inline::Text(collapsed, style.clone())),
        }
    }

    pub fn footnote_ref(&mut self, label: &str) {
        self.target().push(Inline::FootnoteRef(label.to_owned()));
    }

    /// A hard line break; in a table cell, a space.
    pub fn line_break(&mut self) {
        if self.cell.is_some() {
            self.text(" ", &Style::default());
        } else if !self.current.is_empty() {
            self.current.push(Inline::Break);
        }
    }

    /// Ends the open block (if it has any text) and starts one of `kind`.
    pub fn start(&mut self, kind: Kind) {
        if self.cell.is_some() {
            self.text(" ", &Style::default());
            return;
        }
        self.flush();
        self.kind = kind;
    }

    /// Sets what the open block becomes, for formats that say so only after
    /// its content started (a Word paragraph's properties).
    pub fn set_kind(&mut self, kind: Kind) {
        if self.cell.is_none() {
            self.kind = kind;
        }
    }

    /// An empty cell in the open row (the rest of a merged cell).
    pub fn empty_cell(&mut self) {
        if self.table_depth == 1 && self.cell.is_none() {
            if let Some(row) = self.row.as_mut() {
                if row.len() < MAX_TABLE_COLUMNS {
                    row.push(Vec::new());
                }
            }
        }
    }

    /// Ends the open block. One with nothing but whitespace leaves no block
    /// and keeps its kind, so `<li><p>text</p></li>` is one item.
    pub fn flush(&mut self) {
        if self.cell.is_some() {
            self.text(" ", &Style::default());
            return;
        }
        let mut content = std::mem::take(&mut self.current);
        trim_inlines(&mut content);
        if content.is_empty() {
            return;
        }
        self.blocks.push(match self.kind {
            Kind::Paragraph => Block::Paragraph(content),
            Kind::Heading(level) => Block::Heading { level: level.clamp(1, 6), content },
            Kind::Item { ordered, depth } => Block::Item { ordered, depth: depth.min(MAX_LIST_DEPTH), content },
        });
        self.kind = Kind::Paragraph;
    }

    /// Preformatted text as a block of its own.
    pub fn code(&mut self, text: &str) {
        if self.cell.is_some() {
            self.text(text, &Style { code: true, ..Style::default() });
            return;
        }
        self.flush();
        let text = text.trim_matches('\n');
        if !text.trim().is_empty() {
            self.blocks.push(Block::Code(text.to_owned()));
        }
    }

    pub fn footnote(&mut self, label: &str, content: Vec<Inline>) {
        let mut content = content;
        trim_inlines(&mut content);
        if !content.is_empty() {
            self.blocks.push(Block::Footnote { label: label.to_owned(), content });
        }
    }

    /// Takes the open inline run without making it a block (a caller that
    /// builds a footnote's content with the same calls).
    pub fn take_inlines(&mut self) -> Vec<Inline> {
        std::mem::take(&mut self.current)
    }

    pub fn start_table(&mut self) {
        self.table_depth += 1;
        if self.table_depth > 1 {
            self.text(" ", &Style::default());
            return;
        }
        self.flush();
        self.table = Some(Vec::new());
    }

    pub fn start_row(&mut self) {
        if self.table_depth == 1 {
            self.end_row();
            self.row = Some(Vec::new());
        }
    }

    pub fn start_cell(&mut self) {
        if self.table_depth != 1 {
            return;
        }
        self.end_cell();
        if self.row.is_none() {
            self.row = Some(Vec::new());
        }
        self.cell = Some(Vec::new());
    }

    pub fn end_cell(&mut self) {
        if self.table_depth != 1 {
            return;
        }
        if let Some(mut cell) = self.cell.take() {
            trim_inlines(&mut cell);
            if let Some(row) = self.row.as_mut() {
                if row.len() < MAX_TABLE_COLUMNS {
                    row.push(cell);
                }
            }
        }
    }

    pub fn end_row(&mut self) {
        if self.table_depth != 1 {
            return;
        }
        self.end_cell();
        if let (Some(row), Some(table)) = (self.row.take(), self.table.as_mut()) {
            if table.len() >= MAX_TABLE_ROWS {
                self.tables_cut = true;
            } else if !row.is_empty() {
                table.push(row);
            }
        }
    }

    pub fn end_table(&mut self) {
        if self.table_depth == 0 {
            return;
        }
        if self.table_depth == 1 {
            self.end_row();
            if let Some(table) = self.table.take() {
                if !table.is_empty() {
                    self.blocks.push(Block::Table(table));
                }
            }
        }
        self.table_depth -= 1;
    }

    /// Ends whatever is open and returns the blocks.
    pub fn finish(mut self) -> Vec<Block> {
        while self.table_depth > 0 {
            self.end_table();
        }
        self.flush();
        self.blocks
    }
}

/// Drops leading and trailing whitespace and breaks of an inline run.
pub fn trim_inlines(content: &mut Vec<Inline>) {
    while matches!(content.last(), Some(Inline::Break)) {
        content.pop();
    }
    while matches!(content.first(), Some(Inline::Break)) {
        content.remove(0);
    }
    if let Some(Inline::Text(first, _)) = content.first_mut() {
        let trimmed = first.trim_start().len();
        first.drain(..first.len() - trimmed);
    }
    if let Some(Inline::Text(last, _)) = content.last_mut() {
        let trimmed = last.trim_end().len();
        last.truncate(trimmed);
    }
    content.retain(|inline| !matches!(inline, Inline::Text(text, _) if text.is_empty()));
}

/// The plain text of inline content, whitespace as it is.
pub fn plain(content: &[Inline]) -> String {
    let mut out = String::new();
    for inline in content {
        match inline {
            Inline::Text(text, _) => out.push_str(text),
            Inline::FootnoteRef(_) => {}
            Inline::Break => out.push('\n'),
        }
    }
    out
}

/// Inline content of plain text.
pub fn plain_inlines(text: &str) -> Vec<Inline> {
    vec![Inline::Text(text.to_owned(), Style::default())]
}

/// Markdown kept per document, as for the text ([`crate::MAX_TEXT_BYTES`]):
/// markup on a document's text adds a fraction, not a multiple.
pub const MAX_MARKDOWN_BYTES: usize = crate::MAX_TEXT_BYTES;

/// What the structure adds to a report.
#[derive(Default)]
pub struct Outputs {
    pub markdown: Option<String>,
    pub chunks: Option<Vec<chunk::Chunk>>,
    pub pages: Option<Vec<crate::report::Page>>,
}

/// Renders the Markdown, cuts the chunks and converts page spans to code
/// points, as the options ask. `blocks` empty means the format gave no
/// structure: its text's paragraphs stand in. `pages` must lie within
/// `text` (the caller clips them after truncating the text).
pub fn outputs(
    text: &str,
    mut blocks: Vec<Block>,
    pages: Option<&[chunk::PageSpan]>,
    options: &crate::Options,
    warnings: &mut Vec<String>,
) -> Outputs {
    let mut outputs = Outputs::default();
    if options.wants_structure() && blocks.is_empty() {
        blocks = paragraphs(text);
    }
    if options.markdown {
        let (markdown, cut) = markdown::render(&blocks, MAX_MARKDOWN_BYTES);
        if cut {
            warnings.push(format!("truncated: Markdown cut at {} MiB", MAX_MARKDOWN_BYTES >> 20));
        }
        outputs.markdown = Some(markdown);
    }
    if let Some(chunk_options) = options.chunks {
        let headings = locate::headings(text, &blocks);
        outputs.chunks = Some(chunk::chunk(text, &headings, pages.unwrap_or_default(), chunk_options));
    }
    if let Some(pages) = pages {
        let mut offsets = locate::CharOffsets::new(text);
        outputs.pages = Some(
            pages
                .iter()
                .map(|page| crate::report::Page {
                    number: page.number,
                    start: offsets.of(page.start),
                    end: offsets.of(page.end),
                })
                .collect(),
        );
    }
    outputs
}

/// A character of the scripts written without spaces between words whose
/// line breaks join without one: Chinese characters, kana, and the
/// ideographic punctuation and fullwidth forms set among them (not Hangul,
/// which Korean spaces).
pub(crate) fn is_wide_unspaced(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{3000}'..='\u{30FF}'
        | '\u{FF01}'..='\u{FF60}'
        | '\u{FF61}'..='\u{FF9F}'
    ) && !c.is_whitespace()
}

/// Paragraphs of plain text (blank-line separated), lines kept as breaks:
/// the structure of a format that has no other.
fn paragraphs(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut content: Vec<Inline> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.trim_end();
        if line.trim().is_empty() {
            if !content.is_empty() {
                blocks.push(Block::Paragraph(std::mem::take(&mut content)));
            }
            continue;
        }
        if !content.is_empty() {
            content.push(Inline::Break);
        }
        content.push(Inline::Text(line.trim_start().to_owned(), Style::default()));
    }
    blocks
}
