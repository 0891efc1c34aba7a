//! Demo data: a hospital authority, a doctor, a surgeon, a pharmacy, an insurer, a student
//! and a patient whose Synthea history is imported as encrypted records, with consents, a
//! prescription and a claim, and a digital twin case built from real recordings whose
//! segments the surgeon anchors. Everything goes through the same verification and rules as
//! any client's transactions. Demo recovery phrases are derived from public labels and
//! written out, so the portal can restore them: they are for showing the system only.

use crate::api::AppState;
use ledger_protocol::codec::Encode;
use ledger_protocol::crypto::sha256;
use ledger_protocol::{Actions, DataClass, Purpose, Role, SignedTransaction, TxBody, WrappedKey};
use serde::Serialize;
use wallet::{Identity, Mnemonic};

/// The Synthea patient (Apache-2.0, see static/demo/NOTICE.md) imported for the demo patient.
const SYNTHEA: &str = include_str!("../../static/demo/synthea-patient-a4a401d1.ndjson");

/// The PhysioNet records of the demo twin case (ODC-By 1.0, see twin-sim/data/physionet/README.md).
const TWIN_SOURCES: twin_sim::demo::DemoSources<'static> = twin_sim::demo::DemoSources {
    numerics_header: include_bytes!("../../twin-sim/data/physionet/mimic-numerics-s00001/s00001-2896-10-10-00-31n.hea"),
    numerics_signals: include_bytes!("../../twin-sim/data/physionet/mimic-numerics-s00001/3975656n.dat"),
    surgery_header: include_bytes!("../../twin-sim/data/physionet/mimicdb-037/03700181.hea"),
    surgery_signals: include_bytes!("../../twin-sim/data/physionet/mimicdb-037/03700181.dat"),
    synthea: SYNTHEA,
};

/// The demo prescription and claim, in words (sealed on the ledger).
pub const DEMO_MEDICATION: &str = "Amoxicillin 500 mg capsules";
pub const DEMO_DOSAGE: &str = "One capsule three times a day for 7 days";
pub const DEMO_CLAIM: &str = "Outpatient consultation and prescription";

/// A demo identity: name, role, address and its (public, well-known) recovery phrase.
#[derive(Debug, Clone, Serialize)]
pub struct DemoIdentity {
    pub label: &'static str,
    pub name: &'static str,
    pub role: Role,
    pub address: ledger_protocol::Address,
    pub recovery_phrase: String,
}

pub const PEOPLE: &[(&str, &str, Role)] = &[
    ("doctor", "Dr A. Rao", Role::Doctor),
    ("surgeon", "Dr M. Okafor", Role::Surgeon),
    ("pharmacy", "Riverside Pharmacy", Role::Pharmacy),
    ("insurer", "Northwind Health Insurance", Role::Insurer),
    ("student", "S. Lindqvist (medical student)", Role::Student),
    ("patient", "Jordan Smith", Role::Patient),
];

/// The demo staff's (made-up) licence or staff numbers, by label.
fn licence(label: &str) -> String {
    format!("DEMO-{}", label.to_uppercase())
}

/// A reader of sealed content.
fn reader(id: &Identity) -> wallet::sealed::Reader {
    wallet::sealed::Reader { address: id.address(), encryption_key: id.encryption_public_key() }
}

/// The demo recovery phrase of `label`.
pub fn demo_mnemonic(label: &str) -> Mnemonic {
    Mnemonic::from_entropy(&sha256(&[b"healthchain-demo/", label.as_bytes()]).0)
}

pub fn demo_identity(label: &str) -> Identity {
    demo_mnemonic(label).identity().expect("demo phrases derive valid keys")
}

pub fn identities() -> Vec<DemoIdentity> {
    PEOPLE
        .iter()
        .map(|(label, name, role)| {
            let m = demo_mnemonic(label);
            DemoIdentity {
                label,
                name,
                role: *role,
                address: demo_identity(label).address(),
                recovery_phrase: m.phrase().to_string(),
            }
        })
        .collect()
}

/// Signs transactions of one identity with increasing nonces.
struct Signer {
    id: Identity,
    chain: String,
    nonce: u64,
}

impl Signer {
    fn new(label: &str, chain: &str) -> Self {
        Signer { id: demo_identity(label), chain: chain.to_owned(), nonce: 0 }
    }
    fn sign(&mut self, body: TxBody) -> anyhow::Result<SignedTransaction> {
        self.nonce += 1;
        Ok(self.id.sign(self.id.transaction(self.chain.clone(), self.nonce, body))?)
    }
}

/// Seeds the demo through the node's own submission path. Skips when the patient exists.
pub async fn seed(state: &AppState) -> anyhow::Result<usize> {
    let chain = state.0.ledger.genesis.chain_id.clone();
    let mut patient = Signer::new("patient", &chain);
    let mut doctor = Signer::new("doctor", &chain);
    let p = patient.id.address();
    if state.0.ledger.head().state.account(&p).is_some() {
        return Ok(0);
    }
    let now = crate::ledger::now_ms() / 1000;
    let day = 86_400;
    let mut txs = Vec::new();
    for (label, name, role) in PEOPLE.iter().filter(|p| p.2 != Role::Patient) {
        let id = demo_identity(label);
        txs.push(state.sign_as_node(TxBody::RegisterProvider {
            key: id.public_key(),
            encryption_key: id.encryption_public_key(),
            role: *role,
            name: (*name).into(),
            licence: licence(label),
        }));
    }
    let mut rng = rand_core::OsRng;
    // The patient lets the hospital find them (for emergency care): their profile is
    // sealed for them and for the hospital's authorities.
    let mut profile_readers = vec![reader(&patient.id)];
    profile_readers.extend(
        state
            .0
            .ledger
            .genesis
            .authorities
            .iter()
            .map(|a| wallet::sealed::Reader { address: a.key.address(), encryption_key: a.encryption_key }),
    );
    let profile = wallet::sealed::PatientProfile { name: "Jordan Smith".into(), birth_date: Some("1984-03-12".into()) };
    txs.push(patient.sign(TxBody::RegisterPatient {
        encryption_key: patient.id.encryption_public_key(),
        profile: wallet::sealed::seal_json(&profile, &profile_readers, &mut rng)?,
    })?);
    let doctor_classes =
        vec![DataClass::Conditions, DataClass::Procedures, DataClass::Observations, DataClass::Medications];
    txs.push(patient.sign(TxBody::GrantConsent {
        grantee: doctor.id.address(),
        classes: doctor_classes.clone(),
        actions: Actions::READ_WRITE,
        purpose: Purpose::Treatment,
        valid_from: now,
        valid_until: now + 90 * day,
    })?);
    txs.push(patient.sign(TxBody::GrantConsent {
        grantee: demo_identity("surgeon").address(),
        classes: vec![DataClass::Procedures, DataClass::Observations, DataClass::TwinData],
        actions: Actions::READ_WRITE,
        purpose: Purpose::Treatment,
        valid_from: now,
        valid_until: now + 30 * day,
    })?);
    txs.push(patient.sign(TxBody::GrantConsent {
        grantee: demo_identity("insurer").address(),
        classes: vec![DataClass::Billing],
        actions: Actions::READ,
        purpose: Purpose::Payment,
        valid_from: now,
        valid_until: now + 365 * day,
    })?);

    // The patient's history, each FHIR resource an encrypted record, readable by the
    // patient and by whoever has read consent for its class at this moment.
    let surgeon = demo_identity("surgeon");
    for line in SYNTHEA.lines().filter(|l| !l.trim().is_empty()) {
        let resource_type =
            serde_json::from_str::<serde_json::Value>(line)?["resourceType"].as_str().unwrap_or("").to_owned();
        let class = DataClass::from_fhir_resource_type(&resource_type);
        let (key, sealed) = wallet::seal(line.as_bytes(), &mut rng)?;
        let blob = ledger_protocol::wire::blob_id(&sealed);
        state.0.ledger.store.put_blob(&blob, &sealed)?;
        let mut keys = vec![WrappedKey {
            reader: p,
            wrapped: wallet::wrap_key(&key, &patient.id.encryption_public_key(), &mut rng)?,
        }];
        if doctor_classes.contains(&class) {
            keys.push(WrappedKey {
                reader: doctor.id.address(),
                wrapped: wallet::wrap_key(&key, &doctor.id.encryption_public_key(), &mut rng)?,
            });
        }
        if matches!(class, DataClass::Procedures | DataClass::Observations) {
            keys.push(WrappedKey {
                reader: surgeon.address(),
                wrapped: wallet::wrap_key(&key, &surgeon.encryption_public_key(), &mut rng)?,
            });
        }
        txs.push(patient.sign(TxBody::AnchorRecord {
            patient: p,
            content_hash: wallet::content_hash(line.as_bytes()),
            size: line.len() as u64,
            class,
            blob,
            keys,
        })?);
    }
    // The patient's digital twin case (three stages from real recordings) as one encrypted
    // record the patient and the surgeon can read; the surgeon anchors every segment's hash
    // under the record's id, so a viewer can prove a replay is untampered.
    let mut case = twin_sim::demo::demo_case(&TWIN_SOURCES)?;
    // Each stage's secret salt: the anchored hashes cannot be reversed to the readings.
    for stage in &mut case.stages {
        let mut salt = [0u8; 32];
        rand_core::RngCore::try_fill_bytes(&mut rng, &mut salt)
            .map_err(|e| anyhow::anyhow!("no randomness for the twin case's salt: {e}"))?;
        stage.salt = Some(ledger_protocol::Hash(salt));
    }
    let case_json = twin_sim::casefile::write_case(&case)?;
    let (key, sealed) = wallet::seal(case_json.as_bytes(), &mut rng)?;
    let blob = ledger_protocol::wire::blob_id(&sealed);
    state.0.ledger.store.put_blob(&blob, &sealed)?;
    let twin_record = patient.sign(TxBody::AnchorRecord {
        patient: p,
        content_hash: wallet::content_hash(case_json.as_bytes()),
        size: case_json.len() as u64,
        class: DataClass::TwinData,
        blob,
        keys: vec![
            WrappedKey { reader: p, wrapped: wallet::wrap_key(&key, &patient.id.encryption_public_key(), &mut rng)? },
            WrappedKey {
                reader: surgeon.address(),
                wrapped: wallet::wrap_key(&key, &surgeon.encryption_public_key(), &mut rng)?,
            },
        ],
    })?;
    let case_id = twin_record.id();
    txs.push(twin_record);
    let n = submit_all(state, txs).await?;
    let mut surgeon = Signer::new("surgeon", &chain);
    let anchors = twin_sim::verify::anchors_for(&case)?
        .into_iter()
        .map(|a| {
            surgeon.sign(TxBody::AnchorTwinSegment {
                patient: p,
                case_id,
                stage: a.stage,
                stream: a.stream,
                start_ms: a.start_ms,
                end_ms: a.end_ms,
                segment_hash: a.hash,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let n = n + submit_all(state, anchors).await?;

    // The doctor prescribes (for the demo pharmacy) and claims once consent is on the
    // ledger; what they say is sealed for the people concerned.
    let (pharmacy, insurer) = (demo_identity("pharmacy"), demo_identity("insurer"));
    let rx = wallet::sealed::PrescriptionDetails {
        medication: DEMO_MEDICATION.into(),
        dosage: DEMO_DOSAGE.into(),
        quantity: 21,
        instructions: String::new(),
    };
    let claim = wallet::sealed::ClaimDetails {
        amount_cents: 12_000,
        currency: "EUR".into(),
        description: DEMO_CLAIM.into(),
        codes: vec!["99213".into()],
    };
    let more = vec![
        doctor.sign(TxBody::Prescribe {
            patient: p,
            pharmacy: pharmacy.address(),
            details: wallet::sealed::seal_json(
                &rx,
                &[reader(&patient.id), reader(&doctor.id), reader(&pharmacy)],
                &mut rng,
            )?,
            valid_until: now + 30 * day,
        })?,
        doctor.sign(TxBody::Claim {
            patient: p,
            insurer: insurer.address(),
            records: vec![],
            details: wallet::sealed::seal_json(
                &claim,
                &[reader(&patient.id), reader(&doctor.id), reader(&insurer)],
                &mut rng,
            )?,
        })?,
    ];
    Ok(n + submit_all(state, more).await?)
}

async fn submit_all(state: &AppState, txs: Vec<SignedTransaction>) -> anyhow::Result<usize> {
    let n = txs.len();
    let out = state.submit_raw(txs.iter().map(Encode::to_canonical_bytes).collect()).await?;
    for (o, t) in out.into_iter().zip(&txs) {
        if let Err(e) = o {
            anyhow::bail!("demo transaction {} was refused: {}", t.tx.body.kind().name(), e.message);
        }
    }
    Ok(n)
}
