//! `pathway seed`: a living demo in one command. An area's directory, a Channel panel
//! with its members and meetings, and a few dozen synthetic referrals spread over every
//! state of the pathway.
//!
//! Everything is done through the service's own HTTP application, in-process, with
//! locally minted tokens: each request runs the same handler and use case as a real
//! client's, so the audit log, the outbox and the statistics are what real use writes.
//! No row is written directly.

use std::collections::BTreeMap;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::http::auth::{LocalClaims, mint_local_token};
use crate::startup::{Shared, app, open_store};
use crate::store::{self, DbConnection};

/// What `pathway seed` was asked for.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// The local authority's GSS code.
    pub area: String,
    /// Seeds the random choices: the same number gives the same demo.
    pub seed: u64,
    /// How many referrals to file (at least one per state).
    pub referrals: usize,
    /// Lifetime of the printed tokens, in seconds.
    pub token_ttl: i64,
}

/// What was made.
#[derive(Debug)]
pub struct Seeded {
    /// Cases by state.
    pub by_state: BTreeMap<&'static str, usize>,
    /// `(variable, token)` pairs, one per role, ready for `export`.
    pub tokens: Vec<(&'static str, String)>,
}

/// Why seeding stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The configuration cannot mint local tokens (production, or asymmetric keys).
    #[error(
        "`seed` mints local-use tokens only; this configuration is not local HS256 (it refuses production)"
    )]
    NotLocal,
    /// The database already holds cases.
    #[error(
        "the database already holds {0} cases: seed a fresh one (for SQLite, remove the file, e.g. `rm -r data/`, or give another `--database-url`; for PostgreSQL, a new database name, which `pathway migrate` creates)"
    )]
    NotEmpty(i64),
    /// The database or the application could not be opened.
    #[error(transparent)]
    Start(#[from] crate::startup::StartError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A token could not be minted.
    #[error("token: {0}")]
    Token(String),
    /// The service refused a request the demo makes (a bug in the demo's data).
    #[error("{what}: the service answered {status}: {body}")]
    Refused {
        /// What was being done.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The problem body.
        body: String,
    },
}

/// Every state of the pathway, each reached by at least one demo case.
pub const STATES: [&str; 12] = [
    "submitted",
    "screening",
    "closed",
    "onward_referral",
    "police_managed",
    "transferred_to_pursue",
    "awaiting_panel",
    "panel_listed",
    "consent_pending",
    "consent_refused",
    "support",
    "exited",
];

/// Plainly made-up names: nobody could take a demo subject for a real person.
const GIVEN_NAMES: [&str; 16] = [
    "Pixel", "Widget", "Sprocket", "Gizmo", "Doodle", "Noodle", "Biscuit", "Pebble", "Marble",
    "Tinsel", "Muffin", "Button", "Bramble", "Crumpet", "Dumpling", "Pickle",
];
const FAMILY_NAMES: [&str; 12] = [
    "Placeholder",
    "Examplesson",
    "Fakename",
    "Testington",
    "Mockridge",
    "Dummyworth",
    "Sampleton",
    "Notreal",
    "Madeupsley",
    "Fictionby",
    "Pretendle",
    "Specimenko",
];

/// Sectors of referral, weighted like the published statistics (2024/25: education
/// 36%, police 30%, local authority 10%, then health and the rest).
const SECTORS: [(&str, u32); 8] = [
    ("education", 36),
    ("police", 30),
    ("local_authority", 10),
    ("health", 9),
    ("community", 5),
    ("friends_family", 4),
    ("prison_probation", 3),
    ("other", 3),
];

/// Types of concern, weighted like the published statistics (2024/25: extreme
/// right-wing 21%, Islamist 10%, violence fixation 5%; the 56% with no clear ideology
/// split between mixed/unclear/unstable and none).
const CONCERNS: [(&str, u32); 7] = [
    ("mixed_unclear_unstable", 28),
    ("no_ideology", 28),
    ("extreme_right_wing", 21),
    ("islamist", 10),
    ("violence_fixation", 5),
    ("other", 5),
    ("left_wing_anarchist_single_issue", 3),
];

/// Where the rest of the demo's cases end, once every state has one: most referrals
/// close at screening, as in the published journey.
const FURTHER_STATES: [(&str, u32); 8] = [
    ("closed", 30),
    ("onward_referral", 10),
    ("screening", 10),
    ("submitted", 8),
    ("police_managed", 6),
    ("awaiting_panel", 5),
    ("support", 5),
    ("exited", 3),
];

fn weighted<'a>(rng: &mut fastrand::Rng, table: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut pick = rng.u32(0..total);
    for (value, weight) in table {
        if pick < *weight {
            return value;
        }
        pick -= weight;
    }
    table[0].0
}

/// Who acts in the demo, with a token each: `(variable, sub, role, name, email)`.
const PEOPLE: [(&str, &str, &str, &str, &str); 8] = [
    (
        "ADMIN",
        "demo-admin",
        "admin",
        "Ada Admin",
        "admin@council.example",
    ),
    (
        "OFFICER",
        "demo-officer",
        "prevent_officer",
        "Oli Officer",
        "officer@police.example",
    ),
    (
        "CHAIR",
        "demo-chair",
        "channel_chair",
        "Chris Chair",
        "chair@council.example",
    ),
    (
        "MEMBER",
        "demo-member",
        "panel_member",
        "Hana Health",
        "health@nhs.example",
    ),
    (
        "TEACHER",
        "demo-teacher",
        "referrer",
        "Jo Example",
        "jo@school.example",
    ),
    (
        "AUDITOR",
        "demo-auditor",
        "auditor",
        "Ann Auditor",
        "auditor@council.example",
    ),
    (
        "RECORDS",
        "demo-records",
        "records_officer",
        "Rae Records",
        "records@council.example",
    ),
    (
        "NATIONAL_AUDITOR",
        "demo-national-auditor",
        "auditor",
        "Nat National",
        "assurance@homeoffice.example",
    ),
];

/// A referrer of `sector`: `(sub, name, role, organisation, email)`.
fn referrer_of(
    sector: &str,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
) {
    match sector {
        "education" => (
            "demo-teacher",
            "Jo Example",
            "Designated Safeguarding Lead",
            "Example Academy",
            "jo@school.example",
        ),
        "police" => (
            "demo-constable",
            "Pat Constable",
            "Neighbourhood Officer",
            "Example Police",
            "pat@police.example",
        ),
        "local_authority" => (
            "demo-council",
            "Lee Council",
            "Early Help Worker",
            "Example Council",
            "lee@council.example",
        ),
        "health" => (
            "demo-nurse",
            "Nia Nurse",
            "School Nurse",
            "Example NHS Trust",
            "nia@nhs.example",
        ),
        "community" => (
            "demo-community",
            "Cam Community",
            "Youth Worker",
            "Example Youth Club",
            "cam@community.example",
        ),
        "friends_family" => (
            "demo-relative",
            "Rory Relative",
            "Family member",
            "Not applicable",
            "rory@family.example",
        ),
        "prison_probation" => (
            "demo-probation",
            "Pip Probation",
            "Probation Officer",
            "Example Probation Service",
            "pip@probation.example",
        ),
        _ => (
            "demo-other",
            "Oak Other",
            "Volunteer",
            "Example Charity",
            "oak@charity.example",
        ),
    }
}

/// A synthetic referral about a made-up person, about `age` on `today`.
fn referral(rng: &mut fastrand::Rng, area: &str, today: NaiveDate, age: u32) -> Value {
    let given = GIVEN_NAMES[rng.usize(..GIVEN_NAMES.len())];
    let family = FAMILY_NAMES[rng.usize(..FAMILY_NAMES.len())];
    let born = today.with_year(today.year() - age as i32).unwrap_or(today)
        - Duration::days(rng.i64(1..360));
    let sector = weighted(rng, &SECTORS);
    let concern = weighted(rng, &CONCERNS);
    let (_, r_name, r_role, r_org, r_email) = referrer_of(sector);
    let gender = if rng.u32(0..10) < 9 { "male" } else { "female" };
    let need = rng.u32(0..100) < 34;
    let guardians = if age < 18 {
        json!([{"name": format!("Guardian {family}"), "relationship": "parent", "phone": "07700900000"}])
    } else {
        json!([])
    };
    json!({
        "area": area,
        "subject": {
            "given_name": given, "family_name": family, "aliases": [],
            "date_of_birth": born.format("%Y-%m-%d").to_string(), "gender": gender,
            "address": {"line1": format!("{} Example Street", rng.u32(1..200)), "town": "Exampletown", "postcode": "ZZ1 1ZZ"},
            "first_language": "English", "interpreter_needed": false,
            "school_or_employer": if age < 18 { "Example Academy" } else { "Example Works" }
        },
        "guardians": guardians,
        "referrer": {
            "name": r_name, "role": r_role, "organisation": r_org,
            "sector": sector, "email": r_email, "phone": "01130000000"
        },
        "concern": {
            "narrative": "Synthetic demo referral: worrying statements and material shared online, made up for this demonstration.",
            "type_of_concern": concern,
            "indicators": ["online_activity"],
            "first_noticed": (today - Duration::days(rng.i64(3..60))).format("%Y-%m-%d").to_string()
        },
        "vulnerabilities": {"send": false, "mental_health": need && rng.bool(), "neurodiversity": need},
        "subject_aware": false, "guardians_informed": age < 18, "discussed_with_safeguarding_lead": true,
        "other_agencies_involved": [],
        "immediate_risk": false
    })
}

fn threshold(reason_code: &str, rationale: &str) -> Value {
    json!({"reason_code": reason_code, "rationale": rationale})
}

/// The actions from `submitted` to `state`: `(actor variable, action, body)`; the
/// listing's meeting id is filled in as it is taken.
fn path_to(
    state: &str,
    rng: &mut fastrand::Rng,
    today: NaiveDate,
    minor: bool,
) -> Vec<(&'static str, &'static str, Value)> {
    let day = today.format("%Y-%m-%d").to_string();
    let screening = ("OFFICER", "begin_screening", json!({}));
    let refer = (
        "OFFICER",
        "refer_to_channel",
        threshold(
            "vulnerable_to_radicalisation",
            "Vulnerable to radicalisation; multi-agency support is needed.",
        ),
    );
    let list = ("CHAIR", "list_for_panel", json!({"meeting_id": null}));
    let adopt = (
        "CHAIR",
        "record_panel_decision",
        json!({"decision": "adopt",
        "reason_code": "vulnerability_identified", "rationale": "The panel found a vulnerability that support can address.",
        "how_reached": "unanimous"}),
    );
    let plan = (
        "CHAIR",
        "record_support_plan",
        json!({"interventions": [
        {"type": "ideological_mentoring", "provider": "Approved intervention provider", "frequency": "weekly", "start_date": day}]}),
    );
    let consent = if minor {
        json!({"decision": "given", "given_by": "parent_or_guardian", "given_by_name": "Guardian", "decided_on": day, "how_sought": "in_person"})
    } else {
        json!({"decision": "given", "given_by": "subject", "decided_on": day, "how_sought": "in_person"})
    };
    let consent = ("CHAIR", "record_consent", consent);
    let refuse = (
        "CHAIR",
        "record_consent",
        json!({"decision": "refused", "given_by": "subject", "decided_on": day, "how_sought": "in_person"}),
    );
    let exit = (
        "CHAIR",
        "exit",
        threshold(
            "support_completed",
            "Support completed; the concerns are no longer present.",
        ),
    );
    match state {
        "submitted" => vec![],
        "screening" => vec![screening],
        "closed" => vec![
            screening,
            (
                "OFFICER",
                "close_no_further_action",
                threshold(
                    if rng.bool() {
                        "no_prevent_concern"
                    } else {
                        "insufficient_information"
                    },
                    "No ideological element found; the school's own safeguarding meets the needs.",
                ),
            ),
        ],
        "onward_referral" => vec![
            screening,
            (
                "OFFICER",
                "signpost",
                json!({
            "reason_code": "other_needs_primary",
            "rationale": "Needs are primarily about mental health, not ideology.",
            "onward_referrals": [{"service_type": "mental_health", "organisation": "Example CAMHS", "reason": "Low mood and isolation."}]}),
            ),
        ],
        "police_managed" => vec![
            screening,
            (
                "OFFICER",
                "manage_by_police",
                threshold(
                    "risk_requires_police_management",
                    "The risk calls for police-led case management.",
                ),
            ),
        ],
        "transferred_to_pursue" => vec![
            screening,
            (
                "OFFICER",
                "transfer_to_pursue",
                threshold(
                    "terrorism_risk",
                    "Information suggests a risk of terrorism; counter-terrorism police lead.",
                ),
            ),
        ],
        "awaiting_panel" => vec![screening, refer],
        "panel_listed" => vec![screening, refer, list],
        "consent_pending" => vec![screening, refer, list, adopt],
        "consent_refused" => vec![screening, refer, list, adopt, refuse],
        "support" => vec![screening, refer, list, adopt, plan, consent],
        _ => vec![screening, refer, list, adopt, plan, consent, exit],
    }
}

/// Sends one request and returns its JSON body when the status is `expect`.
async fn send<S, R, B>(service: &S, request: R, expect: u16, what: &str) -> Result<Value, SeedError>
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = actix_web::test::call_service(service, request).await;
    let status = response.status().as_u16();
    let body = actix_web::test::read_body(response).await;
    if status != expect {
        return Err(SeedError::Refused {
            what: what.to_owned(),
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn request(method: Method, path: &str, token: &str, body: &Value) -> TestRequest {
    TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header(("authorization", format!("Bearer {token}")))
        .set_json(body)
}

fn count_cases(conn: &mut DbConnection) -> Result<i64, store::StoreError> {
    use diesel::prelude::*;
    Ok(store::schema::cases::table.count().get_result(conn)?)
}

/// Seeds the configured database (migrating it first) and returns what was made.
pub async fn seed(settings: &Settings, options: &SeedOptions) -> Result<Seeded, SeedError> {
    if !settings.allows_local_tokens() {
        return Err(SeedError::NotLocal);
    }
    let trust =
        store::trust::AuditTrust::load(settings).map_err(crate::startup::StartError::from)?;
    let vault = store::vault::Vault::load(settings).map_err(crate::startup::StartError::from)?;
    let store = open_store(settings)?.with_audit(trust).with_vault(vault);
    let existing = store.run(count_cases).await?;
    if existing > 0 {
        return Err(SeedError::NotEmpty(existing));
    }
    let service = actix_web::test::init_service(app(Shared::new(settings, store)?)).await;

    let area = options.area.as_str();
    let mint = |sub: &str, roles: &[&str], area: &str, name: &str, email: &str| {
        let mut claims = LocalClaims::new(&settings.auth, sub, roles, area, options.token_ttl);
        claims.name = name.to_owned();
        claims.email = email.to_owned();
        mint_local_token(&settings.auth, &claims).map_err(|e| SeedError::Token(e.to_string()))
    };
    let mut tokens = BTreeMap::new();
    let mut printed = Vec::new();
    for (var, sub, role, name, email) in PEOPLE {
        let token_area = if var == "NATIONAL_AUDITOR" {
            "national"
        } else {
            area
        };
        let token = mint(sub, &[role], token_area, name, email)?;
        tokens.insert(var, token.clone());
        printed.push((var, token));
    }
    let token = |var: &str| tokens[var].clone();

    // The directory first: a referral filed before it names a mailbox tells nobody.
    for (role, mailbox) in [
        ("prevent_team", "prevent-team@police.example"),
        ("channel_chair", "chair@council.example"),
        ("records_officer", "records@council.example"),
    ] {
        let body = json!({"role": role, "mailbox": mailbox});
        send(
            &service,
            request(Method::POST, "/v1/directory", &token("ADMIN"), &body).to_request(),
            201,
            "directory entry",
        )
        .await?;
    }

    let panel = json!({"name": "Exampletown Channel Panel", "members": [
        {"name": "Chris Chair", "agency": "local_authority", "email": "chair@council.example", "panel_role": "chair"},
        {"name": "Pat Police", "agency": "police", "email": "officer@police.example", "panel_role": "member"},
        {"name": "Cara Children", "agency": "childrens_social_care", "email": "childrens@council.example", "panel_role": "member"},
        {"name": "Hana Health", "agency": "health", "email": "health@nhs.example", "panel_role": "member"},
        {"name": "Ed Education", "agency": "education", "email": "education@council.example", "panel_role": "member"}
    ]});
    let panel = send(
        &service,
        request(Method::POST, "/v1/panels", &token("CHAIR"), &panel).to_request(),
        201,
        "panel",
    )
    .await?;
    let panel_id = panel["id"].as_str().unwrap_or_default().to_owned();
    let mut meetings = Vec::new();
    for (days, place) in [(7, "Civic Hall, Room 1"), (35, "Civic Hall, Room 2")] {
        let when = (Utc::now() + Duration::days(days))
            .format("%Y-%m-%dT10:00:00Z")
            .to_string();
        let body = json!({"scheduled_for": when, "location": place});
        let path = format!("/v1/panels/{panel_id}/meetings");
        let meeting = send(
            &service,
            request(Method::POST, &path, &token("CHAIR"), &body).to_request(),
            201,
            "meeting",
        )
        .await?;
        meetings.push(meeting["id"].as_str().unwrap_or_default().to_owned());
    }

    let mut rng = fastrand::Rng::with_seed(options.seed);
    let mut targets: Vec<&str> = STATES.to_vec();
    while targets.len() < options.referrals {
        targets.push(weighted(&mut rng, &FURTHER_STATES));
    }
    rng.shuffle(&mut targets);
    let today = Utc::now().date_naive();
    let mut by_state = BTreeMap::new();
    for (n, state) in targets.iter().enumerate() {
        // Under 18s about 54% of referrals.
        let age = if rng.u32(0..100) < 54 {
            rng.u32(11..18)
        } else {
            rng.u32(18..45)
        };
        let body = referral(&mut rng, area, today, age);
        let sector = body["referrer"]["sector"]
            .as_str()
            .unwrap_or("other")
            .to_owned();
        let (sub, name, _, _, email) = referrer_of(&sector);
        let referrer = mint(sub, &["referrer"], area, name, email)?;
        let filed = send(
            &service,
            request(Method::POST, "/v1/referrals", &referrer, &body)
                .insert_header(("idempotency-key", format!("seed-{}-{n}", options.seed)))
                .to_request(),
            201,
            "referral",
        )
        .await?;
        let id = filed["id"].as_str().unwrap_or_default().to_owned();
        let mut version = 1;
        for (who, action, mut body) in path_to(state, &mut rng, today, age < 18) {
            if action == "list_for_panel" {
                body["meeting_id"] = meetings[n % meetings.len()].clone().into();
            }
            let path = format!("/v1/cases/{id}/actions/{action}");
            let case = send(
                &service,
                request(Method::POST, &path, &token(who), &body)
                    .insert_header(("if-match", format!("\"{version}\"")))
                    .to_request(),
                200,
                action,
            )
            .await?;
            version = case["version"].as_i64().unwrap_or(version + 1);
        }
        *by_state.entry(*state).or_insert(0) += 1;
    }
    Ok(Seeded {
        by_state,
        tokens: printed,
    })
}
