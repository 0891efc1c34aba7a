//! CSV numeric tracks: a header `time_s,<name>[unit],...` then one row per time, with
//! decimal seconds (non-decreasing) and one number per track; an empty field is a gap.
//! Blank lines and lines starting with `#` are skipped. No quoting: fields hold numbers.

use super::ImportError;
use crate::case::Track;

/// Largest time accepted, in seconds (about 31,700 years), so milliseconds fit easily.
const MAX_TIME_S: f64 = 1e12;

/// Parses CSV text into one track per column after `time_s`. Errors name `file`, the
/// 1-based line, and the 1-based column (field number; 0 when about the whole line).
pub fn parse_csv_tracks(file: &str, text: &str) -> Result<Vec<Track>, ImportError> {
    let err = |line: usize, column: usize, problem: String| ImportError::Csv {
        file: file.to_owned(),
        line: line as u64,
        column: column as u64,
        problem,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(err(1, 0, "no header line (expected `time_s,<name>[unit],...`)".to_owned()));
    };
    let mut fields = header.split(',').map(str::trim);
    if fields.next() != Some("time_s") {
        return Err(err(header_line, 1, "the first column must be `time_s`".to_owned()));
    }
    let mut tracks: Vec<Track> = Vec::new();
    for (i, field) in fields.enumerate() {
        let column = i + 2;
        let (name, unit) = match field.split_once('[') {
            Some((name, rest)) => {
                let unit = rest.strip_suffix(']').ok_or_else(|| {
                    err(header_line, column, format!("{field:?}: the unit needs a closing `]` at the end"))
                })?;
                if unit.contains(['[', ']']) {
                    return Err(err(header_line, column, format!("{field:?}: brackets inside the unit")));
                }
                (name.trim(), unit.trim())
            }
            None if field.contains(']') => return Err(err(header_line, column, format!("{field:?}: `]` without `[`"))),
            None => (field, ""),
        };
        if name.is_empty() {
            return Err(err(header_line, column, "a track needs a name".to_owned()));
        }
        if name == "time_s" || tracks.iter().any(|t| t.name == name) {
            return Err(err(header_line, column, format!("the name {name:?} is used twice")));
        }
        tracks.push(Track { name: name.to_owned(), unit: unit.to_owned(), times_ms: Vec::new(), values: Vec::new() });
    }
    if tracks.is_empty() {
        return Err(err(header_line, 0, "no track columns after `time_s`".to_owned()));
    }
    let mut last_ms = 0u64;
    for (line, row) in lines {
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        if cells.len() != tracks.len() + 1 {
            return Err(err(line, 0, format!("{} fields, the header has {}", cells.len(), tracks.len() + 1)));
        }
        let t: f64 = cells[0].parse().map_err(|_| err(line, 1, format!("time {:?} is not a number", cells[0])))?;
        if !(0.0..=MAX_TIME_S).contains(&t) {
            return Err(err(line, 1, format!("time {:?} is outside 0..={MAX_TIME_S} s", cells[0])));
        }
        let t_ms = (t * 1000.0).round() as u64;
        if t_ms < last_ms {
            return Err(err(line, 1, format!("time {:?} goes back (times must not decrease)", cells[0])));
        }
        last_ms = t_ms;
        for (i, (cell, track)) in cells[1..].iter().zip(&mut tracks).enumerate() {
            let value = if cell.is_empty() {
                None
            } else {
                let v: f32 = cell.parse().map_err(|_| err(line, i + 2, format!("{cell:?} is not a number")))?;
                if !v.is_finite() {
                    return Err(err(line, i + 2, format!("{cell:?} is not a finite 32-bit number")));
                }
                Some(v)
            };
            track.times_ms.push(t_ms);
            track.values.push(value);
        }
    }
    Ok(tracks)
}
