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
use crate::identity::{LocalClaims, mint_local_token};
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
    /// Entries of a synthetic audit log to add after the demo ([`bulk_audit_log`]); 0
    /// for none.
    pub audit_entries: u64,
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

/// One step of a path: `(actor variable, action, body)`.
type Step = (&'static str, &'static str, Value);

/// The actions from `submitted` to `state`: `(actor variable, action, body)`; the
/// listing's meeting id is filled in as it is taken.
fn path_to(state: &str, rng: &mut fastrand::Rng, today: NaiveDate, minor: bool) -> Vec<Step> {
    let screening = ("OFFICER", "begin_screening", json!({}));
    if let Some(outcome) = screening_outcome(state, rng) {
        return vec![screening, outcome];
    }
    let day = today.format("%Y-%m-%d").to_string();
    let [refer, list, adopt, plan, consent, exit] = channel_path(&day, minor);
    match state {
        "submitted" => vec![],
        "screening" => vec![screening],
        "awaiting_panel" => vec![screening, refer],
        "panel_listed" => vec![screening, refer, list],
        "consent_pending" => vec![screening, refer, list, adopt],
        "consent_refused" => {
            let refuse = json!({"decision": "refused", "given_by": "subject", "decided_on": day, "how_sought": "in_person"});
            vec![
                screening,
                refer,
                list,
                adopt,
                ("CHAIR", "record_consent", refuse),
            ]
        }
        "support" => vec![screening, refer, list, adopt, plan, consent],
        _ => vec![screening, refer, list, adopt, plan, consent, exit],
    }
}

/// The officer's decision that ends screening in `state`, for the states screening
/// leads to directly.
fn screening_outcome(state: &str, rng: &mut fastrand::Rng) -> Option<Step> {
    let (action, body) = match state {
        "closed" => (
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
        "onward_referral" => (
            "signpost",
            json!({
            "reason_code": "other_needs_primary",
            "rationale": "Needs are primarily about mental health, not ideology.",
            "onward_referrals": [{"service_type": "mental_health", "organisation": "Example CAMHS", "reason": "Low mood and isolation."}]}),
        ),
        "police_managed" => (
            "manage_by_police",
            threshold(
                "risk_requires_police_management",
                "The risk calls for police-led case management.",
            ),
        ),
        "transferred_to_pursue" => (
            "transfer_to_pursue",
            threshold(
                "terrorism_risk",
                "Information suggests a risk of terrorism; counter-terrorism police lead.",
            ),
        ),
        _ => return None,
    };
    Some(("OFFICER", action, body))
}

/// The Channel half of the pathway in order, from the referral to the panel to exit;
/// consent dated `day`, a guardian's for a minor.
fn channel_path(day: &str, minor: bool) -> [Step; 6] {
    let consent = if minor {
        json!({"decision": "given", "given_by": "parent_or_guardian", "given_by_name": "Guardian", "decided_on": day, "how_sought": "in_person"})
    } else {
        json!({"decision": "given", "given_by": "subject", "decided_on": day, "how_sought": "in_person"})
    };
    [
        (
            "OFFICER",
            "refer_to_channel",
            threshold(
                "vulnerable_to_radicalisation",
                "Vulnerable to radicalisation; multi-agency support is needed.",
            ),
        ),
        ("CHAIR", "list_for_panel", json!({"meeting_id": null})),
        (
            "CHAIR",
            "record_panel_decision",
            json!({"decision": "adopt",
            "reason_code": "vulnerability_identified", "rationale": "The panel found a vulnerability that support can address.",
            "how_reached": "unanimous"}),
        ),
        (
            "CHAIR",
            "record_support_plan",
            json!({"interventions": [
            {"type": "ideological_mentoring", "provider": "Approved intervention provider", "frequency": "weekly", "start_date": day}]}),
        ),
        ("CHAIR", "record_consent", consent),
        (
            "CHAIR",
            "exit",
            threshold(
                "support_completed",
                "Support completed; the concerns are no longer present.",
            ),
        ),
    ]
}

/// The in-process application, and how a test request is built for it.
struct Client<'a, S, R> {
    service: &'a S,
    build: fn(TestRequest) -> R,
}

impl<S, R> Client<'_, S, R> {
    /// Sends one request and returns its JSON body when the status is `expect`.
    async fn send<B>(
        &self,
        request: TestRequest,
        expect: u16,
        what: &str,
    ) -> Result<Value, SeedError>
    where
        S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let response = actix_web::test::call_service(self.service, (self.build)(request)).await;
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

/// Mints a local token for one person.
fn mint(
    settings: &Settings,
    options: &SeedOptions,
    (sub, roles, area): (&str, &[&str], &str),
    name: &str,
    email: &str,
) -> Result<String, SeedError> {
    let mut claims = LocalClaims::new(&settings.auth, sub, roles, area, options.token_ttl);
    claims.name = name.to_owned();
    claims.email = email.to_owned();
    mint_local_token(&settings.auth, &claims).map_err(|e| SeedError::Token(e.to_string()))
}

/// A token for each of [`PEOPLE`], by variable; the national auditor's is national.
fn people_tokens(
    settings: &Settings,
    options: &SeedOptions,
) -> Result<Vec<(&'static str, String)>, SeedError> {
    PEOPLE
        .into_iter()
        .map(|(var, sub, role, name, email)| {
            let area = if var == "NATIONAL_AUDITOR" {
                "national"
            } else {
                options.area.as_str()
            };
            Ok((
                var,
                mint(settings, options, (sub, &[role], area), name, email)?,
            ))
        })
        .collect()
}

/// Seeds the configured database (migrating it first) and returns what was made.
pub async fn seed(settings: &Settings, options: &SeedOptions) -> Result<Seeded, SeedError> {
    if !settings.allows_local_tokens() {
        return Err(SeedError::NotLocal);
    }
    let store = open_store(settings)?;
    let existing = store.run(count_cases).await?;
    if existing > 0 {
        return Err(SeedError::NotEmpty(existing));
    }
    let generation = crate::startup::key_generation(&store)?;
    let trust = store::trust::AuditTrust::load(settings, generation)
        .map_err(crate::startup::StartError::from)?;
    let vault = store::vault::Vault::load(settings, generation)
        .map_err(crate::startup::StartError::from)?;
    let bulk_trust = trust.clone();
    let store = store.with_audit(trust).with_vault(vault);
    let bulk_store = store.clone();
    let service = actix_web::test::init_service(app(Shared::new(settings, store)?)).await;
    let client = Client {
        service: &service,
        build: TestRequest::to_request,
    };

    let printed = people_tokens(settings, options)?;
    let tokens: BTreeMap<&str, String> = printed.iter().cloned().collect();
    let token = |var: &str| tokens[var].clone();
    seed_directory(&client, &token("ADMIN")).await?;
    let meetings = seed_panel(&client, &token("CHAIR")).await?;

    let mut rng = fastrand::Rng::with_seed(options.seed);
    let mut targets: Vec<&str> = STATES.to_vec();
    while targets.len() < options.referrals {
        targets.push(weighted(&mut rng, &FURTHER_STATES));
    }
    rng.shuffle(&mut targets);
    let today = Utc::now().date_naive();
    let mut by_state = BTreeMap::new();
    for (n, state) in targets.iter().enumerate() {
        let meeting = &meetings[n % meetings.len()];
        let filing = Filing {
            settings,
            options,
            tokens: &tokens,
            today,
            n,
        };
        filing.file(&client, &mut rng, state, meeting).await?;
        *by_state.entry(*state).or_insert(0) += 1;
    }
    if options.audit_entries > 0 {
        let (entries, area, seed) = (options.audit_entries, options.area.clone(), options.seed);
        bulk_store
            .run(move |c| bulk_audit_log(c, &bulk_trust, entries, &area, seed))
            .await?;
    }
    Ok(Seeded {
        by_state,
        tokens: printed,
    })
}

/// The directory first: a referral filed before it names a mailbox tells nobody.
async fn seed_directory<S, R, B>(client: &Client<'_, S, R>, admin: &str) -> Result<(), SeedError>
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    for (role, mailbox) in [
        ("prevent_team", "prevent-team@police.example"),
        ("channel_chair", "chair@council.example"),
        ("records_officer", "records@council.example"),
    ] {
        let body = json!({"role": role, "mailbox": mailbox});
        let req = request(Method::POST, "/v1/directory", admin, &body);
        client.send(req, 201, "directory entry").await?;
    }
    Ok(())
}

/// The area's Channel panel, its members and two meetings; returns the meetings' ids.
async fn seed_panel<S, R, B>(
    client: &Client<'_, S, R>,
    chair: &str,
) -> Result<Vec<String>, SeedError>
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let panel = json!({"name": "Exampletown Channel Panel", "members": [
        {"name": "Chris Chair", "agency": "local_authority", "email": "chair@council.example", "panel_role": "chair"},
        {"name": "Pat Police", "agency": "police", "email": "officer@police.example", "panel_role": "member"},
        {"name": "Cara Children", "agency": "childrens_social_care", "email": "childrens@council.example", "panel_role": "member"},
        {"name": "Hana Health", "agency": "health", "email": "health@nhs.example", "panel_role": "member"},
        {"name": "Ed Education", "agency": "education", "email": "education@council.example", "panel_role": "member"}
    ]});
    let req = request(Method::POST, "/v1/panels", chair, &panel);
    let panel = client.send(req, 201, "panel").await?;
    let panel_id = panel["id"].as_str().unwrap_or_default().to_owned();
    let mut meetings = Vec::new();
    for (days, place) in [(7, "Civic Hall, Room 1"), (35, "Civic Hall, Room 2")] {
        let when = (Utc::now() + Duration::days(days))
            .format("%Y-%m-%dT10:00:00Z")
            .to_string();
        let body = json!({"scheduled_for": when, "location": place});
        let path = format!("/v1/panels/{panel_id}/meetings");
        let req = request(Method::POST, &path, chair, &body);
        let meeting = client.send(req, 201, "meeting").await?;
        meetings.push(meeting["id"].as_str().unwrap_or_default().to_owned());
    }
    Ok(meetings)
}

/// The filing of the `n`th synthetic referral.
struct Filing<'a> {
    settings: &'a Settings,
    options: &'a SeedOptions,
    tokens: &'a BTreeMap<&'a str, String>,
    today: NaiveDate,
    n: usize,
}

impl Filing<'_> {
    /// Files a referral and takes its case to `state`, listing it (if it gets that far)
    /// for `meeting`.
    async fn file<S, R, B>(
        &self,
        client: &Client<'_, S, R>,
        rng: &mut fastrand::Rng,
        state: &str,
        meeting: &str,
    ) -> Result<(), SeedError>
    where
        S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let (area, n, today) = (self.options.area.as_str(), self.n, self.today);
        // Under 18s about 54% of referrals.
        let age = if rng.u32(0..100) < 54 {
            rng.u32(11..18)
        } else {
            rng.u32(18..45)
        };
        let body = referral(rng, area, today, age);
        let sector = body["referrer"]["sector"].as_str().unwrap_or("other");
        let (sub, name, _, _, email) = referrer_of(sector);
        let referrer = mint(
            self.settings,
            self.options,
            (sub, &["referrer"], area),
            name,
            email,
        )?;
        let req = request(Method::POST, "/v1/referrals", &referrer, &body)
            .insert_header(("idempotency-key", format!("seed-{}-{n}", self.options.seed)));
        let filed = client.send(req, 201, "referral").await?;
        let id = filed["id"].as_str().unwrap_or_default().to_owned();
        let mut version = 1;
        for (who, action, mut body) in path_to(state, rng, today, age < 18) {
            if action == "list_for_panel" {
                body["meeting_id"] = meeting.into();
            }
            let path = format!("/v1/cases/{id}/actions/{action}");
            let req = request(Method::POST, &path, &self.tokens[who], &body)
                .insert_header(("if-match", format!("\"{version}\"")));
            let case = client.send(req, 200, action).await?;
            version = case["version"].as_i64().unwrap_or(version + 1);
        }
        Ok(())
    }
}

/// Areas of the bulk audit log besides the demo's own (real GSS codes of metropolitan
/// and unitary authorities; the entries about them are synthetic).
const BULK_AREAS: [&str; 9] = [
    "E08000035",
    "E08000025",
    "E08000003",
    "E09000033",
    "E06000023",
    "E08000012",
    "E08000021",
    "E06000018",
    "E08000019",
];

/// What happens in a case's stream after its submission, weighted: mostly reads, as
/// in real use; police-only deconfliction among them.
const CASE_ENTRY_ACTIONS: [(&str, u32); 9] = [
    ("case.read", 55),
    ("case.history", 12),
    ("case.actions", 8),
    ("case.action.begin_screening", 5),
    ("case.action.record_deconfliction", 4),
    ("case.action.refer_to_channel", 4),
    ("case.note", 5),
    ("case.action.record_review", 4),
    ("case.read_denied", 3),
];

/// What people do outside any case's stream, weighted.
const ACTOR_ENTRY_ACTIONS: [(&str, u32); 5] = [
    ("case.list", 60),
    ("audit.read", 10),
    ("stats.read", 10),
    ("panel.read", 15),
    ("retention.list", 5),
];

/// States of the bulk cases, weighted like the published journey; 4% police-only.
const BULK_STATES: [(&str, u32); 9] = [
    ("closed", 40),
    ("screening", 12),
    ("onward_referral", 10),
    ("submitted", 6),
    ("police_managed", 8),
    ("awaiting_panel", 6),
    ("support", 8),
    ("exited", 6),
    ("transferred_to_pursue", 4),
];

/// Entries written per transaction (and sealed by one checkpoint each).
const BULK_TRANSACTION: usize = 50_000;
/// Rows per INSERT statement: within PostgreSQL's 65,535 parameters at 14 columns.
const BULK_STATEMENT: usize = 2_000;

/// A synthetic audit entry before it is chained.
struct Draft {
    chain: String,
    at: chrono::NaiveDateTime,
    actor: String,
    roles: &'static str,
    area: String,
    action: String,
    case_id: Option<String>,
    outcome: &'static str,
}

/// The people of one area of the bulk log.
struct BulkPeople {
    officers: Vec<String>,
    chairs: Vec<String>,
    auditors: Vec<String>,
    referrers: Vec<String>,
}

impl BulkPeople {
    /// The people of the `n`th area.
    fn of(n: usize) -> BulkPeople {
        let people = |kind: &str, count: usize| -> Vec<String> {
            (0..count).map(|i| format!("bulk-{n}-{kind}-{i}")).collect()
        };
        BulkPeople {
            officers: people("officer", 6),
            chairs: people("chair", 2),
            auditors: people("auditor", 2),
            referrers: people("referrer", 40),
        }
    }

    fn officer(&self, rng: &mut fastrand::Rng) -> (String, &'static str) {
        let officer = &self.officers[rng.usize(..self.officers.len())];
        (officer.clone(), "prevent_officer")
    }

    fn chair(&self, rng: &mut fastrand::Rng) -> (String, &'static str) {
        (
            self.chairs[rng.usize(..self.chairs.len())].clone(),
            "channel_chair",
        )
    }

    fn auditor(&self, rng: &mut fastrand::Rng) -> (String, &'static str) {
        (
            self.auditors[rng.usize(..self.auditors.len())].clone(),
            "auditor",
        )
    }

    /// Whose run of listing and reading: mostly an officer's.
    fn reader(&self, rng: &mut fastrand::Rng) -> (String, &'static str) {
        match rng.u32(0..10) {
            0..=5 => self.officer(rng),
            6..=7 => self.chair(rng),
            _ => self.auditor(rng),
        }
    }

    /// Who does `action` in a case's stream.
    fn actor_of(&self, rng: &mut fastrand::Rng, action: &str) -> (String, &'static str) {
        match action {
            "case.action.refer_to_channel"
            | "case.action.begin_screening"
            | "case.action.record_deconfliction" => self.officer(rng),
            "case.action.record_review" | "case.note" => self.chair(rng),
            _ => match rng.u32(0..4) {
                0 => self.auditor(rng),
                _ => self.officer(rng),
            },
        }
    }
}

/// The bulk log's areas: the demo's first, then the others, as many as [`BULK_AREAS`].
fn bulk_areas(area: &str) -> Vec<String> {
    let mut areas = vec![area.to_owned()];
    areas.extend(
        BULK_AREAS
            .iter()
            .filter(|a| **a != area)
            .map(|a| a.to_string()),
    );
    areas.truncate(BULK_AREAS.len());
    areas
}

/// Two years of one area's bulk log, up to now.
struct BulkArea<'a> {
    area: &'a str,
    people: BulkPeople,
    start: chrono::NaiveDateTime,
    now: chrono::NaiveDateTime,
}

/// The span of the bulk log, in seconds.
const BULK_SPAN_SECS: i64 = 2 * 365 * 24 * 3600;

impl BulkArea<'_> {
    /// One person's run of about `budget` listings and readings over the two years.
    fn actor_run(&self, rng: &mut fastrand::Rng, budget: u64, pending: &mut Vec<Draft>) -> u64 {
        let (actor, roles) = self.people.reader(rng);
        let count = rng.u64(20..200).min(budget);
        let mut times: Vec<i64> = (0..count).map(|_| rng.i64(0..BULK_SPAN_SECS)).collect();
        times.sort_unstable();
        for t in times {
            pending.push(Draft {
                chain: format!("actor:{actor}"),
                at: self.start
                    + Duration::seconds(t)
                    + Duration::microseconds(rng.i64(0..1_000_000)),
                actor: actor.clone(),
                roles,
                area: self.area.to_owned(),
                action: weighted(rng, &ACTOR_ENTRY_ACTIONS).to_owned(),
                case_id: None,
                outcome: "ok",
            });
        }
        count
    }

    /// A case's stream of at most `budget` entries, from its submission on; its case row
    /// joins `cases`.
    fn case_stream(
        &self,
        rng: &mut fastrand::Rng,
        budget: u64,
        reference: u64,
        (pending, cases): (&mut Vec<Draft>, &mut Vec<store::cases::CaseRow>),
    ) -> u64 {
        let id = uuid::Uuid::new_v4().to_string();
        let filed = self.start + Duration::seconds(rng.i64(0..BULK_SPAN_SECS));
        let referrer = self.people.referrers[rng.usize(..self.people.referrers.len())].clone();
        let state = weighted(rng, &BULK_STATES);
        cases.push(bulk_case(
            &id, self.area, state, &referrer, filed, reference,
        ));
        let count = rng.u64(10..70).min(budget);
        let mut at = filed;
        for i in 0..count {
            let (actor, roles, action) = if i == 0 {
                (referrer.clone(), "referrer", "case.submit")
            } else {
                // Several entries of one request share their time.
                if rng.u32(0..10) != 0 {
                    at += Duration::seconds(rng.i64(60..3 * 24 * 3600))
                        + Duration::microseconds(rng.i64(0..1_000_000));
                }
                let action = weighted(rng, &CASE_ENTRY_ACTIONS);
                let (actor, roles) = self.people.actor_of(rng, action);
                (actor, roles, action)
            };
            let denied = action == "case.read_denied";
            pending.push(Draft {
                chain: format!("case:{id}"),
                at: at.min(self.now),
                actor,
                roles,
                area: self.area.to_owned(),
                action: if denied { "case.read" } else { action }.to_owned(),
                case_id: Some(id.clone()),
                outcome: if denied { "denied" } else { "ok" },
            });
        }
        count
    }
}

/// Appends a synthetic audit log of about `entries` entries over several areas (the
/// demo's first), many actors and cases, and the last two years, for measuring the
/// audit figures at scale. It writes rows directly, in large transactions (through the
/// service a million entries would take hours), but as the service would: every entry
/// keyed and chained in its stream, every stream's head recorded, a signed and
/// witnessed checkpoint after each transaction, and a case row (a skeleton: no
/// referral, no personal data) for every case stream, so `pathway audit verify`
/// passes and the listing's visibility rule has real cases to decide by.
pub fn bulk_audit_log(
    conn: &mut DbConnection,
    trust: &store::trust::AuditTrust,
    entries: u64,
    area: &str,
    seed: u64,
) -> Result<u64, store::StoreError> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed_a0d1);
    let areas = bulk_areas(area);
    let now = crate::audit::now();
    let per_area = entries / areas.len() as u64;
    let mut written = 0_u64;
    let mut pending: Vec<Draft> = Vec::new();
    let mut cases = Vec::new();
    let mut reference = 0_u64;
    for (n, area) in areas.iter().enumerate() {
        let bulk = BulkArea {
            area,
            people: BulkPeople::of(n),
            start: now - Duration::seconds(BULK_SPAN_SECS),
            now,
        };
        let mut left = per_area;
        // About an eighth of the entries are outside any case's stream.
        let mut actor_budget = per_area / 8;
        while left > 0 {
            if actor_budget > 0 && rng.u32(0..8) == 0 {
                let count = bulk.actor_run(&mut rng, actor_budget.min(left), &mut pending);
                actor_budget -= count;
                left -= count;
            } else {
                reference += 1;
                left -= bulk.case_stream(&mut rng, left, reference, (&mut pending, &mut cases));
            }
            if pending.len() >= BULK_TRANSACTION {
                written += write_bulk(conn, trust, std::mem::take(&mut pending), &mut cases)?;
            }
        }
    }
    written += write_bulk(conn, trust, pending, &mut cases)?;
    // After a bulk load PostgreSQL's planner statistics describe the tables as they
    // were, until autovacuum gets to them: it then guessed that an area and a case
    // match equally many entries and listed one case's entries by intersecting both
    // indexes (11-15 ms at a million entries, 0.3 ms once analyzed). A running service
    // is analyzed by autovacuum as it grows; SQLite keeps no statistics unless asked,
    // so it is measured as it runs.
    if let DbConnection::Postgres(pg) = conn {
        use diesel::connection::SimpleConnection as _;
        pg.batch_execute("ANALYZE")
            .map_err(store::StoreError::from)?;
    }
    Ok(written)
}

/// A skeleton case row for a bulk case stream.
fn bulk_case(
    id: &str,
    area: &str,
    state: &str,
    referrer: &str,
    filed: chrono::NaiveDateTime,
    reference: u64,
) -> store::cases::CaseRow {
    let channel = matches!(state, "awaiting_panel" | "support" | "exited");
    store::cases::CaseRow {
        id: id.to_owned(),
        reference: format!("PRV-{}-B{reference:07}", filed.year()),
        area: area.to_owned(),
        state: state.to_owned(),
        version: 1,
        referrer_sub: referrer.to_owned(),
        submitted_at: filed,
        updated_at: filed,
        due_kind: None,
        due_at: None,
        outcome: None,
        referred_to_channel_at: channel.then_some(filed),
        subject_key: None,
        referral: "{}".to_owned(),
        deconfliction: None,
        immediate_risk: false,
        sector: "other".to_owned(),
        type_of_concern: None,
        support_plan: None,
        consent: None,
        exited_at: None,
        officer_email: None,
        shared_version: 1,
        age_band: None,
        gender: None,
        needs_recorded: false,
        review_due_at: None,
        legal_hold: false,
        erased_at: None,
        shared_updated_at: filed,
        police_only_since: None,
    }
}

/// Chains `drafts` onto their streams' heads and writes them, with the cases not yet
/// written, in one transaction; then seals a checkpoint. Returns the entries written.
fn write_bulk(
    conn: &mut DbConnection,
    trust: &store::trust::AuditTrust,
    drafts: Vec<Draft>,
    cases: &mut Vec<store::cases::CaseRow>,
) -> Result<u64, store::StoreError> {
    use crate::store::schema::{audit_chains, audit_log, cases as cases_table};
    use diesel::prelude::*;
    let count = drafts.len() as u64;
    let case_rows = std::mem::take(cases);
    // Diesel's own transaction, not `write_transaction`'s manual BEGIN IMMEDIATE: on
    // SQLite diesel runs a batch insert as one insert per row inside a transaction of
    // its own, which must nest (as a savepoint). The seed is the only writer.
    conn.transaction(|c| -> QueryResult<()> {
        let (rows, heads) = chained(c, trust, drafts)?;
        let chains: Vec<_> = heads
            .iter()
            .map(|(k, (seq, hash))| {
                (
                    audit_chains::chain_key.eq(k.clone()),
                    audit_chains::head_seq.eq(*seq),
                    audit_chains::head_hash.eq(hash.clone()),
                    audit_chains::checkpointed_seq.eq(0_i64),
                    audit_chains::updated_at.eq(crate::audit::now()),
                )
            })
            .collect();
        // Batch inserts do not pass through the two-backend connection: each backend's own,
        // with the same statements.
        macro_rules! insert_bulk {
            ($conn:expr) => {{
                for chunk in case_rows.chunks(BULK_STATEMENT / 2) {
                    diesel::insert_into(cases_table::table)
                        .values(chunk)
                        .execute($conn)?;
                }
                for chunk in chains.chunks(BULK_STATEMENT) {
                    diesel::insert_into(audit_chains::table)
                        .values(chunk)
                        .on_conflict(audit_chains::chain_key)
                        .do_update()
                        .set((
                            audit_chains::head_seq
                                .eq(diesel::upsert::excluded(audit_chains::head_seq)),
                            audit_chains::head_hash
                                .eq(diesel::upsert::excluded(audit_chains::head_hash)),
                        ))
                        .execute($conn)?;
                }
                for chunk in rows.chunks(BULK_STATEMENT) {
                    diesel::insert_into(audit_log::table)
                        .values(chunk)
                        .execute($conn)?;
                }
            }};
        }
        match c {
            DbConnection::Postgres(pg) => insert_bulk!(pg),
            DbConnection::Sqlite(lite) => insert_bulk!(lite),
        }
        Ok(())
    })?;
    store::audit::checkpoint(conn, trust)?;
    Ok(count)
}

/// The heads of the streams, by chain key: `(seq, hash)`.
type Heads = BTreeMap<String, (i64, String)>;

/// Chains `drafts` onto their streams' heads (as stored, or as chained so far): the rows
/// to write and the streams' new heads.
fn chained(
    c: &mut DbConnection,
    trust: &store::trust::AuditTrust,
    drafts: Vec<Draft>,
) -> diesel::QueryResult<(Vec<store::audit::AuditEntryRow>, Heads)> {
    use crate::audit::GENESIS_HASH;
    use crate::store::schema::audit_chains;
    use diesel::prelude::*;
    let mut heads = Heads::new();
    let mut rows = Vec::with_capacity(drafts.len());
    for d in drafts {
        let head = match heads.get(&d.chain) {
            Some(h) => h.clone(),
            None => audit_chains::table
                .find(&d.chain)
                .select((audit_chains::head_seq, audit_chains::head_hash))
                .first::<(i64, String)>(c)
                .optional()?
                .unwrap_or((0, GENESIS_HASH.to_owned())),
        };
        let row = entry_row(d, head, trust);
        heads.insert(row.chain_key.clone(), (row.seq, row.hash.clone()));
        rows.push(row);
    }
    Ok((rows, heads))
}

/// The row of draft `d`, chained after `head` and keyed by `trust`.
fn entry_row(
    d: Draft,
    (head_seq, head_hash): (i64, String),
    trust: &store::trust::AuditTrust,
) -> store::audit::AuditEntryRow {
    use crate::audit::{EntryFields, entry_hash};
    let micros = d.at.and_utc().timestamp_micros();
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(micros / 1_000_000).unwrap_or(0),
        u32::try_from((micros % 1_000_000) * 1_000).unwrap_or(0),
    );
    let mut row = store::audit::AuditEntryRow {
        id: uuid::Uuid::new_v7(ts).to_string(),
        chain_key: d.chain,
        seq: head_seq + 1,
        occurred_at: d.at,
        request_id: Some(uuid::Uuid::new_v4().to_string()),
        actor_sub: d.actor,
        actor_roles: d.roles.to_owned(),
        area: d.area,
        action: d.action,
        case_id: d.case_id,
        outcome: d.outcome.to_owned(),
        details: "{}".to_owned(),
        prev_hash: head_hash,
        hash: String::new(),
    };
    let fields = EntryFields {
        id: &row.id,
        chain_key: &row.chain_key,
        seq: row.seq,
        occurred_at: row.occurred_at,
        request_id: row.request_id.as_deref(),
        actor_sub: &row.actor_sub,
        actor_roles: &row.actor_roles,
        area: &row.area,
        action: &row.action,
        case_id: row.case_id.as_deref(),
        outcome: &row.outcome,
        details: &row.details,
    };
    row.hash = entry_hash(&trust.entry_key, &row.prev_hash, &fields);
    row
}
