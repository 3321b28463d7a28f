//! `GET /v1/stats`: the official-statistics breakdowns.

use serde_json::{Value, json};

use crate::helpers::{AREA, OTHER_AREA, assert_problem, referral_about, spawn_app};

#[tokio::test]
async fn the_breakdowns_count_the_referrals_of_the_area_and_their_journey() {
    let app = spawn_app().await;
    // Two from education about children of 14 and 16, one from health about an adult
    // with a mental-health need and no recorded type of concern.
    let mut adult = referral_about("Adult", "Person", "1990-01-01");
    adult["referrer"]["sector"] = json!("health");
    adult["concern"]
        .as_object_mut()
        .unwrap()
        .remove("type_of_concern");
    adult["subject"]["gender"] = json!("female");
    adult["vulnerabilities"] = json!({"mental_health": true});
    let today = chrono::Utc::now().date_naive();
    let born = |years: i32| {
        (today - chrono::Months::new(12 * years as u32 + 1))
            .format("%Y-%m-%d")
            .to_string()
    };
    app.file(&referral_about("Child", "Fourteen", &born(14)))
        .await;
    app.file(&referral_about("Child", "Sixteen", &born(16)))
        .await;
    app.file(&adult).await;
    // One more, listed and adopted through the API; and one in another area. A case
    // transferred to Pursue is not counted: in a small area the count would tell an
    // auditor or a chair that a police-only case exists.
    app.case_in("consent_pending").await;
    app.case_in("transferred_to_pursue").await;
    let elsewhere = app.token("teacher-2", &["referrer"], OTHER_AREA);
    let mut there = referral_about("Other", "Area", "2009-01-01");
    there["area"] = json!(OTHER_AREA);
    assert_eq!(
        app.post_json("/v1/referrals", &elsewhere, &there)
            .await
            .status()
            .as_u16(),
        201
    );

    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let stats: Value = app
        .get("/v1/stats", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["area"], AREA);
    assert_eq!(
        stats["journey"],
        json!({"referred": 4, "discussed_at_panel": 1, "adopted": 1}),
        "{stats}"
    );
    assert_eq!(stats["by_sector"], json!({"education": 3, "health": 1}));
    assert_eq!(
        stats["by_type_of_concern"],
        json!({"extreme_right_wing": 3, "not_recorded": 1})
    );
    assert_eq!(stats["by_gender"], json!({"female": 1, "male": 3}));
    assert_eq!(stats["by_age_band"]["11_15"], 1);
    assert_eq!(
        stats["by_age_band"]["16_17"], 2,
        "the 16-year-old and the case born in 2009"
    );
    assert_eq!(stats["by_age_band"]["31_40"], 1);
    assert_eq!(
        stats["by_age_band"]["51_plus"], 0,
        "every official band is present"
    );
    assert_eq!(
        stats["mental_health_or_neurodiversity"], 4,
        "the example body records neurodiversity"
    );
    assert_eq!(stats["by_area"], json!({AREA: 4}));
    let year = chrono::Datelike::year(&today);
    assert!(
        stats["from"].as_str().unwrap().ends_with("-04-01")
            && stats["from"].as_str().unwrap() <= &today.to_string()[..]
    );
    assert!(stats["to"].as_str().unwrap().starts_with(&year.to_string()));

    let chair: Value = app
        .get("/v1/stats", Some(&app.chair()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        chair["journey"]["referred"], 4,
        "a chair counts their own area"
    );
    let national = app.token("auditor-n", &["auditor"], "national");
    let all: Value = app
        .get("/v1/stats", Some(&national))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["journey"]["referred"], 5);
    assert_eq!(all["by_area"], json!({AREA: 4, OTHER_AREA: 1}));
}

#[tokio::test]
async fn the_period_and_the_caller_are_checked() {
    let app = spawn_app().await;
    app.file(&referral_about("Some", "One", "2008-01-01")).await;
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let past: Value = app
        .get("/v1/stats?from=2020-04-01&to=2021-03-31", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(past["journey"]["referred"], 0, "filed outside the period");
    let today = chrono::Utc::now().date_naive();
    let one_day: Value = app
        .get(
            &format!("/v1/stats?from={today}&to={today}"),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        one_day["journey"]["referred"], 1,
        "`to` counts its whole day"
    );
    assert_problem(
        app.get("/v1/stats?from=2026-05-01&to=2026-04-01", Some(&auditor))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get("/v1/stats?from=yesterday", Some(&auditor)).await,
        400,
        "invalid_query",
    )
    .await;
    for role in ["referrer", "prevent_officer", "panel_member", "admin"] {
        let token = app.token(&format!("{role}-1"), &[role], AREA);
        assert_problem(
            app.get("/v1/stats", Some(&token)).await,
            403,
            "role_not_allowed",
        )
        .await;
    }
    let read: Value = app
        .get("/v1/audit?action=stats.read", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        read["items"].as_array().unwrap().len(),
        2,
        "each read of the statistics is audited"
    );
}
