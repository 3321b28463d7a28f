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
    // transferred to Pursue is counted like any other: it is a referral of the period,
    // and nothing in the statistics says what became of it.
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
    // Without parameters: the current financial year, in progress.
    let (year, _) = this_year_and_quarter();
    assert_eq!(stats["period"], year.name, "{stats}");
    assert_eq!(stats["from"], year.from, "{stats}");
    assert_eq!(stats["to"], year.to, "{stats}");

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
    assert_eq!(all["period"], year.name, "the same default for everyone");
}

/// A published period as the API names it, with its first and last days: worked out
/// here, not by the code under test.
struct Named {
    name: String,
    from: String,
    to: String,
}

/// Today's financial year (1 April to 31 March) and quarter (Q1 April to June ... Q4
/// January to March).
fn this_year_and_quarter() -> (Named, Named) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let start = if today.month() >= 4 {
        today.year()
    } else {
        today.year() - 1
    };
    let name = format!("{start}-{:02}", (start + 1) % 100);
    let (q, first, last) = match today.month() {
        4..=6 => (1, (start, "04-01"), (start, "06-30")),
        7..=9 => (2, (start, "07-01"), (start, "09-30")),
        10..=12 => (3, (start, "10-01"), (start, "12-31")),
        _ => (4, (start + 1, "01-01"), (start + 1, "03-31")),
    };
    (
        Named {
            name: name.clone(),
            from: format!("{start}-04-01"),
            to: format!("{}-03-31", start + 1),
        },
        Named {
            name: format!("{name}-Q{q}"),
            from: format!("{}-{}", first.0, first.1),
            to: format!("{}-{}", last.0, last.1),
        },
    )
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
    assert_eq!(past["period"], "2020-21", "{past}");
    let today = chrono::Utc::now().date_naive();
    let national = app.token("auditor-n", &["auditor"], "national");
    let one_day: Value = app
        .get(
            &format!("/v1/stats?from={today}&to={today}"),
            Some(&national),
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
        1,
        "each read of the statistics is audited, in the reader's area"
    );
    assert_eq!(read["items"][0]["details"]["period"], "2020-21", "{read}");
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
    let (year, _) = this_year_and_quarter();
    assert_eq!((&rows[0][0], &rows[0][1]), (&year.from, &year.to));
    assert_eq!(
        headers["content-disposition"],
        format!(
            "attachment; filename=\"pathway-statistics-{}-{}.csv\"",
            year.from, year.to
        )
        .as_str()
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

#[tokio::test]
async fn an_area_reader_is_shown_published_periods_only_and_a_national_auditor_any_range() {
    let app = spawn_app().await;
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let national = app.token("auditor-n", &["auditor"], "national");
    for reader in [&app.chair(), &auditor] {
        // A year or a quarter of one, by name or by its days.
        for (query, period, from, to) in [
            ("period=2024-25", "2024-25", "2024-04-01", "2025-03-31"),
            (
                "period=2024-25-Q1",
                "2024-25-Q1",
                "2024-04-01",
                "2024-06-30",
            ),
            (
                "period=2024-25-Q4",
                "2024-25-Q4",
                "2025-01-01",
                "2025-03-31",
            ),
            (
                "from=2024-07-01&to=2024-09-30",
                "2024-25-Q2",
                "2024-07-01",
                "2024-09-30",
            ),
            ("to=2025-03-31", "2024-25", "2024-04-01", "2025-03-31"),
        ] {
            let response = app.get(&format!("/v1/stats?{query}"), Some(reader)).await;
            assert_eq!(response.status().as_u16(), 200, "{query}");
            let stats: Value = response.json().await.unwrap();
            assert_eq!(
                (&stats["period"], &stats["from"], &stats["to"]),
                (&json!(period), &json!(from), &json!(to)),
                "{query}"
            );
        }
        // Any other range is refused, naming the periods around it; as CSV too.
        for query in [
            "from=2024-05-01&to=2024-05-02",
            "from=2024-04-01&to=2024-08-01",
            "from=2024-04-02&to=2025-03-31",
            "from=2024-06-01&to=2025-05-31",
            "from=2024-04-01&to=2024-09-30",
            "from=2024-04-01&to=2024-07-31&format=csv",
            "from=2024-04-01&to=2024-04-01",
        ] {
            let body = assert_problem(
                app.get(&format!("/v1/stats?{query}"), Some(reader)).await,
                422,
                "unpublished_period",
            )
            .await;
            let detail = body["detail"].as_str().unwrap();
            assert!(
                detail.contains("2024-25 (2024-04-01 to 2025-03-31)")
                    && detail.contains("2024-25-Q3 (2024-10-01 to 2024-12-31)"),
                "{query}: {detail}"
            );
        }
    }
    // A national auditor counts any range of days, and the published periods too.
    for (query, period) in [
        ("from=2024-05-01&to=2024-05-02", Value::Null),
        ("from=2024-04-01&to=2024-04-01", Value::Null),
        ("period=2024-25-Q1", json!("2024-25-Q1")),
        ("from=2024-04-01&to=2025-03-31", json!("2024-25")),
    ] {
        let response = app
            .get(&format!("/v1/stats?{query}"), Some(&national))
            .await;
        assert_eq!(response.status().as_u16(), 200, "{query}");
        let stats: Value = response.json().await.unwrap();
        assert_eq!(stats["period"], period, "{query}");
        assert_eq!(stats["suppression"]["applied"], false);
    }
    // A period that is not one, or one with dates, is refused on `period`, for everyone.
    for reader in [&app.chair(), &national] {
        for (query, code) in [
            ("period=2024-26", "invalid_period"),
            ("period=2024-25-Q5", "invalid_period"),
            ("period=2024", "invalid_period"),
            ("period=", "invalid_period"),
            ("period=2024-25&from=2024-04-01", "period_with_dates"),
            ("period=2024-25&to=2025-03-31", "period_with_dates"),
        ] {
            let body = assert_problem(
                app.get(&format!("/v1/stats?{query}"), Some(reader)).await,
                422,
                "validation_failed",
            )
            .await;
            assert_eq!(body["errors"][0]["field"], "period", "{query}: {body}");
            assert_eq!(body["errors"][0]["code"], code, "{query}: {body}");
        }
    }
    // The document gives `period` the pattern the server reads it by.
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let param = doc["paths"]["/v1/stats"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "period")
        .cloned()
        .unwrap();
    assert_eq!(
        param["schema"]["pattern"],
        pathway::domain::period::PERIOD_PATTERN
    );
}

/// Files `body` and moves its case's filing to noon of `day` (`YYYY-MM-DD`), straight in
/// the database: the API files referrals now, and the statistics count them by the day
/// they were filed.
async fn file_on(app: &TestApp, day: &str, body: &Value) -> String {
    use diesel::prelude::*;
    use pathway::store::schema::cases;
    let id = app.file(body).await["id"].as_str().unwrap().to_owned();
    let at = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let moved = diesel::update(cases::table.filter(cases::id.eq(&id)))
        .set(cases::submitted_at.eq(at))
        .execute(&mut app.db.connect())
        .expect("move the filing");
    assert_eq!(moved, 1);
    id
}

/// A referral about someone of this `gender`, from this `sector`, with this type of
/// concern and, or not, a mental-health need (and no other).
fn referral_of(n: usize, gender: &str, sector: &str, concern: &str, needs: bool) -> Value {
    let mut body = referral_about("Person", &format!("Number{n}"), "2009-05-01");
    body["subject"]["gender"] = json!(gender);
    body["referrer"]["sector"] = json!(sector);
    body["concern"]["type_of_concern"] = json!(concern);
    body["vulnerabilities"] =
        json!({"send": false, "mental_health": needs, "neurodiversity": false});
    body
}

/// A count of a statistics body by (breakdown, category), as the CSV names them; a
/// category a breakdown does not list is 0.
fn count_at(stats: &Value, breakdown: &str, category: &str) -> Value {
    let cell = match breakdown {
        "journey" => &stats["journey"][category],
        "needs" => &stats["mental_health_or_neurodiversity"],
        _ => &stats[breakdown][category],
    };
    if cell.is_null() {
        json!(0)
    } else {
        cell.clone()
    }
}

/// Every (breakdown, category) of any of `tables`.
fn cell_names(tables: &[&Value]) -> std::collections::BTreeSet<(String, String)> {
    let mut names = std::collections::BTreeSet::new();
    for t in tables {
        for stage in ["referred", "discussed_at_panel", "adopted"] {
            names.insert(("journey".to_owned(), stage.to_owned()));
        }
        names.insert(("needs".to_owned(), String::new()));
        for b in [
            "by_sector",
            "by_type_of_concern",
            "by_age_band",
            "by_gender",
            "by_area",
        ] {
            for k in t[b].as_object().unwrap().keys() {
                names.insert((b.to_owned(), k.clone()));
            }
        }
    }
    names
}

/// Asserts that no count withheld from a year or a quarter can be had as the year less
/// the other quarters (one withheld quarter under a shown year, or several that could
/// only hold 1 each), or as the sum of four shown quarters.
fn assert_nothing_derivable_across(year: &Value, quarters: &[Value]) {
    let suppressed = json!({"suppressed": true});
    let mut tables = vec![year];
    tables.extend(quarters);
    for (b, k) in cell_names(&tables) {
        let cells: Vec<Value> = quarters.iter().map(|q| count_at(q, &b, &k)).collect();
        let withheld = cells.iter().filter(|c| **c == suppressed).count() as u64;
        let shown: u64 = cells.iter().filter_map(Value::as_u64).sum();
        match count_at(year, &b, &k).as_u64() {
            Some(total) => {
                let rest = total - shown;
                assert!(
                    withheld == 0 || (withheld >= 2 && rest > withheld),
                    "{b} {k}: {withheld} withheld quarter(s) sharing {rest}: {year} {quarters:?}"
                );
            }
            None => assert!(
                withheld > 0 || shown == 0,
                "{b} {k}: the quarters add up to the year's: {year} {quarters:?}"
            ),
        }
    }
}

#[tokio::test]
async fn the_differencing_attack_gives_nothing_back() {
    // Arrange: in 2024-25, twelve referrals on one day of each of the first, third and
    // fourth quarters, half of each group girls, from health, about Islamist ideology
    // and recording a mental-health need, the other half none of these; and in the
    // second quarter, on 1 August, one girl referred from health about Islamist ideology
    // with a mental-health need.
    let app = spawn_app().await;
    let mut n = 0;
    for day in ["2024-05-01", "2024-11-01", "2025-02-01"] {
        for i in 0..12 {
            let body = if i % 2 == 0 {
                referral_of(n, "female", "health", "islamist", true)
            } else {
                referral_of(n, "male", "education", "extreme_right_wing", false)
            };
            file_on(&app, day, &body).await;
            n += 1;
        }
    }
    file_on(
        &app,
        "2024-08-01",
        &referral_of(n, "female", "health", "islamist", true),
    )
    .await;
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let national = app.token("auditor-n", &["auditor"], "national");
    let get = |query: String, token: String| {
        let app = &app;
        async move {
            let response = app.get(&format!("/v1/stats?{query}"), Some(&token)).await;
            assert_eq!(response.status().as_u16(), 200, "{query}");
            response.json::<Value>().await.unwrap()
        }
    };
    // The attack, with the exact counts that only a national auditor is shown: 1 April
    // to 1 August less 1 April to 31 July is the one girl of 1 August, every count of
    // both ranges large enough to be shown on its own.
    let longer = get("from=2024-04-01&to=2024-08-01".into(), national.clone()).await;
    let shorter = get("from=2024-04-01&to=2024-07-31".into(), national.clone()).await;
    for (b, k) in [
        ("by_gender", "female"),
        ("by_sector", "health"),
        ("by_type_of_concern", "islamist"),
        ("needs", ""),
    ] {
        let (l, s) = (count_at(&longer, b, k), count_at(&shorter, b, k));
        assert_eq!((l.as_u64(), s.as_u64()), (Some(7), Some(6)), "{b} {k}");
    }
    for (b, k) in [("by_gender", "male"), ("by_sector", "education")] {
        assert_eq!(count_at(&longer, b, k), count_at(&shorter, b, k), "{b} {k}");
    }

    for reader in [app.chair(), auditor] {
        // Act and assert: the two overlapping ranges are refused, as JSON and as CSV.
        for query in [
            "from=2024-04-01&to=2024-08-01",
            "from=2024-04-01&to=2024-07-31",
            "from=2024-08-01&to=2024-08-01",
            "from=2024-04-01&to=2024-08-01&format=csv",
        ] {
            assert_problem(
                app.get(&format!("/v1/stats?{query}"), Some(&reader)).await,
                422,
                "unpublished_period",
            )
            .await;
        }
        // The published periods: the year, and its quarters, the second holding the girl.
        let year = get("period=2024-25".into(), reader.clone()).await;
        let mut quarters = Vec::new();
        for q in 1..=4 {
            quarters.push(get(format!("period=2024-25-Q{q}"), reader.clone()).await);
        }
        let suppressed = json!({"suppressed": true});
        assert_eq!(quarters[1]["journey"]["referred"], suppressed);
        // Her gender, sector, type of concern and need stay withheld: not one of them is
        // the year less the three other quarters.
        for (b, k) in [
            ("by_gender", "female"),
            ("by_sector", "health"),
            ("by_type_of_concern", "islamist"),
            ("needs", ""),
        ] {
            assert_eq!(count_at(&quarters[1], b, k), suppressed, "{b} {k}");
            let mut others = vec![count_at(&year, b, k)];
            others.extend([0, 2, 3].map(|q| count_at(&quarters[q], b, k)));
            assert!(
                others.contains(&suppressed),
                "{b} {k}: the year and the other quarters are all shown: {others:?}"
            );
        }
        assert_nothing_derivable_across(&year, &quarters);
        for table in std::iter::once(&year).chain(&quarters) {
            assert_nothing_derivable(table);
        }
        // The same question gets the same answer, and the quarter asked alone is the
        // quarter published with its year.
        assert_eq!(
            get("period=2024-25-Q2".into(), reader.clone()).await,
            quarters[1]
        );
        assert_eq!(
            get("from=2024-07-01&to=2024-09-30".into(), reader.clone()).await,
            quarters[1]
        );
        assert_eq!(get("period=2024-25".into(), reader.clone()).await, year);
    }
    // A chair and an area auditor are shown the same figures.
    assert_eq!(
        get("period=2024-25-Q3".into(), app.chair()).await,
        get(
            "period=2024-25-Q3".into(),
            app.token("auditor-1", &["auditor"], AREA)
        )
        .await
    );
    // A national auditor still gets exact custom ranges: the day of 1 August alone.
    let day = get("from=2024-08-01&to=2024-08-01".into(), national).await;
    assert_eq!(day["journey"]["referred"], 1);
    assert_eq!(day["by_gender"], json!({"female": 1}));
}

#[tokio::test]
async fn a_transfer_to_pursue_moves_no_count_for_an_area_reader() {
    for threshold in [1, 5] {
        // Arrange: six referrals of this quarter, and a seventh about someone unlike the
        // rest (a girl, from the community sector, about Islamist ideology, with a
        // mental-health need), which will be transferred to Pursue.
        let app = spawn_app_with(|s| s.statistics.suppression_threshold = threshold).await;
        for i in 0..6 {
            let body = referral_of(i, "male", "education", "extreme_right_wing", false);
            app.file(&body).await;
        }
        let body = referral_of(6, "female", "community", "islamist", true);
        let id = app.file(&body).await["id"].as_str().unwrap().to_owned();
        let auditor = app.token("auditor-1", &["auditor"], AREA);
        let national = app.token("auditor-n", &["auditor"], "national");
        let (year, quarter) = this_year_and_quarter();
        let queries = [
            String::new(),
            format!("period={}", quarter.name),
            format!("period={}", year.name),
            format!("from={}&to={}", quarter.from, quarter.to),
            "format=csv".to_owned(),
            format!("period={}&format=csv", quarter.name),
        ];
        let read = |token: String| {
            let app = &app;
            let queries = &queries;
            async move {
                let mut bodies = Vec::new();
                for q in queries {
                    let response = app.get(&format!("/v1/stats?{q}"), Some(&token)).await;
                    assert_eq!(response.status().as_u16(), 200, "{q}");
                    bodies.push((q.clone(), response.text().await.unwrap()));
                }
                bodies
            }
        };
        let before_chair = read(app.chair()).await;
        let before_auditor = read(auditor.clone()).await;
        let national_total = |token: String| {
            let app = &app;
            async move {
                let stats: Value = app
                    .get("/v1/stats", Some(&token))
                    .await
                    .json()
                    .await
                    .unwrap();
                stats["journey"]["referred"].clone()
            }
        };
        assert_eq!(national_total(national.clone()).await, 7);

        // Act: the case is screened and transferred to Pursue.
        let officer = app.officer();
        let screening = app
            .act_ok(&officer, &id, "begin_screening", 1, &json!({}))
            .await;
        let version = screening["version"].as_i64().unwrap();
        let pursued = app
            .act_ok(
                &officer,
                &id,
                "transfer_to_pursue",
                version,
                &crate::helpers::threshold("terrorism_risk"),
            )
            .await;
        assert_eq!(pursued["state"], "transferred_to_pursue");

        // Assert: every body, JSON and CSV, every cell of it, is as it was.
        assert_eq!(
            read(app.chair()).await,
            before_chair,
            "threshold {threshold}"
        );
        assert_eq!(read(auditor).await, before_auditor, "threshold {threshold}");
        assert_eq!(
            national_total(national).await,
            7,
            "still a referral of the period"
        );
        if threshold == 1 {
            let stats: Value = serde_json::from_str(&before_auditor[0].1).unwrap();
            assert_eq!(stats["by_sector"]["community"], 1, "{stats}");
            assert_eq!(stats["journey"]["referred"], 7, "{stats}");
        }
    }
}
