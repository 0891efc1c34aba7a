//! The surgeons' annotations of a twin case: written as a FHIR R4 Observation (the text,
//! the case, the stage and the time within it, the author), and read back from the
//! patient's small twin-data records as the notes the viewer's trend view draws.

use crate::api;
use crate::pages::record::fetch_and_open;
use ledger_protocol::state::Record;
use ledger_protocol::{Address, DataClass, Hash};

/// One signed annotation as the viewer's trend view draws it (see its `viewer_notes`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(super) struct NoteJson {
    pub(super) stage: String,
    pub(super) at_ms: u64,
    pub(super) author: String,
    pub(super) text: String,
    pub(super) signed: String,
}

/// The case's annotations I can read, and how many twin-data records could not be read.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Notes {
    pub(super) list: Vec<NoteJson>,
    pub(super) unreadable: usize,
}

/// The largest annotation record read back (an annotation is a short FHIR Observation).
const MAX_NOTE_BYTES: u64 = 16_384;

/// The annotations of `case` among its patient's twin-data records wrapped for me: small
/// records without anchored segments, each fetched with a signed read (the node records it
/// in the patient's access log) and kept when it annotates this case.
pub(super) async fn case_notes(identity: &wallet::Identity, me: Address, case: &Record) -> Notes {
    let mut notes = Notes::default();
    let Ok(records) = api::records(&case.patient).await else {
        return notes;
    };
    for r in records {
        if r.class != DataClass::TwinData || r.id == case.id || !r.keys.contains_key(&me) || r.size > MAX_NOTE_BYTES {
            continue;
        }
        if !api::segments(&r.id).await.map(|s| s.is_empty()).unwrap_or(false) {
            continue;
        }
        match fetch_and_open(identity, me, r.id, &r).await {
            Ok(plain) => notes.list.extend(note_of(&case.id, &plain)),
            Err(_) => notes.unreadable += 1,
        }
    }
    notes.list.sort_by(|a, b| (&a.stage, a.at_ms).cmp(&(&b.stage, b.at_ms)));
    notes
}

/// "1:02:03" → 3,723,000 ms.
fn clock_ms(at: &str) -> Option<u64> {
    let parts: Vec<u64> = at.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = parts[..] else { return None };
    (m < 60 && s < 60).then_some(((h * 60 + m) * 60 + s) * 1000)
}

/// An annotation record's content (the Observation [`annotation`] writes) as a note of
/// `case`; `None` when it is something else or annotates another case.
fn note_of(case: &Hash, content: &[u8]) -> Option<NoteJson> {
    let v: serde_json::Value = serde_json::from_slice(content).ok()?;
    if v["resourceType"] != "Observation" || v["code"]["text"] != "Digital twin case annotation" {
        return None;
    }
    let case_id = case.to_hex();
    let focus = v["focus"].as_array()?;
    if !focus.iter().any(|f| f["identifier"]["value"].as_str() == Some(case_id.as_str())) {
        return None;
    }
    let component = |name: &str| {
        v["component"].as_array()?.iter().find(|c| c["code"]["text"] == name)?["valueString"]
            .as_str()
            .map(str::to_owned)
    };
    Some(NoteJson {
        stage: component("stage")?,
        at_ms: clock_ms(&component("time in stage")?)?,
        author: v["performer"][0]["display"].as_str().unwrap_or_default().to_owned(),
        text: v["valueString"].as_str()?.to_owned(),
        signed: v["effectiveDateTime"].as_str().unwrap_or_default().to_owned(),
    })
}

/// A surgeon's annotation of a twin case as a FHIR R4 Observation: the text, the case
/// (its record id), the stage and the time within it, and who wrote it.
pub(super) fn annotation(case: &Hash, stage: &str, at: &str, text: &str, author: &str) -> String {
    serde_json::json!({
        "resourceType": "Observation", "status": "final",
        "code": { "text": "Digital twin case annotation" },
        "valueString": text,
        "effectiveDateTime": js_sys::Date::new_0().to_iso_string().as_string(),
        "focus": [{ "identifier": { "system": "urn:healthchain:record", "value": case.to_hex() } }],
        "component": [
            { "code": { "text": "stage" }, "valueString": stage },
            { "code": { "text": "time in stage" }, "valueString": at }
        ],
        "performer": [{ "display": author }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(case: &str, stage: &str, at: &str) -> Vec<u8> {
        serde_json::json!({
            "resourceType": "Observation", "status": "final",
            "code": { "text": "Digital twin case annotation" },
            "valueString": "damped arterial trace",
            "effectiveDateTime": "2026-12-07T10:00:00.000Z",
            "focus": [{ "identifier": { "system": "urn:healthchain:record", "value": case } }],
            "component": [
                { "code": { "text": "stage" }, "valueString": stage },
                { "code": { "text": "time in stage" }, "valueString": at }
            ],
            "performer": [{ "display": "Dr Ada Surgeon" }]
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_annotation_of_this_case_becomes_a_note_at_its_stage_time() {
        let case = Hash([7; 32]);
        let note = note_of(&case, &observation(&case.to_hex(), "surgical procedure", "0:05:30")).expect("a note");
        assert_eq!(
            note,
            NoteJson {
                stage: "surgical procedure".into(),
                at_ms: 330_000,
                author: "Dr Ada Surgeon".into(),
                text: "damped arterial trace".into(),
                signed: "2026-12-07T10:00:00.000Z".into(),
            }
        );
        assert_eq!(clock_ms("1:02:03"), Some(3_723_000));
    }

    #[test]
    fn other_cases_annotations_other_resources_and_bad_times_are_not_notes() {
        let case = Hash([7; 32]);
        assert_eq!(note_of(&case, &observation(&Hash([8; 32]).to_hex(), "surgical procedure", "0:05:30")), None);
        assert_eq!(note_of(&case, &observation(&case.to_hex(), "surgical procedure", "0:75:00")), None);
        assert_eq!(note_of(&case, &observation(&case.to_hex(), "surgical procedure", "five")), None);
        assert_eq!(note_of(&case, br#"{"resourceType":"Patient"}"#), None);
        assert_eq!(note_of(&case, b"not json"), None);
    }
}
