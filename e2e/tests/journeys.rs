//! The user journeys, end to end: a real ledger node serving the real release portal,
//! headless Chromium playing each person (one browser profile per actor), and after each
//! step a check of what the page shows and of what the ledger holds.
//!
//! Needs the built node and portal (`cargo xtask test` builds both); screenshots go to
//! `<target dir>/e2e-screenshots/<journey>/`.

use anyhow::{Context, Result, bail, ensure};
use e2e::browser::{Browser, WAIT};
use e2e::ledger::str_of;
use e2e::{Journey, LONG, PASSPHRASE, restore};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// The Synthea patient's bulk export (165 resources).
const SYNTHEA: &str = "static/demo/synthea-patient-a4a401d1.ndjson";
const SYNTHEA_RESOURCES: usize = 165;

/// Waits until `#who` reads exactly `expected` ("Name · role").
async fn expect_who(b: &Browser, expected: &str) -> Result<()> {
    b.poll(&format!("#who to read {expected:?}"), WAIT, async |c: &fantoccini::Client| {
        let els = c.find_all(fantoccini::Locator::Css("#who")).await?;
        match els.first() {
            Some(e) => Ok((e.text().await? == expected).then_some(())),
            None => Ok(None),
        }
    })
    .await
}

fn ids_of_class(records: &[Value], class: &str) -> Vec<String> {
    records.iter().filter(|r| r["class"] == class).filter_map(|r| r["id"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn patient_grants_consent_doctor_reads_patient_revokes() {
    e2e::run("consent", consent_journey).await;
}

async fn consent_journey(j: &Journey) -> Result<()> {
    const NAME: &str = "Alex Morgan";
    let doctor = j.demo("doctor")?.clone();

    // A new patient makes a wallet: the phrase is shown, three of its words asked back.
    let patient = j.browser("patient").await?;
    patient.open("/").await?;
    patient.wait("#create-wallet").await?;
    patient.shot("start").await?;
    // The start page is its own small module; the app module loads only when needed.
    let fetched = async || -> Result<Vec<String>> {
        let v = patient.script("return performance.getEntriesByType('resource').map(e => e.name);").await?;
        Ok(v.as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_owned)).collect())
    };
    let before = fetched().await?;
    ensure!(
        before.iter().any(|n| n.ends_with(".wasm")) && !before.iter().any(|n| n.contains("/app-")),
        "the start page should load only its own module, loaded {before:?}"
    );
    patient.click("#create-wallet").await?;
    patient.wait_path("/wallet/create", WAIT).await?;
    patient.wait("ol#mnemonic li.mnemonic-word").await?;
    let after = fetched().await?;
    ensure!(
        after.iter().any(|n| n.contains("/app-")),
        "creating a wallet should load the app module, loaded {after:?}"
    );
    let words = patient.texts("ol#mnemonic li.mnemonic-word").await?;
    ensure!(
        words.len() == 24 && words.iter().all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())),
        "the recovery phrase should be 24 lowercase words, got {words:?}"
    );
    patient.shot("recovery-phrase").await?;
    patient.click("#mnemonic-saved").await?;
    patient.click("#mnemonic-next").await?;
    let mut asked = Vec::new();
    for slot in 0..3 {
        let field = format!("#confirm-word-{slot}");
        let n: usize = patient
            .attr(&field, "data-word-index")
            .await?
            .context("a confirmation field without data-word-index")?
            .parse()
            .context("data-word-index is not a number")?;
        ensure!((1..=24).contains(&n), "the portal asks for word number {n}");
        asked.push(n);
        patient.fill(&field, &words[n - 1]).await?;
    }
    ensure!(asked.windows(2).all(|w| w[0] < w[1]), "three different words should be asked, got {asked:?}");
    patient.shot("confirm-words").await?;
    patient.click("#confirm-next").await?;
    patient.fill("#passphrase", PASSPHRASE).await?;
    patient.fill("#passphrase-repeat", PASSPHRASE).await?;
    patient.fill("#wallet-name", "Alex's laptop").await?;
    let strength = patient.text("#passphrase-strength").await?;
    ensure!(!strength.contains("weak"), "a long mixed passphrase is rated {strength:?}");
    patient.shot("passphrase").await?;
    patient.click("#create-submit").await?;
    patient.wait_path("/register", LONG).await?;
    patient.wait("#nav-lock").await?;

    // Registers on the ledger, after reading what is signed.
    patient.fill("#register-name", NAME).await?;
    patient.click("#register-submit").await?;
    let said = patient.sign("sign-registration", WAIT).await?;
    ensure!(said[0].contains(NAME) && said[0].contains("patient"), "the sheet said {said:?}");
    patient.wait_path("/patient", WAIT).await?;
    expect_who(&patient, &format!("{NAME} · patient")).await?;
    patient.click("header nav a[href='/wallet']").await?;
    let me = patient.text("#wallet-address").await?;
    ensure!(me.len() == 40 && me.chars().all(|c| c.is_ascii_hexdigit()), "the wallet shows address {me:?}");
    patient.shot("wallet").await?;
    let account = j.ledger.account(&me).await?;
    // The name is sealed: the ledger holds only its ciphertext.
    ensure!(
        account["role"] == "patient" && account["name"] == "" && !account.to_string().contains(NAME),
        "the ledger holds {account}"
    );

    // Imports the Synthea history: encrypted in the browser, anchored on the ledger.
    patient.click("header nav a[href='/patient']").await?;
    patient.click("#go-import").await?;
    patient.upload("input#import-file", &e2e::fixture(SYNTHEA)?).await?;
    let summary = patient.text("#import-summary").await?;
    ensure!(summary.contains(&format!("{SYNTHEA_RESOURCES} records")), "the import summary says {summary:?}");
    patient.shot("import-summary").await?;
    patient.click("#import-submit").await?;
    let said = patient.sign("sign-import", LONG).await?;
    ensure!(
        said.len() == SYNTHEA_RESOURCES,
        "the sheet should list {SYNTHEA_RESOURCES} records, it lists {}",
        said.len()
    );
    let result = patient.text("#import-result").await?;
    ensure!(result.contains(&format!("Imported {SYNTHEA_RESOURCES} records")), "the import result says {result:?}");
    patient.shot("import-done").await?;
    let records = j.ledger.records(&me).await?;
    ensure!(records.len() == SYNTHEA_RESOURCES, "the ledger holds {} records for the patient", records.len());
    ensure!(
        records.iter().all(|r| r["author"] == me.as_str() && r["keys"].get(&me).is_some()),
        "every imported record should be authored by the patient and carry the patient's key"
    );
    let procedures = ids_of_class(&records, "procedures");
    let conditions = ids_of_class(&records, "conditions");
    ensure!(!procedures.is_empty() && !conditions.is_empty(), "the import should hold procedures and conditions");

    // Grants Dr A. Rao read access to Procedures and Conditions.
    patient.click("header nav a[href='/patient']").await?;
    patient.click("#go-grant").await?;
    patient.select("select#grant-provider", &doctor.address).await?;
    patient.click("#class-procedures").await?;
    patient.click("#class-conditions").await?;
    ensure!(patient.wait("#grant-read").await?.is_selected().await?, "read should be ticked by default");
    ensure!(!patient.wait("#grant-write").await?.is_selected().await?, "add should not be ticked by default");
    patient.shot("grant-form").await?;
    patient.click("#grant-submit").await?;
    let said = patient.sign("sign-grant", LONG).await?;
    ensure!(
        said[0].contains(&doctor.name) && said[0].contains("read"),
        "the grant's sentence should name the doctor and reading, it says {:?}",
        said[0]
    );
    let shared = procedures.len() + conditions.len();
    ensure!(
        said.len() == 1 + shared,
        "the grant should share {shared} record keys, the sheet lists {}",
        said.len() - 1
    );
    patient.wait_path("/patient", WAIT).await?;
    let consent = j
        .ledger
        .eventually("a live consent for the doctor", WAIT, async |l| {
            Ok(l.consents(&me)
                .await?
                .into_iter()
                .find(|c| c["grantee"] == doctor.address.as_str() && c["status"] == "live"))
        })
        .await?;
    let classes: BTreeSet<&str> =
        consent["classes"].as_array().context("consent classes")?.iter().filter_map(Value::as_str).collect();
    ensure!(classes == BTreeSet::from(["conditions", "procedures"]), "the consent covers {classes:?}");
    ensure!(
        consent["actions"]["read"] == true && consent["actions"]["write"] == false && consent["purpose"] == "treatment",
        "the consent is {consent}"
    );
    let consent_id = str_of(&consent, "id")?.to_owned();
    let records = j.ledger.records(&me).await?;
    let keyed = records
        .iter()
        .filter(|r| r["class"] == "procedures" || r["class"] == "conditions")
        .filter(|r| r["keys"].get(&doctor.address).is_some())
        .count();
    ensure!(keyed == shared, "the doctor holds keys to {keyed} of the {shared} shared records");
    ensure!(
        records.iter().filter(|r| r["keys"].get(&doctor.address).is_some()).count() == shared,
        "the doctor must get no key outside the consented classes"
    );
    let item = format!("ul#consents-list li.consent-item[data-consent-id='{consent_id}'][data-status='live']");
    patient.wait(&item).await?;
    // The dashboard names the same last day as the sentence that was signed.
    let last_day =
        said[0].split("until ").nth(1).map(|s| s.trim_end_matches('.')).context("no end date in the grant")?;
    let line = patient.text(&item).await?;
    ensure!(line.contains(&format!("to {last_day}")), "signed \"until {last_day}\", the dashboard says {line:?}");
    patient.shot("consent-granted").await?;

    // The doctor, in their own browser, opens the patient and reads a Procedures record.
    let dr = j.browser("doctor").await?;
    restore(&dr, &doctor.recovery_phrase, "/provider").await?;
    expect_who(&dr, &format!("{} · doctor", doctor.name)).await?;
    let patient_link = format!("ul#patients-list li.patient-item[data-patient='{me}'] a");
    dr.wait(&patient_link).await?;
    dr.shot("my-patients").await?;
    let target = &procedures[0];
    let record_item = format!("ul#patient-records li.record-item[data-record-id='{target}']");
    let to_patient = async || -> Result<()> {
        dr.click(&patient_link).await?;
        dr.wait_path(&format!("/provider/patient/{me}"), WAIT).await?;
        dr.wait(&record_item).await?;
        Ok(())
    };
    let open_record = async || -> Result<()> {
        dr.click(&format!("{record_item} a.open-record")).await?;
        dr.wait_path(&format!("/record/{target}"), WAIT).await?;
        dr.wait("#record-content, #record-error").await?;
        Ok(())
    };
    to_patient().await?;
    ensure!(
        dr.attr(&record_item, "data-has-key").await?.as_deref() == Some("true"),
        "the doctor's list should show a key for the shared record"
    );
    dr.shot("patient-records").await?;
    open_record().await?;
    if dr.count("#record-error").await? > 0 {
        bail!("the doctor could not read the record: {}", dr.text("#record-error").await?);
    }
    dr.wait_visible("#record-content").await?;
    ensure!(dr.count("#record-content dt").await? > 0, "the decrypted record shows no rows");
    dr.wait("#record-proof[data-verified='true']").await.context("the record's inclusion proof should verify")?;
    dr.shot("record-read").await?;
    j.ledger
        .eventually("the doctor's access in the audit", WAIT, async |l| {
            let audit = l.audit(&me).await?;
            Ok(audit["entries"].as_array().and_then(|es| {
                es.iter()
                    .find(|e| {
                        e["event"] == "access"
                            && e["reader"] == doctor.address.as_str()
                            && e["record"] == target.as_str()
                    })
                    .cloned()
            }))
        })
        .await?;

    // The patient sees that read in their access log (the dashboard polls the ledger).
    let log_item = format!("ol#access-log li.access-item[data-reader='{}']:not(.refused)", doctor.address);
    patient.wait_within(&log_item, Duration::from_secs(20)).await?;
    let line = patient.text(&log_item).await?;
    ensure!(line.contains(&doctor.name), "the access log line says {line:?}");
    patient.shot("access-log").await?;

    // The patient revokes; the ledger marks the consent revoked.
    patient.click(&format!("li.consent-item[data-consent-id='{consent_id}'] button.revoke")).await?;
    patient.sign("sign-revoke", WAIT).await?;
    patient.wait(&format!("li.consent-item[data-consent-id='{consent_id}'][data-status='revoked']")).await?;
    ensure!(
        patient.count(&format!("li.consent-item[data-consent-id='{consent_id}'] button.revoke")).await? == 0,
        "a revoked consent should offer no Revoke button"
    );
    patient.shot("consent-revoked").await?;
    let status =
        j.ledger.consents(&me).await?.into_iter().find(|c| c["id"] == consent_id.as_str()).map(|c| c["status"].clone());
    ensure!(status == Some(Value::from("revoked")), "the ledger shows the consent as {status:?}");

    // The doctor's next read is refused, and the refusal is on the patient's record.
    dr.click("header nav a[href='/provider']").await?;
    to_patient().await?;
    open_record().await?;
    let code = dr.attr("#record-error", "data-code").await?;
    ensure!(
        code.as_deref() == Some("consent_revoked"),
        "the doctor's read should be refused as consent_revoked, the page says {code:?}: {}",
        dr.text("#record-error").await?
    );
    ensure!(dr.count("#record-content").await? == 0, "no content may be shown after the refusal");
    dr.shot("read-refused").await?;
    let audit = j.ledger.audit(&me).await?;
    let refused = audit["refused"].as_array().context("audit without refused")?;
    ensure!(
        refused.iter().any(|r| r["reader"] == doctor.address.as_str()
            && r["record"] == target.as_str()
            && r["code"] == "consent_revoked"),
        "the ledger's audit should list the refused read, it has {refused:?}"
    );
    let reads = audit["entries"]
        .as_array()
        .map_or(0, |es| es.iter().filter(|e| e["reader"] == doctor.address.as_str()).count());
    ensure!(reads == 1, "the refused read must not be logged as an access ({reads} accesses)");
    patient
        .wait_within(
            &format!("ol#access-log li.access-item.refused[data-reader='{}']", doctor.address),
            Duration::from_secs(20),
        )
        .await?;
    patient.shot("refused-in-access-log").await?;
    emergency_access(j, &patient, &dr, &me, &doctor).await
}

/// Emergency access, continuing the consent journey: the patient makes an emergency summary
/// (its key escrowed to the hospital); the doctor, whose consent is revoked, finds the patient
/// by ID, breaks the glass for 4 hours (24 is refused on their word alone) and reads the
/// summary decrypted; the hospital's administrator reads why and lets it last a day; the
/// patient sees a highlighted notice until they acknowledge it; a day later (test clock) the
/// access is over.
async fn emergency_access(
    j: &Journey,
    patient: &Browser,
    dr: &Browser,
    me: &str,
    doctor: &e2e::node::DemoIdentity,
) -> Result<()> {
    const WHY: &str = "Unconscious on arrival in A&E; need allergies and current problems.";
    patient.click("header nav a[href='/patient']").await?;
    patient.wait("#summary-build").await?;
    patient.click("#summary-build").await?;
    let said = patient.sign("sign-emergency-summary", LONG).await?;
    ensure!(said[0].contains("break the glass"), "the summary's sheet should say who may read it: {said:?}");
    let summary = j
        .ledger
        .eventually("the emergency summary on the ledger", WAIT, async |l| {
            Ok(ids_of_class(&l.records(me).await?, "emergency_summary").into_iter().next())
        })
        .await?;
    let authority =
        j.ledger.info().await?["node_authority"].as_str().context("info without node_authority")?.to_owned();
    let anchor = j.ledger.get(&format!("/v1/records/{summary}")).await?;
    let readers: BTreeSet<&str> =
        anchor["keys"].as_object().context("anchor keys")?.keys().map(String::as_str).collect();
    ensure!(
        readers == BTreeSet::from([me, authority.as_str()]),
        "the summary's key is for the patient and (escrowed) the hospital only, not {readers:?}"
    );
    patient.wait(&format!("#summary-state[data-record-id='{summary}']")).await?;
    patient.shot("emergency-summary").await?;

    // The doctor finds the patient by the ID on their dashboard and breaks the glass.
    dr.click("header nav a[href='/provider']").await?;
    dr.fill("#find-patient-id", me).await?;
    dr.click("#find-patient-submit").await?;
    dr.wait_path(&format!("/provider/patient/{me}"), WAIT).await?;
    dr.fill("#bg-justification", WHY).await?;
    dr.fill("#bg-hours", "24").await?;
    dr.click("#bg-submit").await?;
    dr.wait("#provider-error").await?;
    let said = dr.text("#provider-error").await?;
    ensure!(said.contains("from 1 to 4"), "24 hours on the doctor's word alone: the page said {said:?}");
    ensure!(
        dr.count("#confirm-sheet").await? == 0,
        "24 hours on the doctor's word alone must not reach the signing sheet"
    );
    dr.fill("#bg-hours", "4").await?;
    dr.click("#bg-submit").await?;
    let said = dr.sign("sign-break-glass", WAIT).await?;
    ensure!(said.iter().any(|s| s.contains(WHY)), "the break-glass sheet should show the reason: {said:?}");
    let item = format!("ul#patient-records li.record-item[data-record-id='{summary}']");
    dr.wait_within(&item, LONG).await?;
    dr.click(&format!("{item} a.open-record")).await?;
    dr.wait_path(&format!("/record/{summary}"), WAIT).await?;
    dr.wait("#record-content, #record-error").await?;
    if dr.count("#record-error").await? > 0 {
        bail!("the doctor could not open the emergency summary: {}", dr.text("#record-error").await?);
    }
    // The Synthea patient has 9 current problems; the summary shows each, decrypted here.
    let problems = dr.count("#record-content .fhir-entry[data-resource-type='Condition']").await?;
    ensure!(problems == 9, "the summary should show the 9 current problems, it shows {problems}");
    ensure!(dr.count("#record-content .fhir-entry[data-resource-type='Patient']").await? == 1, "no patient entry");
    dr.wait("#record-proof[data-verified='true']").await.context("the summary's anchor should verify")?;
    dr.shot("emergency-summary-read").await?;

    // The hospital's administrator reads why, on the review list, and lets the access last
    // a day from its start; the patient's log shows the review.
    let admin = j.browser("admin").await?;
    e2e::restore(&admin, &j.demo("admin")?.recovery_phrase, "/admin").await?;
    let item = "#break-glass-list li.break-glass-item[data-live='true']";
    admin.wait_within(item, LONG).await?;
    let listed = admin.text(item).await?;
    ensure!(listed.contains(WHY) && listed.contains(&doctor.name), "the review list shows {listed:?}");
    admin.shot("break-glass-review").await?;
    admin.click(&format!("{item} button.extend")).await?;
    let said = admin.sign("sign-review-break-glass", WAIT).await?;
    ensure!(said.iter().any(|s| s.contains("set the end of emergency access")), "the review sheet said {said:?}");
    admin.wait_within(&format!("{item} .badge:not(.emergency)"), LONG).await?;
    let reviewed = j
        .ledger
        .eventually("the review in the patient's audit", WAIT, async |l| {
            let audit = l.audit(me).await?;
            Ok(audit["entries"].as_array().and_then(|es| {
                es.iter()
                    .find(|e| e["event"] == "break_glass_reviewed" && e["clinician"] == doctor.address.as_str())
                    .cloned()
            }))
        })
        .await?;
    let started = j.ledger.audit(me).await?["entries"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["event"] == "break_glass").and_then(|e| e["at"].as_u64()))
        .context("the break-glass on the ledger")?;
    ensure!(reviewed["until"].as_u64() == Some(started + 24 * 3600), "the review set {reviewed}");
    admin.shot("break-glass-reviewed").await?;
    j.ledger
        .eventually("the break-glass read in the audit", WAIT, async |l| {
            let audit = l.audit(me).await?;
            Ok(audit["entries"].as_array().and_then(|es| {
                es.iter()
                    .find(|e| {
                        e["event"] == "access"
                            && e["reader"] == doctor.address.as_str()
                            && e["record"] == summary.as_str()
                            && e["basis"]["type"] == "break_glass"
                    })
                    .cloned()
            }))
        })
        .await?;

    // The patient is told, highlighted, with the reason and what was read, until they
    // acknowledge it; it stays acknowledged after a reload.
    let notice = format!("#emergency-notices article.emergency-notice[data-clinician='{}']", doctor.address);
    patient
        .poll(
            "the emergency notice to list the summary's read",
            Duration::from_secs(30),
            async |c: &fantoccini::Client| {
                let Some(e) = c.find_all(fantoccini::Locator::Css(&notice)).await?.into_iter().next() else {
                    return Ok(None);
                };
                let t = e.text().await?;
                Ok(t.contains("Emergency summary").then_some(t))
            },
        )
        .await
        .and_then(|t| {
            ensure!(t.contains(&doctor.name) && t.contains(WHY), "the notice says {t:?}");
            Ok(())
        })?;
    patient.shot("emergency-notice").await?;
    patient.click(&format!("{notice} button.acknowledge")).await?;
    patient.wait_gone(&notice, WAIT).await?;
    patient.click("header nav a[href='/wallet']").await?;
    patient.wait("#wallet-address").await?;
    patient.click("header nav a[href='/patient']").await?;
    patient.wait("#my-patient-id").await?;
    ensure!(patient.count(&notice).await? == 0, "an acknowledged notice should stay acknowledged");
    patient.shot("emergency-acknowledged").await?;

    // A day later (the node's test clock moved past the day the review allowed) the access is
    // over: the patient's records are closed to the doctor again, and the page says why.
    let audit = j.ledger.audit(me).await?;
    let until = audit["entries"]
        .as_array()
        .and_then(|es| {
            es.iter().find(|e| e["event"] == "break_glass_reviewed" && e["clinician"] == doctor.address.as_str())
        })
        .and_then(|e| e["until"].as_u64())
        .context("the reviewed break-glass with its end on the ledger")?;
    let now_ms = j.ledger.advance_clock(24 * 3600 + 60).await?;
    ensure!(now_ms / 1000 > until, "the clock should now be past the break-glass's end ({until})");
    dr.click("header nav a[href='/provider']").await?;
    dr.fill("#find-patient-id", me).await?;
    dr.click("#find-patient-submit").await?;
    dr.wait_path(&format!("/provider/patient/{me}"), WAIT).await?;
    dr.wait("#break-glass-ended").await.context("the doctor's page should say the emergency access ended")?;
    // What the break-glass opened is closed: the summary is no longer listed. The records the
    // patient once keyed to the doctor stay listed as anchors (their reads stay refused).
    ensure!(
        dr.count(&format!("ul#patient-records li.record-item[data-record-id='{summary}']")).await? == 0,
        "the emergency summary should not be listed once the access ended"
    );
    ensure!(
        dr.count("ul#patient-records li.record-item[data-has-key='false']").await? == 0,
        "only records keyed to the doctor may stay listed once the access ended"
    );
    ensure!(dr.count("#bg-submit").await? == 1, "breaking the glass anew stays possible");
    dr.shot("break-glass-ended").await?;
    Ok(())
}

#[tokio::test]
async fn doctor_prescribes_pharmacy_dispenses_once_insurer_pays_the_claim() {
    e2e::run("prescription", prescription_journey).await;
}

async fn prescription_journey(j: &Journey) -> Result<()> {
    const MEDICATION: &str = "Metformin 500 mg tablets";
    const DOSAGE: &str = "One tablet twice a day with meals";
    let (doctor, pharmacy, jordan) =
        (j.demo("doctor")?.clone(), j.demo("pharmacy")?.clone(), j.demo("patient")?.clone());
    let before = j.ledger.prescriptions(&jordan.address).await?.len();

    // Dr A. Rao prescribes for Jordan Smith.
    let dr = j.browser("doctor").await?;
    restore(&dr, &doctor.recovery_phrase, "/provider").await?;
    dr.click(&format!("ul#patients-list li.patient-item[data-patient='{}'] a", jordan.address)).await?;
    dr.wait_path(&format!("/provider/patient/{}", jordan.address), WAIT).await?;
    dr.fill("#rx-medication", MEDICATION).await?;
    dr.fill("#rx-dosage", DOSAGE).await?;
    dr.fill("#rx-quantity", "56").await?;
    dr.fill("#rx-days", "28").await?;
    dr.shot("prescription-form").await?;
    dr.click("#rx-submit").await?;
    let said = dr.sign("sign-prescription", WAIT).await?;
    // The doctor's ledger view names the patient by address only (their name is sealed).
    let jordan_label = format!("Patient {}", &jordan.address[..10]);
    ensure!(said[0].contains(MEDICATION) && said[0].contains(&jordan_label), "the sheet said {said:?}");
    let rx_id = dr.attr("#provider-result", "data-id").await?.context("the result names no prescription id")?;
    dr.shot("prescribed").await?;
    let rx = j.ledger.prescription(&rx_id).await?;
    // What was prescribed is sealed for the patient, the doctor and the pharmacy.
    ensure!(
        rx["prescriber"] == doctor.address.as_str()
            && rx["patient"] == jordan.address.as_str()
            && rx["pharmacy"] == pharmacy.address.as_str()
            && rx["dispensed"].is_null()
            && !rx.to_string().contains(MEDICATION)
            && !rx.to_string().contains(DOSAGE),
        "the ledger holds {rx}"
    );
    let now = j.ledger.prescriptions(&jordan.address).await?.len();
    ensure!(now == before + 1, "the patient had {before} prescriptions and now has {now}");

    // Riverside Pharmacy looks it up: signature and proof verify, ready to dispense.
    let ph = j.browser("pharmacy").await?;
    restore(&ph, &pharmacy.recovery_phrase, "/pharmacy").await?;
    ph.fill("#rx-lookup", &rx_id).await?;
    ph.click("#rx-lookup-submit").await?;
    ph.wait("#rx-status").await?;
    let (status, verified) =
        (ph.attr("#rx-status", "data-status").await?, ph.attr("#rx-status", "data-verified").await?);
    ensure!(
        status.as_deref() == Some("ready to dispense") && verified.as_deref() == Some("true"),
        "the pharmacy sees status {status:?}, verified {verified:?}"
    );
    let card = ph.text("#rx-status").await?;
    ensure!(
        card.contains(MEDICATION) && card.contains("56") && card.contains(&jordan_label) && card.contains(&doctor.name),
        "the card says {card:?}"
    );
    ph.shot("prescription-verified").await?;

    // Dispenses once; the ledger records it.
    ph.click("#dispense-submit").await?;
    ph.sign("sign-dispense", WAIT).await?;
    ph.wait("#dispense-result").await?;
    ph.wait("#rx-status[data-status='dispensed']").await?;
    ph.shot("dispensed").await?;
    let rx = j.ledger.prescription(&rx_id).await?;
    let dispensed = rx["dispensed"].clone();
    ensure!(dispensed["pharmacy"] == pharmacy.address.as_str(), "the ledger shows dispensed = {dispensed}");

    // A second dispense is refused by the ledger, and the page says why.
    ph.click("#dispense-submit").await?;
    let refusal = ph.sign_refused("sign-second-dispense").await?;
    ensure!(refusal.contains("already_dispensed"), "the sheet says {refusal:?}");
    let shown = ph.text("#dispense-error").await?;
    ensure!(shown.contains("already_dispensed"), "the page says {shown:?}");
    ph.shot("second-dispense-refused").await?;
    ph.click("#confirm-cancel").await?;
    ph.wait_gone("#confirm-sheet", WAIT).await?;
    let shown = ph.text("#dispense-error").await?;
    ensure!(shown.contains("already_dispensed"), "after closing the sheet the page says {shown:?}");
    let rx = j.ledger.prescription(&rx_id).await?;
    ensure!(rx["dispensed"] == dispensed, "the refused dispense changed the ledger: {}", rx["dispensed"]);

    // The doctor files a claim for the visit; the insurer approves it; the patient sees it.
    const CLAIM: &str = "Diabetes review and metformin start";
    let insurer = j.demo("insurer")?.clone();
    dr.fill("#claim-amount", "85.40").await?;
    dr.fill("#claim-description", CLAIM).await?;
    dr.fill("#claim-codes", "99214, E11.9").await?;
    dr.click("#claim-submit").await?;
    let said = dr.sign("sign-claim", WAIT).await?;
    ensure!(said[0].contains("EUR 85.40") && said[0].contains(CLAIM), "the sheet said {said:?}");
    let mut claim_id = None;
    for _ in 0..100 {
        claim_id = dr.attr("#provider-result", "data-id").await?.filter(|id| *id != rx_id);
        if claim_id.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let claim_id = claim_id.context("the result names no claim id")?;
    let claims = j.ledger.get(&format!("/v1/patients/{}/claims", jordan.address)).await?;
    let on_ledger = claims.as_array().and_then(|c| c.iter().find(|c| c["id"] == claim_id.as_str())).cloned();
    let on_ledger = on_ledger.with_context(|| format!("the ledger holds no claim {claim_id}: {claims}"))?;
    ensure!(
        on_ledger["insurer"] == insurer.address.as_str()
            && !on_ledger.to_string().contains(CLAIM)
            && !on_ledger.to_string().contains("85.40"),
        "the ledger holds {on_ledger}"
    );
    let (status, _) = j.ledger.get_anonymous(&format!("/v1/patients/{}/claims", jordan.address)).await?;
    ensure!(status == 401, "an anonymous caller got {status} for the patient's claims");

    let ins = j.browser("insurer").await?;
    restore(&ins, &insurer.recovery_phrase, "/insurer").await?;
    let item = format!("li.claim-item[data-claim-id='{claim_id}']");
    let card = ins.text(&item).await?;
    ensure!(card.contains("EUR 85.40") && card.contains(CLAIM) && card.contains("E11.9"), "the insurer sees {card:?}");
    ins.click(&format!("{item} button.approve")).await?;
    ins.sign("sign-approve", WAIT).await?;
    ins.wait("#claim-result").await?;
    ins.shot("claim-approved").await?;
    j.ledger
        .eventually("the claim approved", WAIT, async |l| {
            let c = l.get(&format!("/v1/patients/{}/claims", jordan.address)).await?;
            Ok(c.as_array()
                .and_then(|c| c.iter().find(|c| c["id"] == claim_id.as_str()))
                .filter(|c| c["decision"]["approved"] == true)
                .map(|_| ()))
        })
        .await?;

    let pt = j.browser("patient").await?;
    restore(&pt, &jordan.recovery_phrase, "/patient").await?;
    let mine = format!("#my-claims li[data-claim-id='{claim_id}'][data-state='approved']");
    pt.wait(&mine).await?;
    let line = pt.text(&mine).await?;
    ensure!(line.contains(CLAIM) && line.contains("approved by Northwind"), "the patient sees {line:?}");
    let rx_line = pt.text(&format!("#my-prescriptions li[data-prescription-id='{rx_id}']")).await?;
    ensure!(rx_line.contains(MEDICATION) && rx_line.contains("dispensed by Riverside"), "the patient sees {rx_line:?}");
    pt.shot("patient-claims").await?;
    Ok(())
}

#[tokio::test]
async fn wrong_passphrase_keeps_the_wallet_locked() {
    e2e::run("unlock", unlock_journey).await;
}

async fn unlock_journey(j: &Journey) -> Result<()> {
    let jordan = j.demo("patient")?.clone();
    let b = j.browser("patient").await?;
    restore(&b, &jordan.recovery_phrase, "/patient").await?;
    b.click("#nav-lock").await?;
    b.wait_path("/", WAIT).await?;
    b.wait_gone("#nav-lock", WAIT).await?;
    ensure!(b.count("#who").await? == 0, "a locked wallet shows no name");
    b.wait(&format!("#wallet-select option[value='{}']", jordan.address)).await?;
    b.shot("locked").await?;
    let nonce_before = j.ledger.account(&jordan.address).await?["nonce"].clone();

    // A wrong passphrase: a clear message, still locked.
    b.fill("#unlock-passphrase", "not-my-Passphrase-99").await?;
    b.click("#unlock-submit").await?;
    let message = b.text("#unlock-error").await?;
    ensure!(
        message.to_lowercase().contains("passphrase") && message.contains("stays locked"),
        "the unlock error says {message:?}"
    );
    // Give the app time to act on a (wrong) success before checking it did not.
    tokio::time::sleep(Duration::from_secs(1)).await;
    ensure!(b.count("#nav-lock").await? == 0 && b.count("#who").await? == 0, "a wrong passphrase unlocked the wallet");
    ensure!(b.path().await? == "/", "a wrong passphrase left the start page for {}", b.path().await?);
    b.shot("wrong-passphrase").await?;

    // The right one unlocks and opens the patient's page.
    b.fill("#unlock-passphrase", PASSPHRASE).await?;
    b.click("#unlock-submit").await?;
    b.wait("#nav-lock").await?;
    expect_who(&b, &format!("{} · patient", jordan.name)).await?;
    b.wait_path("/patient", LONG).await?;
    b.wait("#records-list li.record-item").await?;
    let shown = b.count("#records-list li.record-item").await?;
    let held = j.ledger.records(&jordan.address).await?.len();
    ensure!(shown == held, "the dashboard lists {shown} records, the ledger holds {held}");
    b.shot("unlocked").await?;
    let nonce_after = j.ledger.account(&jordan.address).await?["nonce"].clone();
    ensure!(nonce_before == nonce_after, "unlocking must sign nothing (nonce {nonce_before} -> {nonce_after})");

    // The wallet's backup file, imported in another browser: a file that is not a backup
    // is refused in words; the backup is listed there and unlocks with the passphrase.
    let backup = b
        .script(&format!(
            "return Object.keys(localStorage).filter(k => k.endsWith('{}')).map(k => localStorage.getItem(k))[0] || null;",
            jordan.address
        ))
        .await?;
    let backup = backup.as_str().context("the browser holds no keystore for the wallet")?;
    let (good, bad) = (j.dir().join("wallet-backup.json"), j.dir().join("not-a-backup.json"));
    std::fs::write(&good, backup)?;
    std::fs::write(&bad, r#"{"hello": "world"}"#)?;
    let laptop = j.browser("laptop").await?;
    laptop.open("/").await?;
    laptop.wait("#import-backup").await?;
    ensure!(laptop.count("#wallet-select").await? == 0, "a fresh browser should have no saved wallet");
    laptop.upload("#import-backup", &bad).await?;
    let message = laptop.text("#unlock-error").await?;
    ensure!(message.contains("not a HealthChain wallet backup"), "importing a wrong file says {message:?}");
    laptop.upload("#import-backup", &good).await?;
    laptop.wait(&format!("#wallet-select option[value='{}']", jordan.address)).await?;
    laptop.shot("backup-imported").await?;
    laptop.fill("#unlock-passphrase", PASSPHRASE).await?;
    laptop.click("#unlock-submit").await?;
    laptop.wait_path("/patient", LONG).await?;
    expect_who(&laptop, &format!("{} · patient", jordan.name)).await?;
    browser_defences(j, &laptop).await
}

/// The portal runs under the node's Content-Security-Policy (the unlocked dashboard above is
/// the proof that the page works under it), and script injected into the page does not run:
/// neither an inline `<script>` nor an event-handler attribute; and the bootstrap does not
/// hand the start module's exports to every script on the page (`window.wasmBindings`).
async fn browser_defences(j: &Journey, b: &Browser) -> Result<()> {
    for path in ["/", "/patient", "/v1/info"] {
        let headers = j.ledger.headers_of(path).await?;
        let csp = headers.get("content-security-policy").context("no Content-Security-Policy")?;
        ensure!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-")
                && !csp.contains("unsafe-inline")
                && csp.contains("frame-ancestors 'none'"),
            "{path}: the policy is {csp:?}"
        );
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("cross-origin-opener-policy", "same-origin"),
            ("x-frame-options", "DENY"),
        ] {
            ensure!(headers.get(name).map(String::as_str) == Some(value), "{path}: {name} is {:?}", headers.get(name));
        }
    }
    let ran = b
        .script(
            "window.__injected = 0; window.__violations = 0;
             document.addEventListener('securitypolicyviolation', () => { window.__violations += 1; });
             const s = document.createElement('script');
             s.textContent = 'window.__injected = 1;';
             document.body.appendChild(s);
             document.body.insertAdjacentHTML('beforeend', '<img id=\"injected\" src=\"data:,\" onload=\"window.__injected = 2\" onerror=\"window.__injected = 3\">');
             return window.__injected;",
        )
        .await?;
    ensure!(ran == serde_json::json!(0), "an injected inline script ran ({ran})");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = b.script("return [window.__injected, window.__violations];").await?;
    ensure!(after[0] == 0, "an injected event handler ran ({after})");
    ensure!(after[1].as_u64().unwrap_or(0) >= 2, "the browser should report both refusals ({after})");
    // The page's bootstrap leaves nothing of the start module on `window` for another script.
    let exposed = b.script("return typeof window.wasmBindings;").await?;
    ensure!(exposed == serde_json::json!("undefined"), "the start module's exports are on window ({exposed})");
    b.shot("injection-refused").await?;
    Ok(())
}

#[tokio::test]
async fn a_fresh_hospital_onboards_its_staff_and_a_deactivated_doctor_is_refused() {
    e2e::run_fresh("fresh-hospital", fresh_hospital_journey).await;
}

/// A wallet of one's own, restored from a phrase made here (new to this ledger).
fn new_phrase(label: &str) -> String {
    let entropy = ledger_protocol::crypto::sha256(&[b"e2e fresh hospital/", label.as_bytes()]).0;
    wallet::Mnemonic::from_entropy(&entropy).phrase().to_string()
}

/// The two public keys a new member of staff's Register page shows.
async fn staff_keys(b: &Browser) -> Result<(String, String)> {
    Ok((b.text("#my-signing-key").await?, b.text("#my-encryption-key").await?))
}

/// Locks the wallet and unlocks it again (so the portal reads the account anew).
async fn relock(b: &Browser, landing: &str) -> Result<()> {
    b.click("#nav-lock").await?;
    b.wait_path("/", WAIT).await?;
    b.fill("#unlock-passphrase", PASSPHRASE).await?;
    b.click("#unlock-submit").await?;
    b.wait_path(landing, LONG).await
}

/// Journeys (1) and (5): a hospital set up with `ledger-node init`, whose IT appoints an
/// administrator from the command line; the administrator registers a doctor on the admin
/// page; a new patient registers, imports a record and consents; the doctor reads it; the
/// doctor's keys are replaced (a lost phone) and the new wallet reads it once the patient
/// shares it again; the administrator deactivates the doctor, whose next transaction is
/// refused with the reason.
async fn fresh_hospital_journey(j: &Journey) -> Result<()> {
    const ADMIN: &str = "A. Admin";
    const DOCTOR: &str = "Dr P. Novak";
    ensure!(
        j.ledger.get("/v1/accounts").await?.as_array().map_or(0, Vec::len) == 1,
        "a fresh ledger has only its authority"
    );

    // The administrator-to-be makes a wallet and shows IT its public keys.
    let admin = j.browser("admin").await?;
    restore(&admin, &new_phrase("admin"), "/register").await?;
    let (sign_key, enc_key) = staff_keys(&admin).await?;
    admin.shot("admin-keys").await?;
    let cli = std::process::Command::new(e2e::node_bin()?)
        .args(["admin", "--api", &j.node.url, "--key"])
        .arg(j.node.data_dir().join("authority.key"))
        .args(["staff-add", "--role", "admin", "--name", ADMIN, "--licence", "STAFF-0001"])
        .args(["--signing-key", &sign_key, "--encryption-key", &enc_key])
        .output()?;
    ensure!(cli.status.success(), "ledger-node admin staff-add failed: {}", String::from_utf8_lossy(&cli.stderr));
    relock(&admin, "/admin").await?;
    expect_who(&admin, &format!("{ADMIN} · hospital administrator")).await?;
    admin.wait("#staff-form").await?;

    // A doctor makes a wallet; the administrator registers them on the admin page.
    let dr = j.browser("doctor").await?;
    restore(&dr, &new_phrase("doctor"), "/register").await?;
    let (dr_sign, dr_enc) = staff_keys(&dr).await?;
    admin.select("#staff-role", "0").await?;
    admin.fill("#staff-name", DOCTOR).await?;
    admin.fill("#staff-licence", "GMC 7654321").await?;
    admin.fill("#staff-key", &dr_sign).await?;
    admin.fill("#staff-encryption-key", &dr_enc).await?;
    admin.shot("register-doctor").await?;
    admin.click("#staff-submit").await?;
    let said = admin.sign("sign-register-doctor", WAIT).await?;
    ensure!(said[0].contains(DOCTOR), "the sheet said {said:?}");
    let dr_address = admin
        .poll("the doctor in the directory", WAIT, async |c: &fantoccini::Client| {
            for li in c.find_all(fantoccini::Locator::Css("#staff-list li.staff-item")).await? {
                if li.text().await?.contains(DOCTOR) {
                    return Ok(li.attr("data-address").await?);
                }
            }
            Ok(None)
        })
        .await?;
    let account = j.ledger.account(&dr_address).await?;
    ensure!(account["role"] == "doctor" && account["name"] == DOCTOR, "the ledger holds {account}");
    admin.shot("doctor-registered").await?;
    relock(&dr, "/provider").await?;

    // A new patient registers, imports a record and lets the doctor read their problems.
    let pt = j.browser("patient").await?;
    restore(&pt, &new_phrase("patient"), "/register").await?;
    pt.fill("#register-name", "Sam Carter").await?;
    pt.click("#register-submit").await?;
    pt.sign("sign-registration", WAIT).await?;
    pt.wait_path("/patient", WAIT).await?;
    let me = pt.text("#my-patient-id code").await?;
    let fhir = j.dir().join("condition.json");
    std::fs::write(
        &fhir,
        r#"{"resourceType":"Condition","clinicalStatus":{"coding":[{"code":"active"}]},"code":{"text":"Type 2 diabetes mellitus"},"onsetDateTime":"2019-04-01"}"#,
    )?;
    pt.click("#go-import").await?;
    pt.upload("input#import-file", &fhir).await?;
    pt.click("#import-submit").await?;
    pt.sign("sign-import", LONG).await?;
    pt.wait("#import-result").await?;
    pt.click("header nav a[href='/patient']").await?;
    pt.click("#go-grant").await?;
    pt.select("select#grant-provider", &dr_address).await?;
    pt.click("#class-conditions").await?;
    pt.click("#grant-submit").await?;
    let said = pt.sign("sign-grant", LONG).await?;
    ensure!(said[0].contains(DOCTOR), "the grant names {said:?}");
    pt.wait_path("/patient", WAIT).await?;
    pt.shot("consented").await?;

    // The doctor reads it.
    let record = ids_of_class(&j.ledger.records(&me).await?, "conditions").into_iter().next().context("no record")?;
    let link = format!("ul#patients-list li.patient-item[data-patient='{me}'] a");
    // The doctor's page was open before the consent; it shows the new patient by itself.
    dr.wait_within(&link, Duration::from_secs(30)).await?;
    dr.click(&link).await?;
    let item = format!("ul#patient-records li.record-item[data-record-id='{record}']");
    dr.click(&format!("{item} a.open-record")).await?;
    dr.wait("#record-content, #record-error").await?;
    if dr.count("#record-error").await? > 0 {
        bail!("the doctor could not read the record: {}", dr.text("#record-error").await?);
    }
    ensure!(dr.text("#record-content").await?.contains("diabetes"), "the decrypted record does not show the problem");
    dr.shot("record-read").await?;

    // The doctor loses their phone. On a new one they make a new wallet; the administrator
    // gives the doctor's account its keys. The old wallet, still on the patient's page, is
    // refused; the new one is the same doctor, and reads the record once the patient shares
    // it again (the key wrapped for the old encryption key opens nothing for the new one).
    dr.click("header nav a[href='/provider']").await?;
    dr.click(&link).await?;
    dr.wait("#bg-justification").await?;
    let phone = j.browser("doctor-new-phone").await?;
    restore(&phone, &new_phrase("doctor's new phone"), "/register").await?;
    let (new_sign, new_enc) = staff_keys(&phone).await?;
    let row = format!("#staff-list li.staff-item[data-address='{dr_address}']");
    admin.click(&format!("{row} button.rekey")).await?;
    admin.fill("#rekey-key", &new_sign).await?;
    admin.fill("#rekey-encryption-key", &new_enc).await?;
    admin.shot("rekey-doctor").await?;
    admin.click("#rekey-submit").await?;
    let said = admin.sign("sign-rekey", WAIT).await?;
    ensure!(said[0].contains(DOCTOR) && said[0].contains("new keys"), "the sheet said {said:?}");
    admin.wait("#admin-result").await?;
    let account = j.ledger.account(&dr_address).await?;
    ensure!(account["key"] == new_sign.as_str() && account["rekeyed_at"].is_u64(), "the ledger holds {account}");
    // The old wallet cannot even prepare a transaction: the node no longer answers its key.
    dr.fill("#bg-justification", "Chest pain on arrival, need the history urgently.").await?;
    dr.click("#bg-submit").await?;
    let refused = dr.text("#confirm-error").await?;
    ensure!(refused.contains("replaced by the hospital"), "the old wallet's sheet says {refused:?}");
    dr.shot("refused-replaced-key").await?;
    relock(&phone, "/provider").await?;
    expect_who(&phone, &format!("{DOCTOR} · doctor")).await?;
    let share = "li.consent-item button.share-again";
    pt.wait_within(share, Duration::from_secs(30)).await?;
    pt.shot("share-again").await?;
    pt.click(share).await?;
    pt.sign("sign-share-again", LONG).await?;
    pt.poll("the share offer to go", WAIT, async |c: &fantoccini::Client| {
        Ok(c.find_all(fantoccini::Locator::Css("button.share-again")).await?.is_empty().then_some(()))
    })
    .await?;
    phone.wait_within(&link, Duration::from_secs(30)).await?;
    phone.click(&link).await?;
    phone.click(&format!("{item} a.open-record")).await?;
    phone.wait("#record-content, #record-error").await?;
    if phone.count("#record-error").await? > 0 {
        bail!("the doctor's new wallet could not read the record: {}", phone.text("#record-error").await?);
    }
    ensure!(phone.text("#record-content").await?.contains("diabetes"), "the new wallet does not show the problem");
    phone.shot("record-read-new-keys").await?;
    let dr = phone;

    // The doctor keeps the patient's page open; the administrator deactivates them.
    dr.click("header nav a[href='/provider']").await?;
    dr.click(&link).await?;
    dr.wait("#bg-justification").await?;
    admin.click(&format!("{row} button.deactivate")).await?;
    admin.sign("sign-deactivate", WAIT).await?;
    admin.wait(&format!("{row}[data-active='false']")).await?;
    admin.shot("doctor-deactivated").await?;
    ensure!(
        j.ledger.account(&dr_address).await?["deactivated_at"].is_u64(),
        "the ledger should mark the doctor deactivated"
    );

    // Their next transaction is refused, in words.
    dr.fill("#bg-justification", "Chest pain on arrival, need the history urgently.").await?;
    dr.click("#bg-submit").await?;
    let refused = dr.sign_refused("sign-after-deactivation").await?;
    ensure!(refused.contains("deactivated by the hospital"), "the refusal says {refused:?}");
    dr.shot("refused-deactivated").await?;
    Ok(())
}
