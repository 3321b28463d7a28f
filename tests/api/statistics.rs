//! `GET /v1/stats`: the official-statistics breakdowns.

use serde_json::{Value, json};

use crate::helpers::{
    AREA, OTHER_AREA, TestApp, assert_problem, referral_about, spawn_app, spawn_app_with,
};

/// A server that withholds nothing (threshold 1), to check the counting itself.
async fn spawn_unsuppressed() -> TestApp {
    spawn_app_with(|s| s.statistics.suppression_threshold = 1).await
}

#[tokio::test]
async fn the_breakdowns_count_the_referrals_of_the_area_and_their_journey() {
    let app = spawn_unsuppressed().await;
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
    // transferred to Pursue is counted, as every referral is: it must not drop out of
    // a total when it is transferred.
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
        json!({"referred": 5, "discussed_at_panel": 1, "adopted": 1}),
        "{stats}"
    );
    assert_eq!(stats["by_sector"], json!({"education": 4, "health": 1}));
    assert_eq!(
        stats["by_type_of_concern"],
        json!({"extreme_right_wing": 4, "not_recorded": 1})
    );
    assert_eq!(stats["by_gender"], json!({"female": 1, "male": 4}));
    assert_eq!(stats["by_age_band"]["11_15"], 1);
    assert_eq!(
        stats["by_age_band"]["16_17"], 3,
        "the 16-year-old and the two cases born in 2009"
    );
    assert_eq!(stats["by_age_band"]["31_40"], 1);
    assert_eq!(
        stats["by_age_band"]["51_plus"], 0,
        "every official band is present"
    );
    assert_eq!(
        stats["mental_health_or_neurodiversity"], 5,
        "the example body records neurodiversity"
    );
    assert_eq!(stats["by_area"], json!({AREA: 5}));
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
        chair["journey"]["referred"], 5,
        "a chair counts their own area"
    );
    let national = app.token("auditor-n", &["auditor"], "national");
    let all: Value = app
        .get("/v1/stats", Some(&national))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["journey"]["referred"], 6);
    assert_eq!(all["by_area"], json!({AREA: 5, OTHER_AREA: 1}));
}

#[tokio::test]
async fn the_period_and_the_caller_are_checked() {
    let app = spawn_unsuppressed().await;
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

/// Files `education` referrals from education and `health` from health, in `AREA`.
async fn file_by_sector(app: &TestApp, education: usize, health: usize) {
    for i in 0..education + health {
        let mut body = referral_about("Person", &format!("Number{i}"), "2009-05-01");
        if i >= education {
            body["referrer"]["sector"] = json!("health");
        }
        app.file(&body).await;
    }
}

async fn stats_json(app: &TestApp, token: &str) -> Value {
    let response = app.get("/v1/stats", Some(token)).await;
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

async fn stats_csv(app: &TestApp, token: &str) -> (reqwest::header::HeaderMap, String) {
    let response = app.get("/v1/stats?format=csv", Some(token)).await;
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    (headers, response.text().await.unwrap())
}

/// The CSV parsed by a CSV reader: the header and the rows.
fn parse_csv(body: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            r.expect("a well-formed row")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    (header, rows)
}

/// The `count` of a row of the CSV.
fn csv_count<'a>(rows: &'a [Vec<String>], breakdown: &str, category: &str) -> &'a str {
    &rows
        .iter()
        .find(|r| r[3] == breakdown && r[4] == category)
        .unwrap_or_else(|| panic!("no row {breakdown},{category}: {rows:?}"))[5]
}

/// Asserts that no withheld count can be had by subtracting a breakdown's shown cells
/// from the shown total: either nothing is withheld, or at least two cells are and
/// what they share is more than 1 each (a withheld count is never 0). With the total
/// withheld, no breakdown may add up to it.
fn assert_nothing_derivable(stats: &Value) {
    let suppressed = json!({"suppressed": true});
    let total = stats["journey"]["referred"].as_u64();
    for breakdown in [
        "by_sector",
        "by_type_of_concern",
        "by_age_band",
        "by_gender",
        "by_area",
    ] {
        let cells: Vec<&Value> = stats[breakdown].as_object().unwrap().values().collect();
        let withheld = cells.iter().filter(|c| ***c == suppressed).count() as u64;
        let shown: u64 = cells.iter().filter_map(|c| c.as_u64()).sum();
        assert_eq!(
            withheld + cells.iter().filter(|c| c.is_u64()).count() as u64,
            cells.len() as u64,
            "every count is a number or the marker: {stats}"
        );
        match total {
            Some(total) => {
                let rest = total - shown;
                assert!(
                    withheld == 0 || (withheld >= 2 && rest > withheld),
                    "{breakdown}: {withheld} withheld cell(s) sharing {rest}: {stats}"
                );
            }
            None => assert!(withheld > 0, "{breakdown} adds up to the total: {stats}"),
        }
    }
}

#[tokio::test]
async fn small_counts_are_withheld_from_an_area_auditor_and_shown_to_a_national_one() {
    // Arrange: six referrals from education and one from health; the default threshold, 5.
    let app = spawn_app().await;
    file_by_sector(&app, 6, 1).await;
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let national = app.token("auditor-n", &["auditor"], "national");
    let suppressed = json!({"suppressed": true});

    // Act and assert: JSON, for the area's auditor and its chair.
    for token in [&auditor, &app.chair()] {
        let stats = stats_json(&app, token).await;
        assert_eq!(
            stats["suppression"],
            json!({"applied": true, "threshold": 5})
        );
        assert_eq!(stats["journey"]["referred"], 7, "{stats}");
        assert_eq!(stats["by_sector"]["health"], suppressed, "{stats}");
        assert_eq!(
            stats["by_sector"]["education"], suppressed,
            "7 - 6 would give the 1 away: {stats}"
        );
        assert_eq!(stats["by_type_of_concern"]["extreme_right_wing"], 7);
        assert_eq!(stats["by_age_band"]["51_plus"], 0, "0 is shown: {stats}");
        assert_eq!(stats["by_area"][AREA], 7);
        assert_nothing_derivable(&stats);
    }
    // The same figures as CSV.
    let (headers, body) = stats_csv(&app, &auditor).await;
    let (header, rows) = parse_csv(&body);
    assert_eq!(
        header,
        [
            "from",
            "to",
            "area",
            "breakdown",
            "category",
            "count",
            "suppression_threshold"
        ]
    );
    assert_eq!(csv_count(&rows, "by_sector", "health"), "[c]");
    assert_eq!(csv_count(&rows, "by_sector", "education"), "[c]");
    assert_eq!(csv_count(&rows, "journey", "referred"), "7");
    assert_eq!(csv_count(&rows, "by_age_band", "51_plus"), "0");
    assert!(rows.iter().all(|r| r[2] == AREA && r[6] == "5"), "{body}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let today = chrono::Utc::now().date_naive();
    let from = rows[0][0].clone();
    assert_eq!(rows[0][1], today.to_string());
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"pathway-statistics-{from}-{today}.csv\"").as_str()
    );
    assert!(body.ends_with("\r\n") && !body.replace("\r\n", "").contains('\n'));

    // A national auditor sees every count.
    let all = stats_json(&app, &national).await;
    assert_eq!(all["suppression"]["applied"], false, "{all}");
    assert_eq!(all["by_sector"], json!({"education": 6, "health": 1}));
    let (_, body) = stats_csv(&app, &national).await;
    let (_, rows) = parse_csv(&body);
    assert_eq!(csv_count(&rows, "by_sector", "health"), "1");
    assert!(rows.iter().all(|r| r[6].is_empty()), "{body}");
}

#[tokio::test]
async fn a_total_never_gives_a_withheld_count_away() {
    // One referral from health among sixteen from education, in every breakdown but
    // sector a single cell: the next-smallest cell goes with the small one. Then with a
    // threshold above the total, the total itself is withheld.
    let app = spawn_app().await;
    file_by_sector(&app, 16, 1).await;
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let stats = stats_json(&app, &auditor).await;
    assert_eq!(stats["journey"]["referred"], 17);
    assert_nothing_derivable(&stats);

    let app = spawn_app_with(|s| s.statistics.suppression_threshold = 8).await;
    file_by_sector(&app, 4, 3).await;
    let stats = stats_json(&app, &app.token("auditor-1", &["auditor"], AREA)).await;
    assert_eq!(stats["journey"]["referred"], json!({"suppressed": true}));
    assert_eq!(stats["by_area"][AREA], json!({"suppressed": true}));
    assert_nothing_derivable(&stats);
    // The audit entry of the read, which the area's auditors can list, records the
    // figures as published, not the withheld total.
    let log: Value = app
        .get(
            "/v1/audit?action=stats.read",
            Some(&app.token("auditor-1", &["auditor"], AREA)),
        )
        .await
        .json()
        .await
        .unwrap();
    let details = &log["items"][0]["details"];
    assert_eq!(details["referrals"], json!({"suppressed": true}), "{log}");
    assert_eq!(details["suppression_threshold"], 8, "{log}");
}

#[tokio::test]
async fn the_threshold_is_a_setting() {
    // Two from education, one from health: threshold 3 withholds both sectors (1 and
    // 2) but not the total; threshold 1 withholds nothing.
    let app = spawn_app_with(|s| s.statistics.suppression_threshold = 3).await;
    file_by_sector(&app, 2, 1).await;
    let stats = stats_json(&app, &app.token("auditor-1", &["auditor"], AREA)).await;
    assert_eq!(
        stats["suppression"],
        json!({"applied": true, "threshold": 3})
    );
    assert_eq!(stats["journey"]["referred"], 3, "{stats}");
    let suppressed = json!({"suppressed": true});
    assert_eq!(
        stats["by_sector"],
        json!({"education": suppressed, "health": suppressed})
    );
    assert_nothing_derivable(&stats);

    let app = spawn_unsuppressed().await;
    file_by_sector(&app, 2, 1).await;
    let stats = stats_json(&app, &app.chair()).await;
    assert_eq!(
        stats["suppression"],
        json!({"applied": true, "threshold": 1})
    );
    assert_eq!(stats["by_sector"], json!({"education": 2, "health": 1}));
}

#[tokio::test]
async fn the_format_is_chosen_by_parameter_or_accept_and_checked() {
    let app = spawn_app().await;
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let fetch = |query: &'static str, accept: Option<&'static str>| {
        let mut req = app.client.get(app.url(&format!("/v1/stats{query}")));
        req = req.bearer_auth(&auditor);
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        async move { req.send().await.unwrap() }
    };
    let content_type = |r: &reqwest::Response| r.headers()["content-type"].clone();
    for (query, accept, expected) in [
        ("", None, "application/json"),
        ("", Some("text/csv"), "text/csv; charset=utf-8"),
        (
            "",
            Some("application/json;q=0.5, text/csv"),
            "text/csv; charset=utf-8",
        ),
        (
            "",
            Some("application/json, text/csv;q=0.5"),
            "application/json",
        ),
        ("?format=json", Some("text/csv"), "application/json"),
        (
            "?format=csv",
            Some("application/json"),
            "text/csv; charset=utf-8",
        ),
        ("?format=csv", None, "text/csv; charset=utf-8"),
    ] {
        let response = fetch(query, accept).await;
        assert_eq!(response.status().as_u16(), 200, "{query} {accept:?}");
        assert_eq!(content_type(&response), expected, "{query} {accept:?}");
    }

    // Another format is refused, naming the parameter.
    for bad in ["xml", "CSV", ""] {
        let body = assert_problem(
            app.get(&format!("/v1/stats?format={bad}"), Some(&auditor))
                .await,
            400,
            "invalid_query",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "format", "{body}");
        assert_eq!(body["errors"][0]["in"], "query", "{body}");
    }

    // CSV is no way round the roles: still 403, as problem+json.
    for role in ["referrer", "prevent_officer", "panel_member", "admin"] {
        let token = app.token(&format!("{role}-1"), &[role], AREA);
        assert_problem(
            app.get("/v1/stats?format=csv", Some(&token)).await,
            403,
            "role_not_allowed",
        )
        .await;
        let response = app
            .client
            .get(app.url("/v1/stats"))
            .bearer_auth(&token)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_problem(response, 403, "role_not_allowed").await;
    }
    assert_problem(
        app.get("/v1/stats?format=csv", None).await,
        401,
        "token_missing",
    )
    .await;
}
