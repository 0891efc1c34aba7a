//! Demo data: a hospital authority, a doctor, a surgeon, a pharmacy, an insurer, a student
//! and a patient, with consents, a prescription and a claim, submitted through the same
//! verification and rules as any client's transactions. Demo keys are derived from
//! public labels: they are for showing the system, never for real data.

use crate::api::AppState;
use ledger_protocol::crypto::sha256;
use ledger_protocol::{Actions, DataClass, PublicKey, Purpose, Role, Transaction, TxBody};
use serde::Serialize;

/// A demo identity: its name, role and (public, well-known) secret keys.
#[derive(Debug, Clone, Serialize)]
pub struct DemoIdentity {
    pub label: &'static str,
    pub name: &'static str,
    pub role: Role,
    pub address: ledger_protocol::Address,
    pub signing_secret_hex: String,
    pub encryption_secret_hex: String,
}

pub const PEOPLE: &[(&str, &str, Role)] = &[
    ("doctor", "Dr A. Rao", Role::Doctor),
    ("surgeon", "Dr M. Okafor", Role::Surgeon),
    ("pharmacy", "Riverside Pharmacy", Role::Pharmacy),
    ("insurer", "Northwind Health Insurance", Role::Insurer),
    ("student", "S. Lindqvist (medical student)", Role::Student),
    ("patient", "Jordan Smith", Role::Patient),
];

/// The demo key for `label` and purpose (`signing` or `encryption`).
pub fn demo_key(label: &str, purpose: &str) -> k256::ecdsa::SigningKey {
    let seed = sha256(&[b"healthchain-demo/", label.as_bytes(), b"/", purpose.as_bytes()]);
    k256::ecdsa::SigningKey::from_slice(&seed.0)
        .expect("a SHA-256 output is a valid secret key with overwhelming probability")
}

pub fn identities() -> Vec<DemoIdentity> {
    PEOPLE
        .iter()
        .map(|(label, name, role)| {
            let k = demo_key(label, "signing");
            DemoIdentity {
                label,
                name,
                role: *role,
                address: PublicKey::from(k.verifying_key()).address(),
                signing_secret_hex: hex::encode(k.to_bytes()),
                encryption_secret_hex: hex::encode(demo_key(label, "encryption").to_bytes()),
            }
        })
        .collect()
}

/// Seeds the demo through the node's own submission path. Skips when the patient exists.
pub async fn seed(state: &AppState) -> anyhow::Result<usize> {
    let chain = state.0.ledger.genesis.chain_id.clone();
    let pk = |label: &str, purpose: &str| PublicKey::from(demo_key(label, purpose).verifying_key());
    let patient = pk("patient", "signing").address();
    if state.0.ledger.head().state.account(&patient).is_some() {
        return Ok(0);
    }
    let now = crate::ledger::now_ms() / 1000;
    let day = 86_400;
    let mut txs = Vec::new();
    for (label, name, role) in PEOPLE.iter().filter(|p| p.2 != Role::Patient) {
        txs.push(state.sign_as_node(TxBody::RegisterProvider {
            key: pk(label, "signing"),
            encryption_key: pk(label, "encryption"),
            role: *role,
            name: (*name).into(),
        }));
    }
    let mut nonce = 0;
    let mut as_patient = |body| {
        nonce += 1;
        let k = demo_key("patient", "signing");
        Transaction { chain_id: chain.clone(), signer: PublicKey::from(k.verifying_key()), nonce, body }.sign(&k)
    };
    txs.push(as_patient(TxBody::RegisterPatient {
        name: "Jordan Smith".into(),
        encryption_key: pk("patient", "encryption"),
    }));
    txs.push(as_patient(TxBody::GrantConsent {
        grantee: pk("doctor", "signing").address(),
        classes: vec![DataClass::Conditions, DataClass::Procedures, DataClass::Observations, DataClass::Medications],
        actions: Actions::READ_WRITE,
        purpose: Purpose::Treatment,
        valid_from: now,
        valid_until: now + 90 * day,
    }));
    txs.push(as_patient(TxBody::GrantConsent {
        grantee: pk("surgeon", "signing").address(),
        classes: vec![DataClass::Procedures, DataClass::Observations, DataClass::TwinData],
        actions: Actions::READ_WRITE,
        purpose: Purpose::Treatment,
        valid_from: now,
        valid_until: now + 30 * day,
    }));
    txs.push(as_patient(TxBody::GrantConsent {
        grantee: pk("insurer", "signing").address(),
        classes: vec![DataClass::Billing],
        actions: Actions::READ,
        purpose: Purpose::Payment,
        valid_from: now,
        valid_until: now + 365 * day,
    }));
    let n = submit_all(state, txs).await?;
    // The doctor prescribes and claims once consent is on the ledger.
    let doctor = demo_key("doctor", "signing");
    let as_doctor = |nonce, body| {
        Transaction { chain_id: chain.clone(), signer: PublicKey::from(doctor.verifying_key()), nonce, body }
            .sign(&doctor)
    };
    let more = vec![
        as_doctor(
            1,
            TxBody::Prescribe {
                patient,
                medication: "Amoxicillin 500 mg capsules".into(),
                dosage: "One capsule three times a day for 7 days".into(),
                quantity: 21,
                valid_until: now + 30 * day,
            },
        ),
        as_doctor(
            2,
            TxBody::Claim {
                patient,
                insurer: pk("insurer", "signing").address(),
                amount_cents: 12_000,
                currency: "EUR".into(),
                description: "Outpatient consultation and prescription".into(),
                records: vec![],
            },
        ),
    ];
    Ok(n + submit_all(state, more).await?)
}

async fn submit_all(state: &AppState, txs: Vec<ledger_protocol::SignedTransaction>) -> anyhow::Result<usize> {
    use ledger_protocol::codec::Encode;
    let n = txs.len();
    let out = state.submit_raw(txs.iter().map(Encode::to_canonical_bytes).collect()).await?;
    for (o, t) in out.into_iter().zip(&txs) {
        if let Err(e) = o {
            anyhow::bail!("demo transaction {} was refused: {e}", t.tx.body.kind().name());
        }
    }
    Ok(n)
}
