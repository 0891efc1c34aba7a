//! A FHIR resource shown as readable rows. Every value is inserted as text: markup in a
//! record (a narrative `<div>`, a `<script>`, an `onerror` attribute) is displayed, never
//! executed. A Bundle (an emergency summary) is shown entry by entry.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FhirViewProps {
    /// The record's JSON text, as decrypted.
    pub json: AttrValue,
}

#[function_component(FhirView)]
pub fn fhir_view(p: &FhirViewProps) -> Html {
    match serde_json::from_str::<serde_json::Value>(&p.json) {
        Err(e) => html! { <p class="error" role="alert">{ format!("The record is not JSON: {e}") }</p> },
        Ok(v) if v["resourceType"] == "Bundle" => html! {
            <div id="record-content" class="bundle">
                { for v["entry"].as_array().into_iter().flatten().map(|e| html! {
                    <section class="fhir-entry" data-resource-type={e["resource"]["resourceType"].as_str().unwrap_or_default().to_owned()}>
                        <h3>{ crate::fhir::title(&e["resource"]) }</h3>
                        <dl class="details">
                            { for crate::fhir::summary(&e["resource"]).into_iter().map(|(l, v)| html! { <><dt>{ l }</dt><dd>{ v }</dd></> }) }
                        </dl>
                    </section>
                }) }
            </div>
        },
        Ok(v) => html! {
            <dl id="record-content" class="details">
                { for crate::fhir::summary(&v).into_iter().map(|(l, v)| html! { <><dt>{ l }</dt><dd>{ v }</dd></> }) }
            </dl>
        },
    }
}
