//! Lines and paragraphs of a PDF page from the glyphs the content stream
//! draws, in drawing order.
//!
//! pdf-extract's own plain-text output decides line and paragraph breaks
//! with fixed multiples of the font size, so a double-spaced page comes out
//! with a blank line after every line. Here a line is glyphs on one
//! baseline, and a paragraph break is a gap clearly wider than the page's
//! usual line spacing (its median), a change of font size, or a jump back
//! up the page (a new column or block).

use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};

/// Baselines closer than this many font sizes are one line.
const SAME_LINE: f64 = 0.5;
/// A gap wider than this many font sizes between two glyphs of one line is
/// a space (as pdf-extract and pdftotext judge it).
const WORD_GAP: f64 = 0.1;
/// A gap wider than this many font sizes within a line separates table
/// cells or tab stops, and becomes a tab.
const COLUMN_GAP: f64 = 2.0;
/// How far (in ems) a space glyph may start back over the glyph before it
/// and still space the line.
const OVERLAP: f64 = 0.1;
/// A line gap this much wider than the page's usual one starts a paragraph.
const PARAGRAPH_GAP: f64 = 1.4;
/// Line gaps above this many font sizes are jumps between blocks, not line
/// spacing, and are left out of the usual spacing.
const MAX_LINE_SPACING: f64 = 3.0;
/// Font sizes differing by more than this share start a paragraph (a
/// heading and its body): below the 13% share of the smallest heading the
/// Markdown takes (15% larger than the body), above the jitter of one font
/// at one size (a few per cent).
const SIZE_CHANGE: f64 = 0.12;

struct Line {
    /// Baseline, in page units, upwards.
    y: f64,
    size: f64,
    upright: bool,
    text: String,
    /// Where each glyph (or inserted space) starts in `text`, and its left
    /// and right edges: kept only for lines holding right-to-left letters,
    /// which are reordered.
    marks: Vec<Mark>,
    rtl: bool,
}

struct Mark {
    x: f64,
    end: f64,
    start: usize,
}

/// An [`OutputDev`] gathering a page's lines.
#[derive(Default)]
pub struct PageLines {
    lines: Vec<Line>,
    /// Where the last glyph ended, its baseline, size and orientation.
    last: Option<(f64, f64, f64, bool)>,
    word_start: bool,
}

impl PageLines {
    /// The page's text: lines joined by newlines, paragraphs by blank lines.
    pub fn text(&self) -> String {
        let mut gaps: Vec<f64> = self
            .lines
            .windows(2)
            .filter_map(|pair| {
                let (above, below) = (&pair[0], &pair[1]);
                let gap = above.y - below.y;
                let line_spacing = above.upright && below.upright && gap > 0.0 && gap <= MAX_LINE_SPACING * below.size;
                line_spacing.then_some(gap)
            })
            .collect();
        gaps.sort_by(f64::total_cmp);
        let usual = gaps.get(gaps.len() / 2).copied();
        let mut text = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            let reordered;
            let content = if line.rtl {
                reordered = logical_order(line);
                reordered.trim()
            } else {
                line.text.trim()
            };
            if content.is_empty() {
                continue;
            }
            if let Some(previous) = i.checked_sub(1).map(|p| &self.lines[p]) {
                let gap = previous.y - line.y;
                let bigger = previous.size.max(line.size);
                let new_paragraph = !line.upright
                    || !previous.upright
                    || gap <= 0.0
                    || (previous.size - line.size).abs() > SIZE_CHANGE * bigger
                    || match usual {
                        Some(usual) => gap > PARAGRAPH_GAP * usual,
                        None => gap > 1.5 * bigger,
                    };
                if !text.is_empty() {
                    text.push_str(if new_paragraph { "\n\n" } else { "\n" });
                }
            }
            text.push_str(content);
        }
        text
    }
}

impl PageLines {
    /// The size of each line [`PageLines::text`] writes, in its order: the
    /// font size its headings are told by.
    pub fn line_sizes(&self) -> Vec<f64> {
        self.lines
            .iter()
            .filter(|line| if line.rtl { !logical_order(line).trim().is_empty() } else { !line.text.trim().is_empty() })
            .map(|line| line.size)
            .collect()
    }
}

impl OutputDev for PageLines {
    fn begin_page(&mut self, _: u32, _: &MediaBox, _: Option<(f64, f64, f64, f64)>) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        // The rendered size: the side of the square with the area of the
        // transformed em box, as pdf-extract measures it.
        let (ex, ey) = (font_size * (trm.m11 + trm.m21), font_size * (trm.m12 + trm.m22));
        let mut size = (ex * ey).abs().sqrt();
        if !size.is_finite() || size < 0.01 {
            size = font_size.abs().max(1.0);
        }
        let (x, y) = (trm.m31, trm.m32);
        let upright = trm.m12.abs() < 1e-6 && trm.m21.abs() < 1e-6;
        let word_start = std::mem::take(&mut self.word_start);
        let same_line = match self.last {
            None => false,
            Some((end, last_y, last_size, last_upright)) => {
                if upright != last_upright {
                    false
                } else if upright {
                    (y - last_y).abs() <= SAME_LINE * size.max(last_size)
                } else {
                    // Rotated text runs along its own axis: a glyph
                    // continues the line when it starts near the last end.
                    !word_start || ((x - end).abs() + (y - last_y).abs()) < 2.0 * size
                }
            }
        };
        // A space glyph drawn back over the glyph before it, or back at the
        // line's start (a writer's stray spaces), spaces nothing: taken as
        // the line's end, it made the next glyph look a column away and cut
        // a word with a tab ("Ans\tættelse"). Right-to-left lines, drawn
        // backwards, keep every space.
        if same_line && upright && char.chars().all(char::is_whitespace) {
            if let (Some((end, ..)), Some(line)) = (self.last, self.lines.last()) {
                if !line.rtl && x < end - OVERLAP * size {
                    self.word_start = word_start;
                    return Ok(());
                }
            }
        }
        if !same_line {
            self.lines.push(Line { y, size, upright, text: String::new(), marks: Vec::new(), rtl: false });
        } else if let (true, Some((end, ..)), Some(line)) = (word_start && upright, self.last, self.lines.last_mut()) {
            let gap = x - end;
            if gap > COLUMN_GAP * size && !line.text.ends_with('\t') {
                // Table cells and tab stops: keep them apart.
                while line.text.ends_with(' ') {
                    line.text.pop();
                    if line.marks.last().is_some_and(|mark| mark.start == line.text.len()) {
                        line.marks.pop();
                    }
                }
                line.marks.push(Mark { x: end, end: x, start: line.text.len() });
                line.text.push('\t');
            } else if gap > WORD_GAP * size && !line.text.ends_with(char::is_whitespace) {
                line.marks.push(Mark { x: end, end: x, start: line.text.len() });
                line.text.push(' ');
            } else if gap < -COLUMN_GAP * size && !line.rtl && !line.text.ends_with(char::is_whitespace) {
                // A jump back along the line: the cells of a right-to-left
                // table drawn in reading order, "Name" at the right, then
                // "Value" left of it. Lines with right-to-left letters are
                // put in order (and spaced) by position instead.
                line.marks.push(Mark { x, end: x, start: line.text.len() });
                line.text.push(' ');
            }
        }
        if let Some(line) = self.lines.last_mut() {
            // Justified text spaces words both ways, by gaps and space glyphs.
            let blank = char.chars().all(char::is_whitespace);
            if !(blank && (line.text.is_empty() || line.text.ends_with(char::is_whitespace))) {
                line.marks.push(Mark { x, end: x + width * size, start: line.text.len() });
                line.rtl |= char.chars().any(is_rtl);
                line.text.push_str(char);
            }
            // A line's size is its largest glyph's: a superscript does not
            // make it a heading.
            line.size = line.size.max(size);
        }
        self.last = Some((x + width * size, y, size, upright));
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.word_start = true;
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// Letters of the scripts written right to left: Hebrew, Arabic, Syriac,
/// Thaana, N'Ko and their presentation forms.
fn is_rtl(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}') && c.is_alphabetic()
}

/// Arabic and Hebrew presentation forms (contextual glyph shapes and
/// ligatures) as the letters they show.
fn unshaped(text: &str, out: &mut String) {
    use unicode_normalization::UnicodeNormalization;
    for c in text.chars() {
        if matches!(c, '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}') {
            out.extend(std::iter::once(c).nfkc());
        } else {
            out.push(c);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Right,
    Left,
    Neutral,
}

/// A line holding right-to-left letters in reading (logical) order. PDFs
/// place glyphs where they are seen: the line is read off by position,
/// left to right, then runs are turned around as a reader of the line's
/// main direction reads them (a simplified Unicode bidi for one line:
/// right-to-left runs reversed, numbers and left-to-right words inside them
/// kept as they are, mirrored brackets swapped).
fn logical_order(line: &Line) -> String {
    let mut pieces: Vec<(&Mark, &str)> = line
        .marks
        .iter()
        .enumerate()
        .map(|(i, mark)| {
            let end = line.marks.get(i + 1).map_or(line.text.len(), |next| next.start);
            (mark, &line.text[mark.start..end])
        })
        .filter(|(_, text)| !text.is_empty())
        .collect();
    pieces.sort_by(|a, b| a.0.x.total_cmp(&b.0.x));
    let mut units: Vec<String> = Vec::with_capacity(pieces.len());
    let mut previous: Option<(&Mark, &str)> = None;
    for (mark, text) in pieces {
        if let Some((last, last_text)) = previous {
            let apart = mark.x > last.end + WORD_GAP * line.size;
            if apart && !last_text.ends_with(char::is_whitespace) && !text.starts_with(char::is_whitespace) {
                units.push(" ".into());
            }
        }
        let mut unit = String::new();
        unshaped(text, &mut unit);
        units.push(unit);
        previous = Some((mark, text));
    }
    let direction = |unit: &str| match unit.chars().find(|c| c.is_alphanumeric()) {
        Some(c) if is_rtl(c) => Direction::Right,
        Some(_) => Direction::Left,
        None => Direction::Neutral,
    };
    let directions: Vec<Direction> = units.iter().map(|u| direction(u)).collect();
    let rights = directions.iter().filter(|d| **d == Direction::Right).count();
    let lefts = directions.iter().filter(|d| **d == Direction::Left).count();
    let (base, embedded) =
        if rights >= lefts { (Direction::Right, Direction::Left) } else { (Direction::Left, Direction::Right) };
    let mut order: Vec<usize> = (0..units.len()).collect();
    if base == Direction::Right {
        order.reverse();
    }
    // Runs of the other direction, neutrals between their letters included,
    // read the other way round.
    let mut i = 0;
    while i < order.len() {
        if directions[order[i]] != embedded {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut k = i + 1;
        while k < order.len() && directions[order[k]] != base {
            if directions[order[k]] == embedded {
                j = k;
            }
            k += 1;
        }
        order[i..=j].reverse();
        i = j + 1;
    }
    let mut text = String::new();
    for index in order {
        let unit = &units[index];
        if base == Direction::Right && directions[index] == Direction::Neutral {
            text.extend(unit.chars().map(mirrored));
        } else {
            text.push_str(unit);
        }
    }
    text
}

/// A bracket as the one a right-to-left reader sees it as.
fn mirrored(c: char) -> char {
    match c {
        '(' => ')',
        ')' => '(',
        '[' => ']',
        ']' => '[',
        '{' => '}',
        '}' => '{',
        '<' => '>',
        '>' => '<',
        '«' => '»',
        '»' => '«',
        other => other,
    }
}
