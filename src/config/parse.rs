//! The values flags take: sizes with units, durations with units, bind
//! addresses, counts, server and store URLs. Each returns a message clap
//! shows beside the flag's name.

use std::time::Duration;

use docmill_engine::OcrMode;

use super::MAX_DURATION_SECS;

/// A byte count: plain digits, or with a suffix K/M/G/T (powers of 1024;
/// `KiB`, `MB`, ... read the same way).
pub fn parse_bytes(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let digits_end = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let invalid = || format!("{raw:?} is not a size (e.g. 1048576, 512KiB, 100MiB, 2GiB)");
    let number: u64 = raw[..digits_end].parse().map_err(|_| invalid())?;
    let unit = raw[digits_end..].trim().to_ascii_lowercase();
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(invalid()),
    };
    number.checked_mul(1u64 << shift).ok_or_else(|| format!("{raw:?} is too large"))
}

/// A positive duration: plain seconds with decimals (`0.5`), a number with
/// one unit (`1.5s`, `250ms`, `10m`, `12h`, `7d`, `2w`), or humantime's
/// compound forms (`1h 30m`).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let invalid = || format!("{raw:?} is not a duration (e.g. 0.5, 30s, 1.5s, 10m, 7d)");
    let number_end = raw.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(raw.len());
    let seconds_per_unit = match raw[number_end..].trim() {
        "" | "s" | "sec" | "secs" => Some(1.0),
        "ms" => Some(0.001),
        "m" | "min" | "mins" => Some(60.0),
        "h" | "hr" | "hrs" => Some(3600.0),
        "d" | "day" | "days" => Some(86_400.0),
        "w" | "week" | "weeks" => Some(7.0 * 86_400.0),
        _ => None,
    };
    let secs = match (raw[..number_end].parse::<f64>(), seconds_per_unit) {
        (Ok(number), Some(unit)) => number * unit,
        _ => humantime::parse_duration(raw).map_err(|_| invalid())?.as_secs_f64(),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("{raw:?}: a duration must be above zero"));
    }
    if secs >= MAX_DURATION_SECS {
        return Err(format!("{raw:?} is too long"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `HOST:PORT`; `:PORT` alone means every IPv4 interface (`0.0.0.0:PORT`).
pub fn parse_bind(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let address = match raw.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => raw.to_owned(),
    };
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(address),
        _ => Err(format!("{raw:?} is not HOST:PORT or :PORT (e.g. 127.0.0.1:8080, :8080, [::]:8080)")),
    }
}

/// `auto`, `on` or `off` (and the usual spellings of yes and no).
pub fn parse_ocr_mode(raw: &str) -> Result<OcrMode, String> {
    OcrMode::parse(raw).ok_or_else(|| format!("{raw:?} is not auto, on or off"))
}

pub fn parse_count(raw: &str) -> Result<usize, String> {
    raw.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("{raw:?} is not a whole number above zero"))
}

pub fn parse_count_u64(raw: &str) -> Result<u64, String> {
    raw.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("{raw:?} is not a whole number above zero"))
}

/// An `http://` or `https://` URL; its path is the prefix the API lives
/// under, always ending in `/` so that `v1/analyze` joins below it.
pub fn parse_server_url(raw: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(raw.trim()).map_err(|err| format!("{raw:?} is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{raw:?}: the server must be an http:// or https:// URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?}: the server URL takes no query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A PostgreSQL URL (`postgres://` or `postgresql://`).
pub fn parse_store_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        Ok(raw.to_owned())
    } else {
        Err(format!("{raw:?}: expected postgres://USER@HOST/DB"))
    }
}
