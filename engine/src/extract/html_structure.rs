//! The block model of a parsed HTML page (and of EPUB chapters): headings
//! h1–h6, lists with their nesting, tables, preformatted code, links and
//! emphasis, from the same tree the visible text is read from.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use super::markup::BLOCKS;
use crate::structure::{Builder, Kind, Style, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS};

/// The grid of the open (outermost) table, for `colspan` and `rowspan`: a
/// merged cell keeps its text in its first row and column and leaves the
/// others empty, as Word tables' merged cells do.
#[derive(Default)]
struct Spans {
    /// For each column, how many more rows a cell above still covers.
    below: Vec<usize>,
    /// The column the next cell of the open row goes to.
    column: usize,
    /// The open cell's `(colspan, rowspan)`.
    open: (usize, usize),
    in_row: bool,
}

impl Spans {
    /// Empty cells for the columns at the open row's position that a cell
    /// above covers.
    fn skip_covered(&mut self, builder: &mut Builder) {
        while self.below.get(self.column).is_some_and(|rows| *rows > 0) {
            self.below[self.column] -= 1;
            builder.empty_cell();
            self.column += 1;
        }
    }

    fn start_row(&mut self) {
        self.column = 0;
        self.in_row = true;
    }

    /// At the end of a row: empty cells up to the last column still
    /// covered from above.
    fn end_row(&mut self, builder: &mut Builder) {
        if !std::mem::take(&mut self.in_row) {
            return;
        }
        if let Some(last) = self.below.iter().rposition(|rows| *rows > 0) {
            while self.column <= last {
                if self.below[self.column] > 0 {
                    self.below[self.column] -= 1;
                }
                builder.empty_cell();
                self.column += 1;
            }
        }
    }

    fn start_cell(&mut self, builder: &mut Builder, colspan: Option<&str>, rowspan: Option<&str>) {
        if !self.in_row {
            self.start_row();
        }
        self.skip_covered(builder);
        let span = |value: Option<&str>, most: usize| {
            value.and_then(|v| v.trim().parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or(1).min(most)
        };
        self.open = (span(colspan, MAX_TABLE_COLUMNS), span(rowspan, MAX_TABLE_ROWS));
    }

    fn end_cell(&mut self, builder: &mut Builder) {
        let (columns, rows) = std::mem::take(&mut self.open);
        if columns == 0 {
            return;
        }
        for _ in 1..columns {
            builder.empty_cell();
        }
        let end = (self.column + columns).min(MAX_TABLE_COLUMNS);
        if self.below.len() < end {
            self.below.resize(end, 0);
        }
        for covered in &mut self.below[self.column..end] {
            *covered = rows - 1;
        }
        self.column += columns;
    }
}

/// Feeds the page's visible content to `builder`.
pub fn blocks(document: &Html, builder: &mut Builder) {
    let mut hidden_depth = 0usize;
    // Open lists, innermost last: whether each is ordered.
    let mut lists: Vec<bool> = Vec::new();
    let (mut bold, mut italic, mut code) = (0usize, 0usize, 0usize);
    let mut links: Vec<Option<String>> = Vec::new();
    let mut pre_depth = 0usize;
    let mut pre_text = String::new();
    // Tables open, and the grid of the outermost one (inner tables are
    // flattened into its cells).
    let mut tables = 0usize;
    let mut spans = Spans::default();
    let style = |bold: usize, italic: usize, code: usize, links: &[Option<String>]| Style {
        bold: bold > 0,
        italic: italic > 0,
        code: code > 0,
        link: links.iter().rev().find_map(Clone::clone),
    };
    for edge in document.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(element) => {
                    let name = element.name();
                    if hidden_depth > 0 || super::html::is_hidden(element) {
                        hidden_depth += 1;
                        continue;
                    }
                    if pre_depth > 0 {
                        if name == "pre" {
                            pre_depth += 1;
                        } else if name == "br" {
                            pre_text.push('\n');
                        }
                        continue;
                    }
                    match name {
                        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                            builder.start(Kind::Heading(name.as_bytes()[1] - b'0'));
                        }
                        "ul" | "ol" | "menu" => {
                            builder.flush();
                            lists.push(name == "ol");
                        }
                        "li" => {
                            let ordered = lists.last().copied().unwrap_or(false);
                            let depth = lists.len().saturating_sub(1).min(u8::MAX as usize) as u8;
                            builder.start(Kind::Item { ordered, depth });
                        }
                        "table" => {
                            tables += 1;
                            if tables == 1 {
                                spans = Spans::default();
                            }
                            builder.start_table();
                        }
                        "tr" => {
                            if tables == 1 {
                                builder.end_cell();
                                spans.end_cell(builder);
                                spans.end_row(builder);
                                spans.start_row();
                            }
                            builder.start_row();
                        }
                        "td" | "th" => {
                            if tables == 1 {
                                builder.end_cell();
                                spans.end_cell(builder);
                                spans.start_cell(builder, element.attr("colspan"), element.attr("rowspan"));
                            }
                            builder.start_cell();
                        }
                        "pre" => {
                            pre_depth = 1;
                            pre_text.clear();
                        }
                        "br" => builder.line_break(),
                        "strong" | "b" => bold += 1,
                        "em" | "i" => italic += 1,
                        "code" | "kbd" | "samp" | "tt" => code += 1,
                        "a" => links.push(element.attr("href").map(str::to_owned)),
                        _ if BLOCKS.contains(&name) => builder.flush(),
                        _ => {}
                    }
                }
                Node::Text(text) if hidden_depth == 0 => {
                    if pre_depth > 0 {
                        pre_text.push_str(text);
                    } else {
                        builder.text(text, &style(bold, italic, code, &links));
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                let Node::Element(element) = node.value() else { continue };
                let name = element.name();
                if hidden_depth > 0 {
                    hidden_depth -= 1;
                    continue;
                }
                if pre_depth > 0 {
                    if name == "pre" {
                        pre_depth -= 1;
                        if pre_depth == 0 {
                            builder.code(&pre_text);
                        }
                    }
                    continue;
                }
                match name {
                    "ul" | "ol" | "menu" => {
                        builder.flush();
                        lists.pop();
                    }
                    "td" | "th" => {
                        builder.end_cell();
                        if tables == 1 {
                            spans.end_cell(builder);
                        }
                    }
                    "tr" => {
                        if tables == 1 {
                            builder.end_cell();
                            spans.end_cell(builder);
                            spans.end_row(builder);
                        }
                        builder.end_row();
                    }
                    "table" => {
                        tables = tables.saturating_sub(1);
                        builder.end_table();
                    }
                    "strong" | "b" => bold = bold.saturating_sub(1),
                    "em" | "i" => italic = italic.saturating_sub(1),
                    "code" | "kbd" | "samp" | "tt" => code = code.saturating_sub(1),
                    "a" => {
                        links.pop();
                    }
                    _ if BLOCKS.contains(&name) => builder.flush(),
                    _ => {}
                }
            }
        }
    }
}
