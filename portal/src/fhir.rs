//! FHIR R4, the pure part: reading import files (single resources, Bundles, bulk NDJSON)
//! with errors that name the file and line, a readable summary of a resource (never its
//! HTML narrative), and the Consent and AuditEvent resources the portal exports.

use ledger_protocol::state::{AuditEntry, Consent, ConsentStatus};
use ledger_protocol::{AccessBasis, DataClass};
use serde_json::{Map, Value, json};

/// Largest import file the portal reads, in bytes.
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

/// One resource ready to be encrypted and anchored.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub resource_type: String,
    pub id: Option<String>,
    /// The resource as compact JSON: what gets encrypted.
    pub json: String,
    pub class: DataClass,
    pub title: String,
}

/// Why an import file was refused. Nothing of a refused file is imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    Empty { file: String },
    TooLarge { file: String, bytes: usize },
    Json { file: String, line: usize, message: String },
    NotFhir { file: String, line: usize, message: String },
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Empty { file } => write!(f, "{file} is empty: choose a FHIR JSON or NDJSON file."),
            ImportError::TooLarge { file, bytes } => {
                write!(
                    f,
                    "{file} is {bytes} bytes, more than the {MAX_IMPORT_BYTES}-byte limit: split it and import the parts."
                )
            }
            ImportError::Json { file, line, message } => {
                write!(f, "{file}, line {line}: not valid JSON ({message}). Nothing was imported.")
            }
            ImportError::NotFhir { file, line, message } => {
                write!(f, "{file}, line {line}: {message}. Nothing was imported.")
            }
        }
    }
}

fn check_resource(file: &str, line: usize, v: Value) -> Result<Resource, ImportError> {
    let not_fhir = |message: &str| ImportError::NotFhir { file: file.to_owned(), line, message: message.to_owned() };
    let Value::Object(ref obj) = v else {
        return Err(not_fhir("this is not a FHIR resource (expected a JSON object)"));
    };
    let rt = obj
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| not_fhir("the object has no \"resourceType\""))?;
    if rt.is_empty()
        || !rt.chars().all(|c| c.is_ascii_alphabetic())
        || !rt.starts_with(|c: char| c.is_ascii_uppercase())
    {
        return Err(not_fhir(&format!("\"{rt}\" is not a FHIR resource type")));
    }
    if rt == "Bundle" {
        return Err(not_fhir("a Bundle inside a Bundle or an NDJSON line is not supported; import it as its own file"));
    }
    Ok(Resource {
        resource_type: rt.to_owned(),
        id: obj.get("id").and_then(Value::as_str).map(str::to_owned),
        class: DataClass::from_fhir_resource_type(rt),
        title: title(&v),
        json: v.to_string(),
    })
}

/// Reads a file: one resource, a Bundle (its entries' resources), or NDJSON (a resource a
/// line). All or nothing: the first problem refuses the whole file.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<Resource>, ImportError> {
    if text.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge { file: file.to_owned(), bytes: text.len() });
    }
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(ImportError::Empty { file: file.to_owned() });
    }
    // A whole-file JSON value: a resource or a Bundle.
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        if v.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
            let entries = v.get("entry").and_then(Value::as_array).cloned().unwrap_or_default();
            if entries.is_empty() {
                return Err(ImportError::NotFhir {
                    file: file.to_owned(),
                    line: 1,
                    message: "the Bundle has no entries".into(),
                });
            }
            return entries
                .into_iter()
                .enumerate()
                .map(|(i, e)| match e.get("resource") {
                    Some(r) => check_resource(file, 1, r.clone()),
                    None => Err(ImportError::NotFhir {
                        file: file.to_owned(),
                        line: 1,
                        message: format!("Bundle entry {} has no resource", i + 1),
                    }),
                })
                .collect();
        }
        return Ok(vec![check_resource(file, 1, v)?]);
    }
    // Otherwise NDJSON: every non-empty line one resource.
    let mut out = Vec::new();
    for (i, line) in trimmed.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| ImportError::Json {
            file: file.to_owned(),
            line: line_no,
            message: e.to_string(),
        })?;
        out.push(check_resource(file, line_no, v)?);
    }
    Ok(out)
}

fn text_of(v: Option<&Value>) -> Option<String> {
    let v = v?;
    if let Some(s) = v.as_str() {
        return Some(s.to_owned());
    }
    if let Some(t) = v.get("text").and_then(Value::as_str) {
        return Some(t.to_owned());
    }
    if let Some(d) = v.get("display").and_then(Value::as_str) {
        return Some(d.to_owned());
    }
    v.get("coding")?.as_array()?.iter().find_map(|c| c.get("display").and_then(Value::as_str).map(str::to_owned))
}

fn first_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Array(a) => a.iter().find_map(|x| text_of(Some(x))),
        other => text_of(Some(other)),
    }
}

fn human_name(v: &Value) -> Option<String> {
    let n = v.get("name")?.as_array()?.first()?;
    if let Some(t) = n.get("text").and_then(Value::as_str) {
        return Some(t.to_owned());
    }
    let mut parts: Vec<String> = n
        .get("given")
        .and_then(Value::as_array)
        .map(|g| g.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Some(f) = n.get("family").and_then(Value::as_str) {
        parts.push(f.to_owned());
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// When the resource happened, as given in the resource.
pub fn when(v: &Value) -> Option<String> {
    for key in [
        "effectiveDateTime",
        "onsetDateTime",
        "performedDateTime",
        "authoredOn",
        "recordedDate",
        "issued",
        "date",
        "birthDate",
    ] {
        if let Some(s) = v.get(key).and_then(Value::as_str) {
            return Some(s.to_owned());
        }
    }
    for key in ["performedPeriod", "period", "effectivePeriod"] {
        if let Some(s) = v.get(key).and_then(|p| p.get("start")).and_then(Value::as_str) {
            return Some(s.to_owned());
        }
    }
    None
}

/// A short title: what the resource is about.
pub fn title(v: &Value) -> String {
    let rt = v.get("resourceType").and_then(Value::as_str).unwrap_or("Resource");
    let what = match rt {
        "Patient" | "Practitioner" | "RelatedPerson" => human_name(v),
        "Encounter" => first_text(v.get("type")).or_else(|| {
            text_of(v.get("class")).or_else(|| v.pointer("/class/code").and_then(Value::as_str).map(str::to_owned))
        }),
        "MedicationRequest" | "MedicationStatement" => text_of(v.get("medicationCodeableConcept")),
        _ => text_of(v.get("code")).or_else(|| first_text(v.get("type"))),
    };
    match what {
        Some(w) => format!("{rt}: {w}"),
        None => rt.to_owned(),
    }
}

/// Readable rows (label, value) for a resource. The HTML narrative (`text.div`) is never
/// shown; every value is plain text that the page renders as text.
pub fn summary(v: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut push = |label: &str, value: Option<String>| {
        if let Some(value) = value.filter(|s| !s.trim().is_empty()) {
            rows.push((label.to_owned(), value));
        }
    };
    let rt = v.get("resourceType").and_then(Value::as_str).unwrap_or("Resource").to_owned();
    push("Type", Some(rt.clone()));
    push("Name", human_name(v));
    push(
        "What",
        text_of(v.get("code"))
            .or_else(|| first_text(v.get("type")))
            .or_else(|| text_of(v.get("medicationCodeableConcept"))),
    );
    push("When", when(v));
    if let Some(end) =
        ["performedPeriod", "period"].iter().find_map(|k| v.get(*k).and_then(|p| p.get("end")).and_then(Value::as_str))
    {
        push("Until", Some(end.to_owned()));
    }
    push("Status", v.get("status").and_then(Value::as_str).map(str::to_owned));
    push(
        "Clinical status",
        text_of(v.get("clinicalStatus"))
            .or_else(|| v.pointer("/clinicalStatus/coding/0/code").and_then(Value::as_str).map(str::to_owned)),
    );
    push("Category", first_text(v.get("category")));
    push("Class", v.pointer("/class/code").and_then(Value::as_str).map(str::to_owned));
    push("Reason", first_text(v.get("reasonCode")));
    if let Some(q) = v.get("valueQuantity") {
        let value = q.get("value").map(|x| x.to_string()).unwrap_or_default();
        let unit = q.get("unit").and_then(Value::as_str).unwrap_or("");
        push("Value", Some(format!("{value} {unit}").trim().to_owned()));
    }
    push("Value", v.get("valueString").and_then(Value::as_str).map(str::to_owned));
    push("Value", text_of(v.get("valueCodeableConcept")));
    push("Gender", v.get("gender").and_then(Value::as_str).map(str::to_owned));
    push("Born", v.get("birthDate").and_then(Value::as_str).map(str::to_owned));
    push("Died", v.get("deceasedDateTime").and_then(Value::as_str).map(str::to_owned));
    push(
        "Address",
        v.pointer("/address/0").map(|a| {
            let mut parts: Vec<String> = a
                .get("line")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            for k in ["city", "state", "postalCode", "country"] {
                if let Some(s) = a.get(k).and_then(Value::as_str) {
                    parts.push(s.to_owned());
                }
            }
            parts.join(", ")
        }),
    );
    push(
        "Location",
        v.pointer("/location/display")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| v.pointer("/location/0/location/display").and_then(Value::as_str).map(str::to_owned)),
    );
    push("Performed by", v.pointer("/participant/0/individual/display").and_then(Value::as_str).map(str::to_owned));
    push("Service provider", v.pointer("/serviceProvider/display").and_then(Value::as_str).map(str::to_owned));
    push("Dosage", v.pointer("/dosageInstruction/0/text").and_then(Value::as_str).map(str::to_owned));
    push("Note", v.pointer("/note/0/text").and_then(Value::as_str).map(str::to_owned));
    push("Id", v.get("id").and_then(Value::as_str).map(str::to_owned));
    rows
}

fn iso(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (y, m, d) = wallet::describe::civil_from_days(days);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn class_code(c: DataClass) -> String {
    serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A consent as a FHIR R4 Consent resource.
pub fn consent_resource(c: &Consent, patient_name: &str, grantee_name: &str, now: u64) -> Value {
    let status = match c.status(now) {
        ConsentStatus::Live | ConsentStatus::NotYetValid => "active",
        ConsentStatus::Expired | ConsentStatus::Revoked => "inactive",
    };
    let mut actions = Vec::new();
    if c.actions.read {
        actions.push(json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access" }] }));
    }
    if c.actions.write {
        actions.push(json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "correct" }], "text": "add records" }));
    }
    let purpose = match c.purpose {
        ledger_protocol::Purpose::Treatment => "TREAT",
        ledger_protocol::Purpose::Payment => "HPAYMT",
        ledger_protocol::Purpose::Research => "HRESCH",
    };
    json!({
        "resourceType": "Consent",
        "id": c.id.to_hex(),
        "status": status,
        "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
        "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent" }] }],
        "patient": { "identifier": { "system": "urn:healthchain:address", "value": c.patient.to_hex() }, "display": patient_name },
        "dateTime": iso(c.granted_at),
        "performer": [{ "identifier": { "system": "urn:healthchain:address", "value": c.patient.to_hex() }, "display": patient_name }],
        "policyRule": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN" }] },
        "provision": {
            "type": "permit",
            // The ledger's end is exclusive; FHIR's is inclusive: the last covered second.
            "period": { "start": iso(c.valid_from), "end": iso(c.revoked_at.unwrap_or(c.valid_until).min(c.valid_until).saturating_sub(1)) },
            "actor": [{
                "role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP" }] },
                "reference": { "identifier": { "system": "urn:healthchain:address", "value": c.grantee.to_hex() }, "display": grantee_name }
            }],
            "action": actions,
            "purpose": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose }],
            "class": c.classes.iter().map(|k| json!({ "system": "urn:healthchain:data-class", "code": class_code(*k), "display": k.human() })).collect::<Vec<_>>()
        }
    })
}

/// An audit-trail entry as a FHIR R4 AuditEvent resource; `open` gives the text of a sealed
/// justification, when the exporter can read it.
pub fn audit_event_resource(
    e: &AuditEntry,
    patient: &str,
    name_of: &dyn Fn(&ledger_protocol::Address) -> String,
    open: &dyn Fn(&ledger_protocol::Sealed) -> Option<String>,
) -> Value {
    let mut m = Map::new();
    m.insert("resourceType".into(), json!("AuditEvent"));
    m.insert(
        "type".into(),
        json!({ "system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106", "display": "Export" }),
    );
    m.insert("action".into(), json!("R"));
    m.insert("outcome".into(), json!("0"));
    m.insert("source".into(), json!({ "observer": { "display": "HealthChain ledger" } }));
    match e {
        AuditEntry::Access { tx, at, record, reader, basis, .. } => {
            let (basis_kind, basis_id) = match basis {
                AccessBasis::Consent(h) => ("consent", h),
                AccessBasis::BreakGlass(h) => ("break-glass", h),
            };
            m.insert("id".into(), json!(tx.to_hex()));
            m.insert("recorded".into(), json!(iso(*at)));
            m.insert("purposeOfEvent".into(), json!([{ "text": format!("under {basis_kind} {}", basis_id.to_hex()) }]));
            m.insert("agent".into(), json!([{ "who": { "identifier": { "system": "urn:healthchain:address", "value": reader.to_hex() }, "display": name_of(reader) }, "requestor": true }]));
            m.insert("entity".into(), json!([
                { "what": { "identifier": { "system": "urn:healthchain:record", "value": record.to_hex() } } },
                { "what": { "identifier": { "system": "urn:healthchain:address", "value": patient } }, "role": { "code": "1", "display": "Patient" } }
            ]));
        }
        AuditEntry::BreakGlass { tx, at, clinician, justification, until } => {
            m.insert("id".into(), json!(tx.to_hex()));
            m.insert("recorded".into(), json!(iso(*at)));
            m.insert("purposeOfEvent".into(), json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT", "display": "Emergency Treatment" }], "text": open(justification).unwrap_or_else(|| "(sealed)".into()) }]));
            m.insert("period".into(), json!({ "start": iso(*at), "end": iso(*until) }));
            m.insert("agent".into(), json!([{ "who": { "identifier": { "system": "urn:healthchain:address", "value": clinician.to_hex() }, "display": name_of(clinician) }, "requestor": true }]));
            m.insert("entity".into(), json!([{ "what": { "identifier": { "system": "urn:healthchain:address", "value": patient } }, "role": { "code": "1", "display": "Patient" } }]));
        }
        AuditEntry::BreakGlassReviewed { tx, at, grant, clinician, reviewer, until } => {
            m.insert("id".into(), json!(tx.to_hex()));
            m.insert("recorded".into(), json!(iso(*at)));
            m.insert("purposeOfEvent".into(), json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT", "display": "Emergency Treatment" }], "text": format!("review of break-glass {} by {}", grant.to_hex(), name_of(clinician)) }]));
            m.insert("period".into(), json!({ "start": iso(*at), "end": iso(*until) }));
            m.insert("agent".into(), json!([{ "who": { "identifier": { "system": "urn:healthchain:address", "value": reviewer.to_hex() }, "display": name_of(reviewer) }, "requestor": true }]));
            m.insert("entity".into(), json!([{ "what": { "identifier": { "system": "urn:healthchain:address", "value": patient } }, "role": { "code": "1", "display": "Patient" } }]));
        }
        AuditEntry::ShareLinkUsed { tx, at, link, opened, recipient, logged_by } => {
            // Someone outside the hospital, named only by their own words.
            let who = open(recipient).unwrap_or_else(|| "(sealed)".into());
            m.insert("id".into(), json!(tx.to_hex()));
            m.insert("recorded".into(), json!(iso(*at)));
            if !opened {
                m.insert("outcome".into(), json!("4"));
            }
            m.insert("purposeOfEvent".into(), json!([{ "text": format!("share link {}", link.to_hex()) }]));
            m.insert("agent".into(), json!([
                { "who": { "display": who }, "requestor": true },
                { "who": { "identifier": { "system": "urn:healthchain:address", "value": logged_by.to_hex() }, "display": name_of(logged_by) }, "requestor": false }
            ]));
            m.insert("entity".into(), json!([{ "what": { "identifier": { "system": "urn:healthchain:address", "value": patient } }, "role": { "code": "1", "display": "Patient" } }]));
        }
    }
    Value::Object(m)
}

/// A FHIR collection Bundle of `resources`.
pub fn bundle(resources: Vec<Value>) -> Value {
    json!({ "resourceType": "Bundle", "type": "collection", "entry": resources.into_iter().map(|r| json!({ "resource": r })).collect::<Vec<_>>() })
}

/// The data classes an emergency summary is made from.
pub const EMERGENCY_SOURCES: [DataClass; 4] =
    [DataClass::Demographics, DataClass::Conditions, DataClass::Medications, DataClass::Observations];
/// How many of the newest observations an emergency summary keeps.
pub const EMERGENCY_OBSERVATIONS: usize = 20;

/// Whether a resource's status says it is no longer current (a resolved problem, a stopped
/// medication, a refuted allergy).
fn not_current(v: &Value) -> bool {
    let code = |key: &str| v.pointer(&format!("/{key}/coding/0/code")).and_then(Value::as_str).map(str::to_owned);
    let status = code("clinicalStatus").or_else(|| v.get("status").and_then(Value::as_str).map(str::to_owned));
    let refuted = code("verificationStatus").is_some_and(|s| s == "refuted" || s == "entered-in-error");
    refuted
        || status.is_some_and(|s| {
            matches!(
                s.as_str(),
                "resolved" | "inactive" | "remission" | "stopped" | "completed" | "cancelled" | "entered-in-error"
            )
        })
}

/// What emergency care needs first, from a patient's own resources: who they are, their
/// allergies, current problems, current medications and newest observations, as one FHIR
/// collection Bundle (in that order). `None` when there is nothing to put in it.
pub fn emergency_summary(resources: &[Value]) -> Option<Value> {
    let of = |types: &[&str]| -> Vec<&Value> {
        resources
            .iter()
            .filter(|v| v.get("resourceType").and_then(Value::as_str).is_some_and(|t| types.contains(&t)))
            .collect()
    };
    let mut out: Vec<Value> = of(&["Patient"]).into_iter().take(1).cloned().collect();
    out.extend(of(&["AllergyIntolerance"]).into_iter().filter(|v| !not_current(v)).cloned());
    out.extend(of(&["Condition"]).into_iter().filter(|v| !not_current(v)).cloned());
    out.extend(of(&["MedicationRequest", "MedicationStatement"]).into_iter().filter(|v| !not_current(v)).cloned());
    let mut obs = of(&["Observation"]);
    obs.sort_by_key(|v| std::cmp::Reverse(when(v)));
    out.extend(obs.into_iter().take(EMERGENCY_OBSERVATIONS).cloned());
    (out.iter().any(|v| v["resourceType"] != "Patient")).then(|| bundle(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNTHEA: &str = include_str!("../../static/demo/synthea-patient-a4a401d1.ndjson");

    #[test]
    fn an_emergency_summary_keeps_what_is_current() {
        let all: Vec<Value> = parse_file("synthea.ndjson", SYNTHEA)
            .unwrap()
            .iter()
            .map(|r| serde_json::from_str(&r.json).unwrap())
            .collect();
        let s = emergency_summary(&all).unwrap();
        let entries = s["entry"].as_array().unwrap();
        let types: Vec<&str> = entries.iter().map(|e| e["resource"]["resourceType"].as_str().unwrap()).collect();
        assert_eq!(types[0], "Patient");
        // The Synthea patient has 34 problems, 9 of them active, and no procedures here.
        assert_eq!(types.iter().filter(|t| **t == "Condition").count(), 9);
        assert!(!types.contains(&"Procedure") && !types.contains(&"Encounter"));
        let mut extra = all.clone();
        for i in 0..30 {
            extra.push(json!({ "resourceType": "Observation", "effectiveDateTime": format!("2020-01-{:02}", i % 28 + 1), "code": { "text": format!("HR {i}") } }));
        }
        extra.push(json!({ "resourceType": "AllergyIntolerance", "code": { "text": "Penicillin" } }));
        extra.push(json!({ "resourceType": "AllergyIntolerance", "code": { "text": "Latex" }, "verificationStatus": { "coding": [{ "code": "refuted" }] } }));
        extra.push(json!({ "resourceType": "MedicationRequest", "status": "stopped", "medicationCodeableConcept": { "text": "Old" } }));
        let s = emergency_summary(&extra).unwrap();
        let titles: Vec<String> = s["entry"].as_array().unwrap().iter().map(|e| title(&e["resource"])).collect();
        assert_eq!(titles[1], "AllergyIntolerance: Penicillin", "allergies come right after the patient");
        assert!(!titles.iter().any(|t| t.contains("Latex") || t.contains("Old")), "{titles:?}");
        assert_eq!(titles.iter().filter(|t| t.starts_with("Observation")).count(), EMERGENCY_OBSERVATIONS);
        assert!(titles.contains(&"Observation: HR 27".to_owned()), "the newest observations are kept");
        assert_eq!(emergency_summary(&all[..1]), None, "a patient resource alone is no summary");
    }

    #[test]
    fn the_synthea_export_imports_whole() {
        let r = parse_file("synthea.ndjson", SYNTHEA).unwrap();
        assert_eq!(r.len(), 165);
        assert_eq!(r.iter().filter(|x| x.class == DataClass::Procedures).count(), 86);
        assert_eq!(r.iter().filter(|x| x.class == DataClass::Conditions).count(), 34);
        assert_eq!(r[0].resource_type, "Patient");
        assert!(r.iter().any(|x| x.title == "Condition: Streptococcal sore throat (disorder)"), "{:?}", &r[1].title);
    }

    #[test]
    fn a_bad_line_names_file_and_line_and_refuses_everything() {
        let mut text: Vec<&str> = SYNTHEA.lines().take(5).collect();
        text.insert(3, "{\"resourceType\": \"Condition\", oops}");
        let e = parse_file("mine.ndjson", &text.join("\n")).unwrap_err();
        assert!(matches!(e, ImportError::Json { line: 4, .. }), "{e:?}");
        assert!(e.to_string().starts_with("mine.ndjson, line 4"));
        let e = parse_file("x.json", "{\"hello\": 1}").unwrap_err();
        assert!(e.to_string().contains("no \"resourceType\""));
        assert!(matches!(parse_file("e.json", "  \n").unwrap_err(), ImportError::Empty { .. }));
        let e = parse_file(
            "b.json",
            r#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient"}},{"fullUrl":"x"}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("entry 2 has no resource"));
    }

    #[test]
    fn bundles_and_single_resources_import() {
        let b = r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Observation","code":{"text":"Heart rate"},"valueQuantity":{"value":72,"unit":"/min"}}}]}"#;
        let r = parse_file("b.json", b).unwrap();
        assert_eq!(r[0].class, DataClass::Observations);
        let rows = summary(&serde_json::from_str(&r[0].json).unwrap());
        assert!(rows.contains(&("Value".into(), "72 /min".into())));
        assert_eq!(
            parse_file("p.json", r#"{"resourceType":"Patient","id":"p1"}"#).unwrap()[0].id.as_deref(),
            Some("p1")
        );
    }

    #[test]
    fn the_html_narrative_is_never_part_of_the_summary() {
        let patient: Value = serde_json::from_str(SYNTHEA.lines().next().unwrap()).unwrap();
        let rows = summary(&patient);
        assert!(rows.iter().all(|(_, v)| !v.contains("<div") && !v.contains("<a ")), "{rows:?}");
        assert!(rows.iter().any(|(l, _)| l == "Name"));
    }

    #[test]
    fn consents_and_audit_events_export_as_fhir() {
        let c = Consent {
            id: ledger_protocol::Hash([1; 32]),
            patient: ledger_protocol::Address([2; 20]),
            grantee: ledger_protocol::Address([3; 20]),
            classes: vec![DataClass::Procedures],
            actions: ledger_protocol::Actions::READ,
            purpose: ledger_protocol::Purpose::Treatment,
            valid_from: 0,
            valid_until: 1_801_440_000,
            granted_at: 0,
            revoked_at: None,
        };
        let r = consent_resource(&c, "Ana", "Dr A. Rao", 1000);
        assert_eq!(r["resourceType"], "Consent");
        assert_eq!(r["status"], "active");
        assert_eq!(r["provision"]["period"]["end"], "2027-01-31T23:59:59Z");
        assert_eq!(r["provision"]["class"][0]["code"], "procedures");
        let e = AuditEntry::BreakGlass {
            tx: c.id,
            at: 0,
            clinician: c.grantee,
            justification: ledger_protocol::Sealed { ciphertext: vec![1; 60], keys: vec![] },
            until: 3600,
        };
        let a = audit_event_resource(&e, "p", &|_| "Dr X".into(), &|_| Some("Unconscious".into()));
        assert_eq!(a["purposeOfEvent"][0]["coding"][0]["code"], "ETREAT");
        assert_eq!(a["purposeOfEvent"][0]["text"], "Unconscious");
        // A share link refused for a wrong passcode: a failed event, the asker in their words.
        let used = AuditEntry::ShareLinkUsed {
            tx: c.id,
            at: 0,
            link: ledger_protocol::Hash([4; 32]),
            opened: false,
            recipient: ledger_protocol::Sealed { ciphertext: vec![1; 60], keys: vec![] },
            logged_by: c.grantee,
        };
        let u = audit_event_resource(&used, "p", &|_| "St Mary's".into(), &|_| Some("Travel clinic".into()));
        assert_eq!(
            (u["outcome"].as_str(), u["agent"][0]["who"]["display"].as_str()),
            (Some("4"), Some("Travel clinic"))
        );
        assert_eq!(u["agent"][1]["who"]["display"], "St Mary's");
        assert_eq!(bundle(vec![r, a, u])["entry"].as_array().unwrap().len(), 3);
    }
}
