//! The words of a DrawingML chart part (`c:chartSpace`, and `cx:chartSpace`
//! of Office 2016's chart types), read with the slide, sheet or document
//! that shows it: its title and axis titles, each series' name and the
//! category labels. The plotted numbers and the formulas naming their cells
//! are not text. Categories repeat in every series; each label is read once.

use std::collections::HashSet;

use super::office::{relationships, Relationship};
use super::xmltext::{walk, Node};
use super::zipsafe::Container;

/// Lines one chart may give: a chart with more labels than this is a table
/// drawn as a chart, and its sheet holds the same words.
const MAX_CHART_LINES: usize = 10_000;

/// The chart parts a part's relationships name, in their order.
pub fn charts_of(rels: &[Relationship]) -> Vec<String> {
    rels.iter()
        .filter(|r| r.kind.ends_with("/chart") || r.kind.ends_with("/chartEx"))
        .map(|r| r.target.clone())
        .collect()
}

/// The charts of a part, through the drawings it names too (a sheet shows
/// its charts in a drawing part; a slide or a document names them itself).
pub fn charts_under(container: &mut Container<'_>, part: &str) -> Vec<String> {
    let (folder, file) = part.rsplit_once('/').unwrap_or(("", part));
    let rels = relationships(container, &format!("{folder}/_rels/{file}.rels"), folder);
    let mut charts = charts_of(&rels);
    for drawing in rels.iter().filter(|r| r.kind.ends_with("/drawing")) {
        let (folder, file) = drawing.target.rsplit_once('/').unwrap_or(("", &drawing.target));
        charts.extend(charts_of(&relationships(container, &format!("{folder}/_rels/{file}.rels"), folder)));
    }
    charts
}

/// The chart's words, a line each, first occurrences only.
pub fn chart_lines(xml: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |line: &str, lines: &mut Vec<String>| {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if !line.is_empty() && lines.len() < MAX_CHART_LINES && seen.insert(line.clone()) {
            lines.push(line);
        }
    };
    // Rich text (titles, axis titles) comes in runs (`a:t`) of paragraphs
    // (`a:p`); names and labels in cached values (`c:v`, `cx:pt`).
    let (mut series_name, mut categories, mut strings) = (0usize, 0usize, 0usize);
    let (mut in_run_text, mut in_value) = (false, false);
    let mut paragraph = String::new();
    let _ = walk(xml, |node| match node {
        Node::Open { name, .. } => match name {
            "tx" => series_name += 1,
            "cat" => categories += 1,
            "strRef" | "strCache" | "strLit" | "multiLvlStrRef" | "multiLvlStrCache" | "strDim" => strings += 1,
            "t" => in_run_text = true,
            "v" | "pt" => in_value = true,
            _ => {}
        },
        Node::Close { name } => match name {
            "tx" => series_name = series_name.saturating_sub(1),
            "cat" => categories = categories.saturating_sub(1),
            "strRef" | "strCache" | "strLit" | "multiLvlStrRef" | "multiLvlStrCache" | "strDim" => {
                strings = strings.saturating_sub(1)
            }
            "t" => in_run_text = false,
            "v" | "pt" => in_value = false,
            "p" => {
                push(&paragraph, &mut lines);
                paragraph.clear();
            }
            _ => {}
        },
        Node::Text(text) if in_run_text => paragraph.push_str(text),
        // A series name may be a literal `c:v` of its own; a category label
        // counts only as a string (dates and numbers as categories are the
        // sheet's numbers again).
        Node::Text(text) if in_value && (series_name > 0 || (categories > 0 && strings > 0)) => push(text, &mut lines),
        Node::Text(_) => {}
    });
    push(&paragraph, &mut lines);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_series_names_and_string_categories_once_and_no_numbers() {
        let xml = r#"<c:chartSpace xmlns:c="c" xmlns:a="a"><c:chart><c:title><c:tx><c:rich><a:p><a:r><a:t>Sales by </a:t></a:r><a:r><a:t>region</a:t></a:r></a:p></c:rich></c:tx></c:title><c:plotArea><c:barChart>
            <c:ser><c:tx><c:strRef><c:f>Sheet1!$B$1</c:f><c:strCache><c:pt idx="0"><c:v>2024</c:v></c:pt></c:strCache></c:strRef></c:tx><c:cat><c:strRef><c:f>Sheet1!$A$2:$A$3</c:f><c:strCache><c:pt idx="0"><c:v>North</c:v></c:pt><c:pt idx="1"><c:v>South</c:v></c:pt></c:strCache></c:strRef></c:cat><c:val><c:numRef><c:numCache><c:pt idx="0"><c:v>12.5</c:v></c:pt></c:numCache></c:numRef></c:val></c:ser>
            <c:ser><c:tx><c:v>Forecast</c:v></c:tx><c:cat><c:strRef><c:strCache><c:pt idx="0"><c:v>North</c:v></c:pt><c:pt idx="1"><c:v>South</c:v></c:pt></c:strCache></c:strRef></c:cat><c:val><c:numRef><c:numCache><c:pt idx="0"><c:v>14</c:v></c:pt></c:numCache></c:numRef></c:val></c:ser>
            <c:cat><c:numRef><c:numCache><c:pt idx="0"><c:v>45292</c:v></c:pt></c:numCache></c:numRef></c:cat>
            </c:barChart><c:valAx><c:title><c:tx><c:rich><a:p><a:r><a:t>Units sold</a:t></a:r></a:p></c:rich></c:tx></c:title></c:valAx></c:plotArea></c:chart></c:chartSpace>"#;
        assert_eq!(chart_lines(xml), ["Sales by region", "2024", "North", "South", "Forecast", "Units sold"]);
    }
}
