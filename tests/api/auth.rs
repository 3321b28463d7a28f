use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pathway::config::TokenAlgorithm;

use crate::helpers::{
    AREA, SmtpServer, TestApp, assert_problem, fixture, referral_body, spawn_app, spawn_app_with,
    with_mail,
};

async fn me(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url("/v1/me"));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.send().await.unwrap()
}

async fn assert_refused(app: &TestApp, authorization: Option<&str>, code: &str, why: &str) {
    let response = me(app, authorization).await;
    assert_eq!(response.status().as_u16(), 401, "{why}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer ")),
        "{why}: {challenge:?}"
    );
    let body = assert_problem(response, 401, code).await;
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{why}"
    );
}

fn b64(json: &serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
}

#[tokio::test]
async fn a_valid_token_becomes_the_actor() {
    let app = spawn_app().await;
    let mut claims = app.claims("officer-7", &["prevent_officer", "not_a_role"], AREA);
    claims.email = "Officer.Seven@Police.Example".into();
    claims.org = Some("CTP North East".into());
    let response = me(&app, Some(&format!("Bearer {}", app.sign(&claims)))).await;
    assert_eq!(response.status().as_u16(), 200);
    let actor: serde_json::Value = response.json().await.unwrap();
    assert_eq!(actor["sub"], "officer-7");
    assert_eq!(
        actor["roles"],
        serde_json::json!(["prevent_officer"]),
        "unknown roles grant nothing"
    );
    assert_eq!(actor["area"], AREA);
    assert_eq!(actor["email"], "officer.seven@police.example");
    assert_eq!(actor["org"], "CTP North East");
}

#[tokio::test]
async fn each_unusable_token_is_refused_with_its_own_code() {
    let app = spawn_app().await;
    let now = chrono::Utc::now().timestamp();
    let good = app.claims("u1", &["referrer"], AREA);
    let with = |f: &dyn Fn(&mut pathway::identity::LocalClaims)| {
        let mut c = good.clone();
        f(&mut c);
        format!("Bearer {}", app.sign(&c))
    };
    let mut wrong_secret = app.settings.auth.clone();
    wrong_secret.hs256_secret = Some(
        "another-secret-that-is-long-enough-to-be-accepted"
            .to_owned()
            .into(),
    );
    let forged = pathway::identity::mint_local_token(&wrong_secret, &good).unwrap();
    let unsigned = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&serde_json::to_value(&good).unwrap())
    );
    let valid = app.sign(&good);
    let (valid_head, valid_rest) = valid.split_once('.').unwrap();
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &good,
        &EncodingKey::from_secret(b"pathway-local-development-secret-not-for-production-use"),
    )
    .unwrap();
    let mut no_roles = serde_json::to_value(&good).unwrap();
    no_roles.as_object_mut().unwrap().remove("roles");
    let no_roles = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &no_roles,
        &EncodingKey::from_secret(b"pathway-local-development-secret-not-for-production-use"),
    )
    .unwrap();
    let mut no_email = serde_json::to_value(&good).unwrap();
    no_email.as_object_mut().unwrap().remove("email");
    let no_email = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &no_email,
        &EncodingKey::from_secret(b"pathway-local-development-secret-not-for-production-use"),
    )
    .unwrap();

    let cases: Vec<(Option<String>, &str, &str)> = vec![
        (None, "token_missing", "no Authorization header"),
        (
            Some("Basic dXNlcjpwYXNz".into()),
            "token_malformed",
            "not a bearer token",
        ),
        (
            Some("Bearer".into()),
            "token_malformed",
            "bearer with nothing after it",
        ),
        (
            Some("Bearer not.a.jwt".into()),
            "token_malformed",
            "garbage in three parts",
        ),
        (
            Some("Bearer abc".into()),
            "token_malformed",
            "garbage in one part",
        ),
        (
            Some(format!("Bearer {valid_head}.{valid_rest}.extra")),
            "token_malformed",
            "four parts",
        ),
        (
            Some(format!("Bearer {unsigned}")),
            "token_unsigned",
            "alg none",
        ),
        (
            Some(format!("Bearer {hs512}")),
            "token_algorithm_not_allowed",
            "an algorithm not configured",
        ),
        (
            Some(format!("Bearer {forged}")),
            "token_signature_invalid",
            "signed with another secret",
        ),
        (
            Some(with(&|c| c.exp = now - 120)),
            "token_expired",
            "expired beyond the leeway",
        ),
        (
            Some(with(&|c| c.nbf = now + 600)),
            "token_not_yet_valid",
            "nbf in the future",
        ),
        (
            Some(with(&|c| c.aud = "another-service".into())),
            "token_audience_invalid",
            "wrong aud",
        ),
        (
            Some(with(&|c| c.iss = "https://evil.example".into())),
            "token_issuer_invalid",
            "wrong iss",
        ),
        (
            Some(format!("Bearer {no_roles}")),
            "token_roles_missing",
            "no roles claim",
        ),
        (
            Some(with(&|c| c.roles = vec![])),
            "token_roles_missing",
            "empty roles",
        ),
        (
            Some(with(&|c| c.roles = vec!["superuser".into()])),
            "token_roles_missing",
            "only unknown roles",
        ),
        (
            Some(format!("Bearer {no_email}")),
            "token_claim_missing",
            "no email",
        ),
        (
            Some(with(&|c| c.area = "Leeds".into())),
            "token_claim_invalid",
            "area not a GSS code",
        ),
        (
            Some(with(&|c| c.area = "national".into())),
            "token_claim_invalid",
            "a national non-auditor",
        ),
        (
            Some(with(&|c| c.sub = "  ".into())),
            "token_claim_invalid",
            "blank sub",
        ),
    ];
    for (authorization, code, why) in cases {
        assert_refused(&app, authorization.as_deref(), code, why).await;
    }
}

#[tokio::test]
async fn expiry_within_the_leeway_is_accepted() {
    let app = spawn_app().await;
    let mut claims = app.claims("u1", &["referrer"], AREA);
    claims.exp = chrono::Utc::now().timestamp() - 5;
    assert_eq!(
        me(&app, Some(&format!("Bearer {}", app.sign(&claims))))
            .await
            .status()
            .as_u16(),
        200
    );
}

async fn spawn_rs256_app() -> TestApp {
    spawn_app_with(|s| {
        s.auth.algorithm = TokenAlgorithm::RS256;
        s.auth.hs256_secret = None;
        s.auth.public_key_file = Some(fixture("keys/rsa-public.pem"));
    })
    .await
}

fn sign_with(
    alg: Algorithm,
    kid: Option<&str>,
    key: &EncodingKey,
    claims: &impl serde::Serialize,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&std::fs::read(fixture("keys/rsa-private.pem")).unwrap()).unwrap()
}

#[tokio::test]
async fn rs256_tokens_verify_against_the_configured_public_key() {
    let app = spawn_rs256_app().await;
    let claims = app.claims("chair-1", &["channel_chair"], AREA);
    let token = sign_with(Algorithm::RS256, None, &rsa_key(), &claims);
    assert_eq!(
        me(&app, Some(&format!("Bearer {token}")))
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_rsa_public_key_is_refused() {
    // Algorithm confusion: the attacker knows the public key and uses it as an HMAC secret.
    let app = spawn_rs256_app().await;
    let claims = app.claims("chair-1", &["channel_chair"], AREA);
    let public_pem = std::fs::read(fixture("keys/rsa-public.pem")).unwrap();
    let token = sign_with(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(&public_pem),
        &claims,
    );
    assert_refused(
        &app,
        Some(&format!("Bearer {token}")),
        "token_algorithm_not_allowed",
        "confusion",
    )
    .await;
    let local = crate::helpers::spawn_app()
        .await
        .token("chair-1", &["channel_chair"], AREA);
    assert_refused(
        &app,
        Some(&format!("Bearer {local}")),
        "token_algorithm_not_allowed",
        "local HS256",
    )
    .await;
}

#[tokio::test]
async fn es256_tokens_verify_against_an_ec_public_key() {
    let app = spawn_app_with(|s| {
        s.auth.algorithm = TokenAlgorithm::ES256;
        s.auth.hs256_secret = None;
        s.auth.public_key_file = Some(fixture("keys/ec-public.pem"));
    })
    .await;
    let claims = app.claims("officer-1", &["prevent_officer"], AREA);
    let key =
        EncodingKey::from_ec_pem(&std::fs::read(fixture("keys/ec-private.pem")).unwrap()).unwrap();
    let token = sign_with(Algorithm::ES256, None, &key, &claims);
    assert_eq!(
        me(&app, Some(&format!("Bearer {token}")))
            .await
            .status()
            .as_u16(),
        200
    );
    let rsa = sign_with(Algorithm::RS256, None, &rsa_key(), &claims);
    assert_refused(
        &app,
        Some(&format!("Bearer {rsa}")),
        "token_algorithm_not_allowed",
        "RS256 at an ES256 service",
    )
    .await;
}

#[tokio::test]
async fn jwks_keys_are_chosen_by_kid() {
    let app = spawn_app_with(|s| {
        s.auth.algorithm = TokenAlgorithm::RS256;
        s.auth.hs256_secret = None;
        s.auth.jwks_file = Some(fixture("keys/jwks.json"));
    })
    .await;
    let claims = app.claims("auditor-1", &["auditor"], "national");
    let token = sign_with(Algorithm::RS256, Some("test-rsa-1"), &rsa_key(), &claims);
    assert_eq!(
        me(&app, Some(&format!("Bearer {token}")))
            .await
            .status()
            .as_u16(),
        200
    );
    let unknown = sign_with(Algorithm::RS256, Some("rotated-away"), &rsa_key(), &claims);
    assert_refused(
        &app,
        Some(&format!("Bearer {unknown}")),
        "token_key_unknown",
        "unknown kid",
    )
    .await;
}

/// Signs `claims` with the local HS256 secret under a header written by hand, so that the
/// header can carry members the library's typed header would drop.
fn sign_with_raw_header(
    app: &TestApp,
    header: &serde_json::Value,
    claims: &impl serde::Serialize,
) -> String {
    use secrecy::ExposeSecret as _;
    let secret = app.settings.auth.hs256_secret.as_ref().unwrap();
    let input = format!(
        "{}.{}",
        b64(header),
        b64(&serde_json::to_value(claims).unwrap())
    );
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{input}.{signature}")
}

/// Email claims that a mail header would read as another recipient, or as none.
const BAD_EMAILS: [&str; 12] = [
    "\"a@b\" <victim@other.example>",
    "Teacher <teacher-1@example.org>",
    "<victim@other.example>",
    "teacher-1@example.org (victim@other.example)",
    "teacher-1@example.org, victim@other.example",
    "teacher-1@example.org victim@other.example",
    " teacher-1@example.org",
    "teacher-1@example.org\r\nBcc: victim@other.example",
    "\"teacher 1\"@example.org",
    "teacher-1@[127.0.0.1]",
    "teacher-1",
    "",
];

#[tokio::test]
async fn an_email_claim_that_is_not_one_bare_address_is_refused() {
    let app = spawn_app().await;
    for email in BAD_EMAILS {
        let mut claims = app.claims("teacher-1", &["referrer"], AREA);
        claims.email = email.to_owned();
        let token = app.sign(&claims);
        assert_refused(
            &app,
            Some(&format!("Bearer {token}")),
            "token_email_invalid",
            email,
        )
        .await;
    }
}

#[tokio::test]
async fn critical_and_unencoded_payload_headers_are_refused() {
    let app = spawn_app().await;
    let claims = app.claims("teacher-1", &["referrer"], AREA);
    let ok = sign_with_raw_header(
        &app,
        &serde_json::json!({"alg": "HS256", "typ": "JWT"}),
        &claims,
    );
    assert_eq!(
        me(&app, Some(&format!("Bearer {ok}")))
            .await
            .status()
            .as_u16(),
        200,
        "a hand-written header without extensions is accepted"
    );
    let cases = [
        (
            serde_json::json!({"alg": "HS256", "typ": "JWT", "crit": ["exp"], "exp": 1}),
            "token_critical_header_unsupported",
            "crit naming a header parameter",
        ),
        (
            serde_json::json!({"alg": "HS256", "crit": ["urn:example:policy"], "urn:example:policy": "x"}),
            "token_critical_header_unsupported",
            "crit naming an unknown extension",
        ),
        (
            serde_json::json!({"alg": "HS256", "crit": []}),
            "token_critical_header_unsupported",
            "an empty crit",
        ),
        (
            serde_json::json!({"alg": "HS256", "b64": false, "crit": ["b64"]}),
            "token_critical_header_unsupported",
            "RFC 7797 as specified",
        ),
        (
            serde_json::json!({"alg": "HS256", "typ": "JWT", "b64": false}),
            "token_unencoded_payload_unsupported",
            "b64 false without crit",
        ),
    ];
    for (header, code, why) in cases {
        let token = sign_with_raw_header(&app, &header, &claims);
        assert_refused(&app, Some(&format!("Bearer {token}")), code, why).await;
    }
}

#[tokio::test]
async fn a_refused_token_files_nothing_and_mails_no_one() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| with_mail(s, &smtp.url())).await;
    let mut forged: Vec<(String, &str)> = BAD_EMAILS
        .iter()
        .map(|email| {
            let mut claims = app.claims("teacher-1", &["referrer"], AREA);
            claims.email = (*email).to_owned();
            (app.sign(&claims), "token_email_invalid")
        })
        .collect();
    let claims = app.claims("teacher-1", &["referrer"], AREA);
    forged.push((
        sign_with_raw_header(
            &app,
            &serde_json::json!({"alg": "HS256", "crit": ["b64"], "b64": false}),
            &claims,
        ),
        "token_critical_header_unsupported",
    ));
    forged.push((
        sign_with_raw_header(
            &app,
            &serde_json::json!({"alg": "HS256", "b64": false}),
            &claims,
        ),
        "token_unencoded_payload_unsupported",
    ));
    for (token, code) in &forged {
        let response = app
            .post_json("/v1/referrals", token, &referral_body())
            .await;
        assert_problem(response, 401, code).await;
    }

    use diesel::{QueryDsl, RunQueryDsl};
    use pathway::store::schema::{cases, notifications};
    let mut conn = app.db.connect();
    let queued: Vec<String> = notifications::table
        .select(notifications::recipient)
        .load(&mut conn)
        .unwrap();
    assert_eq!(queued, Vec::<String>::new(), "nothing queued");
    let filed: i64 = cases::table.count().get_result(&mut conn).unwrap();
    assert_eq!(filed, 0, "nothing filed");
    let sent = smtp.wait_for(1, std::time::Duration::from_secs(2)).await;
    assert!(sent.is_empty(), "nothing sent: {sent:?}");
}
