//! The demo hospital: a doctor, a surgeon, a pharmacy, an insurer, a student and a patient
//! whose Synthea history is imported as encrypted records, with consents, a prescription and
//! a claim, and a digital twin case built from real recordings that the surgeon uploads and
//! anchors. It is seeded through the node's public HTTP API only, the way the portal works:
//! the authority registers the staff, the patient registers, consents and uploads their
//! records (encrypted here), the surgeon uploads the case; every transaction meets the same
//! rules as anyone's. Demo recovery phrases are derived from public labels and written out
//! so the portal can restore them: they are for showing the system only.

pub mod client;

use anyhow::Context;
use client::Client;
use ledger_protocol::crypto::sha256;
use ledger_protocol::{Actions, Address, DataClass, Purpose, Role, SignedTransaction, Transaction, TxBody, WrappedKey};
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

/// The demo patient's name and the demo prescription and claim, in words (sealed on the
/// ledger: the privacy test looks for them in every stored byte).
pub const DEMO_PATIENT: &str = "Jordan Smith";
pub const DEMO_MEDICATION: &str = "Amoxicillin 500 mg capsules";
pub const DEMO_DOSAGE: &str = "One capsule three times a day for 7 days";
pub const DEMO_CLAIM: &str = "Outpatient consultation and prescription";

/// A demo identity: name, role, address and its (public, well-known) recovery phrase.
#[derive(Debug, Clone, Serialize)]
pub struct DemoIdentity {
    pub label: &'static str,
    pub name: &'static str,
    pub role: Role,
    pub address: Address,
    pub recovery_phrase: String,
}

pub const PEOPLE: &[(&str, &str, Role)] = &[
    ("doctor", "Dr A. Rao", Role::Doctor),
    ("surgeon", "Dr M. Okafor", Role::Surgeon),
    ("pharmacy", "Riverside Pharmacy", Role::Pharmacy),
    ("insurer", "Northwind Health Insurance", Role::Insurer),
    ("student", "S. Lindqvist (medical student)", Role::Student),
    ("admin", "A. Ward (administrator)", Role::Admin),
    ("patient", DEMO_PATIENT, Role::Patient),
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
        .map(|(label, name, role)| DemoIdentity {
            label,
            name,
            role: *role,
            address: demo_identity(label).address(),
            recovery_phrase: demo_mnemonic(label).phrase().to_string(),
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

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seeds the demo into the node at `client`, signing as the hospital with `authority` (the
/// key file `ledger-node init` wrote). Returns how many transactions were committed; none
/// when the demo patient is already registered.
pub async fn seed(client: &Client, authority: &k256::ecdsa::SigningKey) -> anyhow::Result<usize> {
    let chain = client.chain_id().to_owned();
    let mut patient = Signer::new("patient", &chain);
    let p = patient.id.address();
    if client.account_as(authority, &p).await?.is_some() {
        return Ok(0);
    }
    let authority_pk = ledger_protocol::PublicKey::from(authority.verifying_key());
    let authority_account = client
        .account_as(authority, &authority_pk.address())
        .await?
        .context("the key is not an authority of this chain: use the authority.key `ledger-node init` wrote")?;
    let now = now_secs();
    let day = 86_400;
    let mut rng = rand_core::OsRng;

    // The authority registers the staff (nonces above its last one, as the node's own).
    let last = authority_account["nonce"].as_u64().unwrap_or(0);
    let mut txs = Vec::new();
    for (nonce, (label, name, role)) in (last + 1..).zip(PEOPLE.iter().filter(|p| p.2 != Role::Patient)) {
        let id = demo_identity(label);
        let body = TxBody::RegisterProvider {
            key: id.public_key(),
            encryption_key: id.encryption_public_key(),
            role: *role,
            name: (*name).into(),
            licence: licence(label),
        };
        txs.push(Transaction { chain_id: chain.clone(), signer: authority_pk, nonce, body }.sign(authority));
    }
    // The patient registers, letting the hospital find them (for emergency care): their
    // profile is sealed for them and for the hospital's authorities.
    let mut profile_readers = vec![reader(&patient.id)];
    profile_readers.extend(client.authorities().iter().copied());
    let profile = wallet::sealed::PatientProfile { name: DEMO_PATIENT.into(), birth_date: Some("1984-03-12".into()) };
    txs.push(patient.sign(TxBody::RegisterPatient {
        encryption_key: patient.id.encryption_public_key(),
        profile: wallet::sealed::seal_json(&profile, &profile_readers, &mut rng)?,
    })?);
    let (doctor_id, surgeon_id) = (demo_identity("doctor"), demo_identity("surgeon"));
    let doctor_classes =
        vec![DataClass::Conditions, DataClass::Procedures, DataClass::Observations, DataClass::Medications];
    let consents = [
        (doctor_id.address(), doctor_classes.clone(), Actions::READ_WRITE, Purpose::Treatment, 90),
        (
            surgeon_id.address(),
            vec![DataClass::Procedures, DataClass::Observations, DataClass::TwinData],
            Actions::READ_WRITE,
            Purpose::Treatment,
            30,
        ),
        (demo_identity("insurer").address(), vec![DataClass::Billing], Actions::READ, Purpose::Payment, 365),
    ];
    for (grantee, classes, actions, purpose, days) in consents {
        txs.push(patient.sign(TxBody::GrantConsent {
            grantee,
            classes,
            actions,
            purpose,
            valid_from: now,
            valid_until: now + days * day,
        })?);
    }
    let mut n = client.submit(&txs).await?;

    // The patient's history, each FHIR resource an encrypted record uploaded by the patient,
    // readable by them and by whoever has read consent for its class now.
    let mut records = Vec::new();
    for line in SYNTHEA.lines().filter(|l| !l.trim().is_empty()) {
        let resource_type =
            serde_json::from_str::<serde_json::Value>(line)?["resourceType"].as_str().unwrap_or("").to_owned();
        let class = DataClass::from_fhir_resource_type(&resource_type);
        let (key, sealed) = wallet::seal(line.as_bytes(), &mut rng)?;
        let blob = client.put_blob(&patient.id, sealed).await?;
        let mut readers = vec![&patient.id];
        if doctor_classes.contains(&class) {
            readers.push(&doctor_id);
        }
        if matches!(class, DataClass::Procedures | DataClass::Observations) {
            readers.push(&surgeon_id);
        }
        let keys = readers
            .iter()
            .map(|r| {
                Ok(WrappedKey {
                    reader: r.address(),
                    wrapped: wallet::wrap_key(&key, &r.encryption_public_key(), &mut rng)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        records.push(patient.sign(TxBody::AnchorRecord {
            patient: p,
            content_hash: wallet::content_hash(line.as_bytes()),
            size: line.len() as u64,
            class,
            blob,
            keys,
        })?);
    }
    n += client.submit(&records).await?;

    // The surgeon uploads the patient's digital twin case (three stages from real
    // recordings) as one encrypted record for the patient and themselves, under their write
    // consent, and anchors every segment's hash under its id, so a viewer can prove a replay
    // is untampered.
    let mut surgeon = Signer::new("surgeon", &chain);
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
    let blob = client.put_blob(&surgeon.id, sealed).await?;
    let twin_record = surgeon.sign(TxBody::AnchorRecord {
        patient: p,
        content_hash: wallet::content_hash(case_json.as_bytes()),
        size: case_json.len() as u64,
        class: DataClass::TwinData,
        blob,
        keys: vec![
            WrappedKey { reader: p, wrapped: wallet::wrap_key(&key, &patient.id.encryption_public_key(), &mut rng)? },
            WrappedKey {
                reader: surgeon_id.address(),
                wrapped: wallet::wrap_key(&key, &surgeon_id.encryption_public_key(), &mut rng)?,
            },
        ],
    })?;
    let case_id = twin_record.id();
    n += client.submit(&[twin_record]).await?;
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
    n += client.submit(&anchors).await?;

    // The doctor prescribes (for the demo pharmacy) and claims; what they say is sealed for
    // the people concerned.
    let mut doctor = Signer::new("doctor", &chain);
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
    n += client.submit(&more).await?;
    Ok(n)
}
