//! Hardening: look-alike names of other scripts, control characters in query parameters
//! and token claims, the security headers, `/metrics` access and meeting dates.

use serde_json::{Value, json};

use crate::helpers::{referral_about, spawn_app};

/// The ids of the cases `case` is linked to as a repeat referral.
fn linked(case: &Value) -> Vec<String> {
    case["linked_cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|link| link["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_name_written_in_greek_look_alike_capitals_is_linked_to_the_latin_spelling() {
    let app = spawn_app().await;
    let officer = app.officer();
    let first = app
        .file(&referral_about("Ben", "Mehta", "2009-06-01"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let variants = [
        // Β Ε Ν and Μ Ε Η Τ Α: Greek capitals alone, as typed on a Greek keyboard.
        (
            "\u{0392}\u{0395}\u{039D}",
            "\u{039C}\u{0395}\u{0397}\u{03A4}\u{0391}",
            "Greek capitals alone",
        ),
        // Β and Μ, Η among Latin letters.
        (
            "\u{0392}en",
            "\u{039C}e\u{0397}ta",
            "Greek capitals among Latin",
        ),
    ];
    for (given, family, why) in variants {
        let id = app.file(&referral_about(given, family, "2009-06-01")).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let case: Value = app
            .get(&format!("/v1/cases/{id}"), Some(&officer))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(case["repeat_referral"], true, "{why}: {case}");
        assert!(linked(&case).contains(&first), "{why}: {case}");
        assert_eq!(
            case["referral"]["subject"]["family_name"],
            json!(family),
            "{why}: stored as typed"
        );
    }
    let someone_else = app
        .file(&referral_about("Ken", "Mehta", "2009-06-01"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let case: Value = app
        .get(&format!("/v1/cases/{someone_else}"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["repeat_referral"], false, "another name: {case}");
}
