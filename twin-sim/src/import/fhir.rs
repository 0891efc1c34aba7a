//! FHIR R4 import: Encounters, Conditions, Procedures and Observations (from Synthea bulk
//! NDJSON, Bundles, or single resources) become time-ordered diagnosis-stage events, and
//! Observations with a `valueQuantity` (or components with one) also become numeric tracks.
//!
//! Times are relative to the earliest imported resource, which becomes the stage's origin
//! (in UTC). A date without a time counts as midnight UTC. Resources of other types, and
//! resources without a time, are counted in the report and otherwise left out.

use serde_json::Value;

use super::{ImportError, epoch_ms, origin_from_epoch_ms};
use crate::case::{Event, EventKind, Stage, StageData, Track};

/// The result of a FHIR import: the stage and what was taken from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirImport {
    pub stage: StageData,
    /// The first Patient resource's id, if any.
    pub patient_id: Option<String>,
    /// The origin of the stage's timeline in epoch milliseconds (UTC), if anything was timed.
    pub origin_epoch_ms: Option<i64>,
    pub encounters: u64,
    pub conditions: u64,
    pub procedures: u64,
    pub observations: u64,
    /// Resources of types this importer does not use, by type, in order of first sight.
    pub ignored: Vec<(String, u64)>,
    /// Line and resource type of each usable resource left out because it had no time.
    pub untimed: Vec<(u64, String)>,
}

/// One resource found in the text, with the line its top-level JSON value starts on.
struct Found<'a> {
    line: u64,
    resource: &'a Value,
}

/// An imported item before times become relative to the origin.
struct Item {
    at_ms: i64,
    event: Event,
    /// Track points: (name, unit, value).
    points: Vec<(String, String, f32)>,
}

/// Imports FHIR R4 JSON text: NDJSON (one resource per line), a Bundle, or a stream of
/// resources; Bundles nest. Errors name `file` and the line the offending value starts on.
pub fn import_fhir(file: &str, text: &str, stage: Stage) -> Result<FhirImport, ImportError> {
    let values = parse_values(file, text)?;
    let mut found = Vec::new();
    for (line, v) in &values {
        collect(file, *line, v, &mut found, 0)?;
    }

    let mut out = FhirImport {
        stage: StageData::new(stage),
        patient_id: None,
        origin_epoch_ms: None,
        encounters: 0,
        conditions: 0,
        procedures: 0,
        observations: 0,
        ignored: Vec::new(),
        untimed: Vec::new(),
    };
    let mut items: Vec<Item> = Vec::new();
    for f in &found {
        let err = |problem: String| ImportError::Fhir { file: file.to_owned(), line: f.line, problem };
        let r = f.resource;
        let kind = r.get("resourceType").and_then(Value::as_str).unwrap_or_default();
        let (event_kind, time_fields): (EventKind, &[&str]) = match kind {
            "Patient" => {
                if out.patient_id.is_none() {
                    out.patient_id = r.get("id").and_then(Value::as_str).map(str::to_owned);
                }
                continue;
            }
            "Encounter" => (EventKind::Arrival, &["period.start", "period.end"]),
            "Condition" => {
                (EventKind::Diagnosis, &["onsetDateTime", "onsetPeriod.start", "recordedDate", "abatementDateTime"])
            }
            "Procedure" => {
                (EventKind::Procedure, &["performedDateTime", "performedPeriod.start", "performedPeriod.end"])
            }
            "Observation" => {
                (EventKind::Observation, &["effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"])
            }
            other => {
                match out.ignored.iter_mut().find(|(k, _)| k == other) {
                    Some((_, n)) => *n += 1,
                    None => out.ignored.push((other.to_owned(), 1)),
                }
                continue;
            }
        };
        let mut time = None;
        for field in time_fields {
            if let Some(v) = path(r, field) {
                let s = v.as_str().ok_or_else(|| err(format!("{kind}.{field} is not a string")))?;
                time = Some(parse_date_time(s).map_err(|p| err(format!("{kind}.{field} {s:?}: {p}")))?);
                break;
            }
        }
        let Some(at_ms) = time else {
            out.untimed.push((f.line, kind.to_owned()));
            continue;
        };
        let (what, code) = concept(r.get(if kind == "Encounter" { "type" } else { "code" }));
        let mut points = Vec::new();
        let label = match kind {
            "Encounter" => {
                out.encounters += 1;
                let class = r.get("class").and_then(|c| c.get("code")).and_then(Value::as_str);
                match class {
                    Some(c) => format!("encounter ({c}): {what}"),
                    None => format!("encounter: {what}"),
                }
            }
            "Condition" => {
                out.conditions += 1;
                what
            }
            "Procedure" => {
                out.procedures += 1;
                format!("procedure: {what}")
            }
            _ => {
                out.observations += 1;
                let mut shown = Vec::new();
                if let Some(q) = r.get("valueQuantity") {
                    let (v, unit) = quantity(q).map_err(|p| err(format!("Observation.valueQuantity: {p}")))?;
                    shown.push(format!("{v} {unit}"));
                    points.push((what.clone(), unit, v));
                }
                for (i, c) in r.get("component").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    if let Some(q) = c.get("valueQuantity") {
                        let (v, unit) =
                            quantity(q).map_err(|p| err(format!("Observation.component[{i}].valueQuantity: {p}")))?;
                        let (name, _) = concept(c.get("code"));
                        shown.push(format!("{name} {v} {unit}"));
                        points.push((name, unit, v));
                    }
                }
                if let Some(s) = r.get("valueString").and_then(Value::as_str) {
                    shown.push(s.to_owned());
                } else if let Some((text, _)) = r.get("valueCodeableConcept").map(|c| concept(Some(c))) {
                    shown.push(text);
                }
                if shown.is_empty() {
                    format!("observation: {what}")
                } else {
                    format!("observation: {what} = {}", shown.join(", "))
                }
            }
        };
        items.push(Item { at_ms, event: Event { time_ms: 0, kind: event_kind, label, code }, points });
    }

    let Some(origin) = items.iter().map(|i| i.at_ms).min() else {
        return Ok(out);
    };
    out.origin_epoch_ms = Some(origin);
    out.stage.origin = Some(origin_from_epoch_ms(origin));
    // Stable: resources at the same instant keep the order they had in the input.
    items.sort_by_key(|i| i.at_ms);
    for item in items {
        let t = item.at_ms.abs_diff(origin);
        for (name, unit, v) in item.points {
            let track = match out.stage.tracks.iter().position(|tr| tr.name == name && tr.unit == unit) {
                Some(i) => &mut out.stage.tracks[i],
                None => {
                    let taken = out.stage.tracks.iter().any(|tr| tr.name == name);
                    let name = if taken { format!("{name} ({unit})") } else { name };
                    out.stage.tracks.push(Track { name, unit, times_ms: Vec::new(), values: Vec::new() });
                    out.stage.tracks.last_mut().expect("just pushed")
                }
            };
            track.times_ms.push(t);
            track.values.push(Some(v));
        }
        out.stage.events.push(Event { time_ms: t, ..item.event });
    }
    Ok(out)
}

/// The JSON values of the text with the line each starts on. When the first non-blank line
/// is a whole JSON value the text is NDJSON: every non-blank line must be one value, so a
/// damaged line is named even when the next line would complete it. Otherwise the text is
/// a stream of (pretty-printed) values, and errors carry the parser's line.
fn parse_values(file: &str, text: &str) -> Result<Vec<(u64, Value)>, ImportError> {
    let err = |line: u64, e: serde_json::Error| ImportError::Fhir {
        file: file.to_owned(),
        line,
        problem: format!("not JSON: {e}"),
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i as u64 + 1, l)).filter(|(_, l)| !l.trim().is_empty());
    let first_is_whole = lines.next().is_some_and(|(_, l)| serde_json::from_str::<Value>(l).is_ok());
    if first_is_whole {
        return text
            .lines()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l))
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(line, l)| serde_json::from_str(l).map(|v| (line, v)).map_err(|e| err(line, e)))
            .collect();
    }
    let mut values = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut offset = 0usize;
    loop {
        let start = text[offset..].find(|c: char| !c.is_whitespace()).map_or(text.len(), |i| offset + i);
        match stream.next() {
            None => return Ok(values),
            Some(Ok(v)) => values.push((line_of(text, start), v)),
            Some(Err(e)) => return Err(err(if e.line() > 0 { e.line() as u64 } else { line_of(text, start) }, e)),
        }
        offset = stream.byte_offset();
    }
}

/// Gathers the resources in `v`: a Bundle's entries (recursively), or `v` itself.
fn collect<'a>(file: &str, line: u64, v: &'a Value, out: &mut Vec<Found<'a>>, depth: u32) -> Result<(), ImportError> {
    let err = |problem: &str| ImportError::Fhir { file: file.to_owned(), line, problem: problem.to_owned() };
    let Some(kind) = v.get("resourceType").and_then(Value::as_str) else {
        return Err(err("not a FHIR resource (no resourceType)"));
    };
    if kind != "Bundle" {
        out.push(Found { line, resource: v });
        return Ok(());
    }
    if depth >= 8 {
        return Err(err("Bundles nested more than 8 deep"));
    }
    for entry in v.get("entry").and_then(Value::as_array).into_iter().flatten() {
        if let Some(r) = entry.get("resource") {
            collect(file, line, r, out, depth + 1)?;
        }
    }
    Ok(())
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> u64 {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// Follows a dotted path of object keys.
fn path<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

/// The text and code of a CodeableConcept: its text (or first display, or first code) and
/// its preferred coding as `SNOMED:<code>`, `LOINC:<code>`, `ICD10:<code>` or
/// `<system>|<code>`. A JSON array of concepts (Encounter.type) uses its first element.
fn concept(v: Option<&Value>) -> (String, Option<String>) {
    let v = match v {
        Some(Value::Array(a)) => a.first(),
        other => other,
    };
    let Some(v) = v else { return ("(no code)".to_owned(), None) };
    let codings: Vec<&Value> = v.get("coding").and_then(Value::as_array).into_iter().flatten().collect();
    let rank = |c: &&Value| match c.get("system").and_then(Value::as_str) {
        Some("http://snomed.info/sct") => 0,
        Some("http://loinc.org") => 1,
        Some("http://hl7.org/fhir/sid/icd-10-cm" | "http://hl7.org/fhir/sid/icd-10") => 2,
        _ => 3,
    };
    let best = codings.iter().filter(|c| c.get("code").and_then(Value::as_str).is_some()).min_by_key(|c| rank(c));
    let code = best.and_then(|c| {
        let code = c.get("code").and_then(Value::as_str)?;
        Some(match c.get("system").and_then(Value::as_str) {
            Some("http://snomed.info/sct") => format!("SNOMED:{code}"),
            Some("http://loinc.org") => format!("LOINC:{code}"),
            Some("http://hl7.org/fhir/sid/icd-10-cm" | "http://hl7.org/fhir/sid/icd-10") => format!("ICD10:{code}"),
            Some(system) => format!("{system}|{code}"),
            None => code.to_owned(),
        })
    });
    let text = v
        .get("text")
        .and_then(Value::as_str)
        .or_else(|| codings.iter().find_map(|c| c.get("display").and_then(Value::as_str)))
        .or_else(|| codings.iter().find_map(|c| c.get("code").and_then(Value::as_str)))
        .unwrap_or("(no code)");
    (text.to_owned(), code)
}

/// The value and unit of a Quantity (unit: `unit`, else `code`, else empty).
fn quantity(q: &Value) -> Result<(f32, String), String> {
    let v = q.get("value").ok_or("no value")?.as_f64().ok_or("value is not a number")?;
    let v = v as f32;
    if !v.is_finite() {
        return Err("value does not fit a 32-bit float".to_owned());
    }
    let unit = q.get("unit").or_else(|| q.get("code")).and_then(Value::as_str).unwrap_or_default();
    Ok((v, unit.to_owned()))
}

/// Parses a FHIR `dateTime` or `instant` (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or
/// `YYYY-MM-DDThh:mm:ss[.fff…](Z|±hh:mm)`) to epoch milliseconds (UTC).
pub fn parse_date_time(s: &str) -> Result<i64, String> {
    fn num(s: &str, what: &str) -> Result<u32, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad {what} {s:?}"));
        }
        s.parse().map_err(|_| format!("bad {what} {s:?}"))
    }
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let year_text = parts.next().unwrap_or_default();
    if year_text.len() != 4 {
        return Err("the year must have four digits".to_owned());
    }
    let year = num(year_text, "year")?;
    let month = parts.next().map(|m| num(m, "month")).transpose()?.unwrap_or(1);
    let day = parts.next().map(|d| num(d, "day")).transpose()?.unwrap_or(1);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(format!("month {month} does not exist")),
    };
    if !(1..=days_in_month).contains(&day) {
        return Err(format!("day {day} does not exist in month {month}"));
    }
    let mut ms_of_day = 0i64;
    if let Some(t) = time {
        if time.is_some() && date.len() != 10 {
            return Err("a time needs a full date".to_owned());
        }
        let (clock, zone_ms) = if let Some(c) = t.strip_suffix('Z') {
            (c, 0i64)
        } else if let Some(i) = t.rfind(['+', '-']) {
            let (c, z) = t.split_at(i);
            let (h, m) = z[1..].split_once(':').ok_or_else(|| format!("bad time zone {z:?}"))?;
            let (h, m) = (num(h, "zone hour")?, num(m, "zone minute")?);
            if h > 14 || m > 59 {
                return Err(format!("bad time zone {z:?}"));
            }
            let sign = if z.starts_with('-') { -1 } else { 1 };
            (c, sign * (i64::from(h) * 3_600_000 + i64::from(m) * 60_000))
        } else {
            return Err("a time needs a time zone (Z or ±hh:mm)".to_owned());
        };
        let mut hms = clock.splitn(3, ':');
        let h = num(hms.next().unwrap_or_default(), "hour")?;
        let m = num(hms.next().unwrap_or_default(), "minute")?;
        let sec = hms.next().ok_or("the time needs seconds")?;
        let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
        let s = num(whole, "second")?;
        if h > 23 || m > 59 || s > 60 {
            return Err(format!("time {clock:?} does not exist"));
        }
        let mut millis = 0;
        if !frac.is_empty() {
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("bad fraction of a second {frac:?}"));
            }
            let padded: String = frac.chars().chain("000".chars()).take(3).collect();
            millis = num(&padded, "fraction")?;
        }
        ms_of_day =
            i64::from(h) * 3_600_000 + i64::from(m) * 60_000 + i64::from(s) * 1000 + i64::from(millis) - zone_ms;
    }
    Ok(epoch_ms(i64::from(year), month, day, ms_of_day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_parse_with_zones_and_reject_nonsense() {
        assert_eq!(parse_date_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_date_time("1970-01-01T00:00:00.25+01:00"), Ok(250 - 3_600_000));
        assert_eq!(parse_date_time("2015-01-06T14:54:55-05:00"), Ok(1_420_574_095_000));
        assert_eq!(parse_date_time("2015-01-06"), parse_date_time("2015-01-06T00:00:00Z"));
        assert_eq!(parse_date_time("2015"), parse_date_time("2015-01-01"));
        for bad in [
            "",
            "15-01-01",
            "2015-13-01",
            "2015-02-29",
            "2015-01-06T14:54:55",
            "2015-01-06T25:00:00Z",
            "2015-1x",
            "2015-01-06T1:2Z",
            "2015-01-06T10:00:00+99:00",
        ] {
            assert!(parse_date_time(bad).is_err(), "{bad:?} accepted");
        }
    }
}
