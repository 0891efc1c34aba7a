//! Checking a case against the segment hashes anchored on the ledger: every segment of
//! every stream is verified (its hash is the anchored one), tampered (the data hashes to
//! something else), unverified (nothing anchored for it, though it holds data) or empty
//! (no data, so nothing to anchor); and anything anchored that the case no longer holds is
//! reported as missing. A viewer marks each segment so, and says why in words.

use ledger_protocol::crypto::Hash;

use crate::case::{Case, CaseError, Stage};
use crate::casefile::segment_ms_for;

/// One segment hash as the ledger holds it (an `AnchorTwinSegment` transaction).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Anchor {
    pub stage: Stage,
    pub stream: String,
    pub start_ms: u64,
    pub end_ms: u64,
    #[serde(rename = "segment_hash")]
    pub hash: Hash,
}

/// Reads the anchors as the node's `GET /v1/records/{id}/segments` returns them (a JSON
/// array of twin segments; fields other than stage, stream, start_ms, end_ms and
/// segment_hash are ignored).
pub fn parse_anchors(json: &str) -> Result<Vec<Anchor>, String> {
    serde_json::from_str(json).map_err(|e| format!("the ledger's segment list is not readable: {e}"))
}

/// What the check found for one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentStatus {
    /// The data hashes to the anchored hash.
    Verified,
    /// The data hashes to `actual`, not to the anchored hash.
    Tampered { anchored: Hash, actual: Hash },
    /// No hash is anchored for this segment, and it holds data.
    Unanchored,
    /// No hash is anchored for this segment and it holds no data: nothing to verify. (Data
    /// added to it later makes it `Unanchored`; data removed from an anchored segment makes
    /// that one `Tampered`.)
    Empty,
    /// A hash is anchored for a segment the case does not have.
    Missing,
}

/// One segment of one stream and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCheck {
    pub stage: Stage,
    pub stream: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub status: SegmentStatus,
}

impl SegmentCheck {
    pub fn is_verified(&self) -> bool {
        self.status == SegmentStatus::Verified
    }

    /// Verified, or empty with nothing to verify.
    pub fn is_ok(&self) -> bool {
        matches!(self.status, SegmentStatus::Verified | SegmentStatus::Empty)
    }

    /// The finding in words, naming the segment (for the viewer's red marks).
    pub fn reason(&self) -> String {
        let which = format!(
            "{} {} from {} to {}",
            stage_name(self.stage),
            self.stream,
            clock(self.start_ms),
            clock(self.end_ms)
        );
        match self.status {
            SegmentStatus::Verified => format!("{which}: matches the hash anchored on the ledger"),
            SegmentStatus::Tampered { anchored, actual } => format!(
                "{which}: TAMPERED — the data hashes to {}…, the ledger anchored {}…",
                &actual.to_hex()[..12],
                &anchored.to_hex()[..12]
            ),
            SegmentStatus::Unanchored => format!("{which}: UNVERIFIED — no hash for it is anchored on the ledger"),
            SegmentStatus::Empty => format!("{which}: holds no data, so nothing is anchored for it"),
            SegmentStatus::Missing => {
                format!("{which}: MISSING — the ledger anchored this segment but the case data does not hold it")
            }
        }
    }
}

/// Every segment of a case, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseVerification {
    pub segments: Vec<SegmentCheck>,
}

impl CaseVerification {
    /// Whether every segment with data verified (and there was at least one).
    pub fn all_verified(&self) -> bool {
        self.segments.iter().any(SegmentCheck::is_verified) && self.segments.iter().all(SegmentCheck::is_ok)
    }

    pub fn count(&self, pred: impl Fn(&SegmentStatus) -> bool) -> usize {
        self.segments.iter().filter(|s| pred(&s.status)).count()
    }

    /// The segments that did not verify (empty ones are no problem).
    pub fn problems(&self) -> impl Iterator<Item = &SegmentCheck> {
        self.segments.iter().filter(|s| !s.is_ok())
    }

    /// The checks of one stage's segments covering `t_ms` (one per stream).
    pub fn at(&self, stage: Stage, t_ms: u64) -> impl Iterator<Item = &SegmentCheck> {
        self.segments.iter().filter(move |s| s.stage == stage && s.start_ms <= t_ms && t_ms < s.end_ms)
    }

    /// A one-line summary: "all 84 segments verified" or the counts of each finding.
    /// Segments without data are not counted.
    pub fn summary(&self) -> String {
        let n = self.count(|s| *s != SegmentStatus::Empty);
        if self.all_verified() {
            return format!("all {n} segments verified against the ledger");
        }
        let verified = self.count(|s| *s == SegmentStatus::Verified);
        let tampered = self.count(|s| matches!(s, SegmentStatus::Tampered { .. }));
        let unanchored = self.count(|s| *s == SegmentStatus::Unanchored);
        let missing = self.count(|s| *s == SegmentStatus::Missing);
        format!(
            "{verified} of {n} segments verified; {tampered} tampered, {unanchored} not anchored, {missing} missing"
        )
    }
}

/// Checks every segment of every stage (segments as the case file cuts them) against the
/// anchors. Anchors for other stages, streams or cuts than the case's are reported missing.
pub fn verify_case(case: &Case, anchors: &[Anchor]) -> Result<CaseVerification, CaseError> {
    let mut used = vec![false; anchors.len()];
    let mut segments = Vec::new();
    for stage in &case.stages {
        let segment_ms = segment_ms_for(stage);
        for stream in stage.stream_hashes(segment_ms)? {
            for seg in &stream.segments {
                let found = anchors.iter().position(|a| {
                    a.stage == stage.stage
                        && a.stream == stream.stream
                        && a.start_ms == seg.start_ms
                        && a.end_ms == seg.end_ms
                });
                let status = match found {
                    Some(i) => {
                        used[i] = true;
                        if anchors[i].hash == seg.hash {
                            SegmentStatus::Verified
                        } else {
                            SegmentStatus::Tampered { anchored: anchors[i].hash, actual: seg.hash }
                        }
                    }
                    None if stage.segment_has_data(&stream.stream, seg.start_ms, seg.end_ms) => {
                        SegmentStatus::Unanchored
                    }
                    None => SegmentStatus::Empty,
                };
                segments.push(SegmentCheck {
                    stage: stage.stage,
                    stream: stream.stream.clone(),
                    start_ms: seg.start_ms,
                    end_ms: seg.end_ms,
                    status,
                });
            }
        }
    }
    for (a, _) in anchors.iter().zip(&used).filter(|(_, used)| !**used) {
        segments.push(SegmentCheck {
            stage: a.stage,
            stream: a.stream.clone(),
            start_ms: a.start_ms,
            end_ms: a.end_ms,
            status: SegmentStatus::Missing,
        });
    }
    Ok(CaseVerification { segments })
}

/// The anchors a case's segments would get (what a seed or an import anchors): one for
/// every segment that holds data.
pub fn anchors_for(case: &Case) -> Result<Vec<Anchor>, CaseError> {
    let mut out = Vec::new();
    for stage in &case.stages {
        for stream in stage.stream_hashes(segment_ms_for(stage))? {
            let with_data =
                stream.segments.iter().filter(|s| stage.segment_has_data(&stream.stream, s.start_ms, s.end_ms));
            out.extend(with_data.map(|s| Anchor {
                stage: stage.stage,
                stream: stream.stream.clone(),
                start_ms: s.start_ms,
                end_ms: s.end_ms,
                hash: s.hash,
            }));
        }
    }
    Ok(out)
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::PreHospital => "pre-hospital",
        Stage::Diagnosis => "diagnosis",
        Stage::Surgery => "surgery",
    }
}

/// `h:mm:ss` of a stage time.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{StageData, Track};

    fn case() -> Case {
        let mut s = StageData::new(Stage::Surgery);
        s.tracks.push(Track {
            name: "HR".into(),
            unit: "/min".into(),
            times_ms: (0..600).map(|i| i * 1000).collect(),
            values: (0..600).map(|i| Some(70.0 + (i % 7) as f32)).collect(),
        });
        Case { id: "c".into(), stages: vec![s] }
    }

    #[test]
    fn an_untouched_case_verifies_and_a_changed_sample_is_found() {
        let c = case();
        let anchors = anchors_for(&c).unwrap();
        assert!(!anchors.is_empty());
        let v = verify_case(&c, &anchors).unwrap();
        assert!(v.all_verified(), "{}", v.summary());
        assert!(v.summary().starts_with("all "), "{}", v.summary());

        let mut changed = c.clone();
        changed.stages[0].tracks[0].values[300] = Some(140.0);
        let v = verify_case(&changed, &anchors).unwrap();
        let bad: Vec<&SegmentCheck> = v.problems().collect();
        assert_eq!(bad.len(), 1, "{}", v.summary());
        assert!(matches!(bad[0].status, SegmentStatus::Tampered { .. }));
        assert!(bad[0].start_ms <= 300_000 && 300_000 < bad[0].end_ms);
        assert!(bad[0].reason().contains("TAMPERED") && bad[0].reason().contains("surgery HR"), "{}", bad[0].reason());
        assert_eq!(v.at(Stage::Surgery, 300_000).next().map(|s| s.is_verified()), Some(false));
    }

    #[test]
    fn unanchored_and_missing_segments_are_named() {
        let c = case();
        let mut anchors = anchors_for(&c).unwrap();
        let dropped = anchors.remove(0);
        anchors.push(Anchor { stream: "ABP".into(), ..dropped.clone() });
        let v = verify_case(&c, &anchors).unwrap();
        assert!(!v.all_verified());
        assert_eq!(v.count(|s| *s == SegmentStatus::Unanchored), 1);
        assert_eq!(v.count(|s| *s == SegmentStatus::Missing), 1);
        let missing = v.problems().find(|s| s.status == SegmentStatus::Missing).unwrap();
        assert!(missing.reason().contains("MISSING") && missing.reason().contains("ABP"), "{}", missing.reason());
        assert!(v.summary().contains("1 not anchored, 1 missing"), "{}", v.summary());
        assert!(!verify_case(&Case { id: "e".into(), stages: vec![] }, &[]).unwrap().all_verified());
    }

    #[test]
    fn segments_without_data_need_no_anchor_but_data_added_to_them_is_flagged() {
        let mut c = case();
        // A sparse track: one reading in the fourth minute only; the events stream is empty.
        c.stages[0].tracks.push(Track {
            name: "Temp".into(),
            unit: "°C".into(),
            times_ms: vec![200_000],
            values: vec![Some(36.8)],
        });
        let anchors = anchors_for(&c).unwrap();
        assert_eq!(anchors.iter().filter(|a| a.stream == "Temp").count(), 1);
        assert!(anchors.iter().all(|a| a.stream != crate::case::EVENTS_STREAM));
        let v = verify_case(&c, &anchors).unwrap();
        assert!(v.all_verified(), "{}", v.summary());
        assert!(v.count(|s| *s == SegmentStatus::Empty) > 0);
        assert_eq!(v.summary(), "all 11 segments verified against the ledger");

        let mut added = c.clone();
        added.stages[0].tracks[1].times_ms.push(500_000);
        added.stages[0].tracks[1].values.push(Some(39.5));
        let v = verify_case(&added, &anchors).unwrap();
        let bad: Vec<&SegmentCheck> = v.problems().collect();
        assert_eq!(bad.len(), 1, "{}", v.summary());
        assert_eq!(bad[0].status, SegmentStatus::Unanchored);

        let mut removed = c.clone();
        removed.stages[0].tracks[1] = Track { times_ms: vec![], values: vec![], ..removed.stages[0].tracks[1].clone() };
        let v = verify_case(&removed, &anchors).unwrap();
        assert!(
            matches!(v.problems().next().map(|s| s.status), Some(SegmentStatus::Tampered { .. })),
            "{}",
            v.summary()
        );
    }

    #[test]
    fn anchors_read_from_the_nodes_json() {
        let json = r#"[{"id":"ab","patient":"cd","case_id":"ef","stage":"surgery","stream":"ABP","start_ms":0,
            "end_ms":60000,"segment_hash":"b117873f223aa832247d981a147e3314a643c7e81d2c0b5d2ab3d274891e02db","anchored_by":"00"}]"#;
        let a = parse_anchors(json).unwrap();
        assert_eq!((a[0].stage, a[0].stream.as_str(), a[0].end_ms), (Stage::Surgery, "ABP", 60_000));
        assert_eq!(a[0].hash.to_hex(), "b117873f223aa832247d981a147e3314a643c7e81d2c0b5d2ab3d274891e02db");
        let e = parse_anchors(r#"[{"stage":"surgery"}]"#).unwrap_err();
        assert!(e.contains("not readable") && e.contains("stream"), "{e}");
    }

    #[test]
    fn a_reading_exactly_on_a_segment_boundary_at_the_end_is_covered() {
        let mut s = StageData::new(Stage::PreHospital);
        s.tracks.push(Track {
            name: "HR".into(),
            unit: "/min".into(),
            times_ms: vec![0, 60_000, 120_000],
            values: vec![Some(80.0), Some(82.0), Some(84.0)],
        });
        let c = Case { id: "b".into(), stages: vec![s] };
        let anchors = anchors_for(&c).unwrap();
        assert_eq!(anchors.len(), 3, "the reading at 2:00 opens a third segment");
        let mut changed = c.clone();
        changed.stages[0].tracks[0].values[2] = Some(140.0);
        let v = verify_case(&changed, &anchors).unwrap();
        assert!(matches!(
            v.problems().next().map(|p| (p.start_ms, p.status)),
            Some((120_000, SegmentStatus::Tampered { .. }))
        ));
    }

    #[test]
    fn a_salt_changes_every_segment_hash() {
        let plain = case();
        let mut salted = plain.clone();
        salted.stages[0].salt = Some(ledger_protocol::crypto::sha256(&[b"secret"]));
        let (a, b) = (anchors_for(&plain).unwrap(), anchors_for(&salted).unwrap());
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.hash != y.hash));
        assert!(verify_case(&salted, &b).unwrap().all_verified());
        assert_eq!(verify_case(&salted, &a).unwrap().count(|s| matches!(s, SegmentStatus::Tampered { .. })), a.len());
    }
}
