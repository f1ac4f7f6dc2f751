//! How a worker's report JSON is laid out for the server: where the fields
//! the server owns (the file name, the timing) sit, so it can splice its
//! own in without parsing the report, and the report's digests read back
//! from their hex.

/// A report's `fingerprint.simhash` (16 hex digits) as its 64 bits.
pub fn parse_simhash(hex: &str) -> Option<u64> {
    u64::from_str_radix(hex, 16).ok()
}

/// A report's `sha256` (64 hex digits) as its 32 bytes.
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (at, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[at * 2..at * 2 + 2], 16).ok()?;
    }
    Some(digest)
}

/// Where the server-owned fields are in `json`, the serialisation of a
/// report whose file name is `filename` and whose timing is `timing`, and
/// which is not `cached`: (`filename_end`, `timing_at`) of [`ReportJson`](crate::protocol::ReportJson).
/// `None` when the JSON is not laid out that way.
pub fn splice_points(json: &[u8], filename: &str, timing: &docmill_engine::report::Timing) -> Option<(usize, usize)> {
    const HEAD: &[u8] = b"{\"filename\":";
    let name = serde_json::to_vec(filename).ok()?;
    let filename_end = HEAD.len() + name.len();
    let opens = json.starts_with(HEAD) && json.get(HEAD.len()..filename_end) == Some(&name[..]);
    let timing = serde_json::to_vec(timing).ok()?;
    let tail_len = TIMING_KEY.len() + timing.len() + 1;
    let timing_at = json.len().checked_sub(tail_len)?;
    let closes = json[timing_at..].starts_with(TIMING_KEY)
        && json[timing_at + TIMING_KEY.len()..json.len() - 1] == timing[..]
        && json.ends_with(b"}")
        && json.get(timing_at.checked_sub(1)?) == Some(&b',');
    let between = json.get(filename_end..)?.starts_with(b",\"size\":") && filename_end < timing_at;
    (opens && closes && between).then_some((filename_end, timing_at))
}

/// The key of the timing object, the last field of a report that is not
/// cached.
pub const TIMING_KEY: &[u8] = b"\"timing\":";
