//! JSON: validity, top-level type and size; the text for analysis is the
//! string values, not the punctuation.

use serde_json::Value;

use super::text::decode_text;
use super::{ExtractError, Extracted};

/// Nesting past this is refused by serde_json's own recursion limit (128);
/// string values are collected only this deep as well.
const MAX_COLLECT_DEPTH: usize = 128;

pub fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let (text, encoding, warnings) = decode_text(bytes);
    let mut extracted = Extracted { warnings, ..Default::default() };
    extracted.set("encoding", encoding);
    match serde_json::from_str::<Value>(&text) {
        Ok(value) => {
            extracted.set("valid", true);
            let top = match &value {
                Value::Object(map) => {
                    extracted.set("keys", map.len());
                    "object"
                }
                Value::Array(items) => {
                    extracted.set("items", items.len());
                    "array"
                }
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                Value::Null => "null",
            };
            extracted.set("top_level", top);
            let mut strings = String::new();
            collect_strings(&value, 0, &mut strings);
            extracted.text = strings;
        }
        Err(err) => {
            extracted.set("valid", false);
            if !text.trim().is_empty() {
                extracted.warnings.push(format!("invalid JSON at line {}, column {}: {err}", err.line(), err.column()));
            }
            extracted.text = text;
        }
    }
    Ok(extracted)
}

fn collect_strings(value: &Value, depth: usize, out: &mut String) {
    if depth > MAX_COLLECT_DEPTH {
        return;
    }
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, depth + 1, out)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, depth + 1, out)),
        _ => {}
    }
}
