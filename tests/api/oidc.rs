//! Console sign-in against a real OpenID Connect provider: node-oidc-provider, installed
//! from `tests/oidc/package-lock.json` into `target/oidc-provider` (once, on first use)
//! and started by each test with `tests/oidc/provider.mjs`. The browser is played by
//! reqwest, redirects followed by hand: start → the provider's login and consent forms →
//! the callback.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pathway::config::OidcSettings;
use pathway::console::oidc::{CALLBACK_PATH, FLOW_COOKIE, START_PATH};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use url::Url;

use crate::helpers::{
    ClosedPort, TestApp, bound_listener, spawn_app, spawn_app_on, spawn_app_with,
};

const CLIENT_ID: &str = "pathway-console";
const CLIENT_SECRET: &str = "pathway-console-test-secret";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the provider's packages are installed.
fn install_dir() -> PathBuf {
    manifest_dir().join("target").join("oidc-provider")
}

static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The directory holding `node_modules/oidc-provider` and `provider.mjs`, installed
/// once per test process (`npm ci` from the committed lockfile); a test without node or
/// npm fails here, with the reason.
fn provider_script() -> PathBuf {
    match INSTALLED.get_or_init(install) {
        Ok(script) => script.clone(),
        Err(why) => panic!("the OpenID Connect provider for the sign-in tests: {why}"),
    }
}

fn install() -> Result<PathBuf, String> {
    let source = manifest_dir().join("tests").join("oidc");
    let version = Command::new("node").arg("--version").output();
    match version {
        Ok(out) if out.status.success() => {}
        other => {
            return Err(format!(
                "node (v20 or later) must be installed and on PATH to run these tests ({other:?})"
            ));
        }
    }
    let lock = std::fs::read(source.join("package-lock.json"))
        .map_err(|e| format!("tests/oidc/package-lock.json: {e}"))?;
    let dir = install_dir();
    let current = |dir: &Path| {
        dir.join("node_modules/oidc-provider/package.json").exists()
            && std::fs::read(dir.join("package-lock.json")).ok().as_ref() == Some(&lock)
    };
    if !current(&dir) {
        // Installed beside, then moved into place, so that another test process never
        // sees half an installation.
        let staging = dir.with_extension(format!("staging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(file), staging.join(file))
                .map_err(|e| format!("copying {file}: {e}"))?;
        }
        let out = Command::new("npm")
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&staging)
            .output()
            .map_err(|e| format!("npm must be installed and on PATH to run these tests: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "npm ci failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
        if std::fs::rename(&staging, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
            if !current(&dir) {
                return Err(format!("could not install into {}", dir.display()));
            }
        }
    }
    // The script sits beside node_modules so that node resolves `oidc-provider` there.
    let script = std::fs::read(source.join("provider.mjs"))
        .map_err(|e| format!("tests/oidc/provider.mjs: {e}"))?;
    let target = dir.join("provider.mjs");
    if std::fs::read(&target).ok() != Some(script.clone()) {
        let staged = dir.join(format!("provider.mjs.{}", std::process::id()));
        std::fs::write(&staged, &script).map_err(|e| format!("{}: {e}", staged.display()))?;
        std::fs::rename(&staged, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(target)
}

/// A running provider; stopped when dropped (and it exits by itself when its standard
/// input closes, should this process die first).
struct Provider {
    child: Child,
    _stdin: ChildStdin,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the provider with one client whose redirect URI is `redirect_uri`.
fn start_provider(redirect_uri: &str) -> Provider {
    let script = provider_script();
    let mut child = Command::new("node")
        .arg(&script)
        .env("OIDC_REDIRECT_URI", redirect_uri)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed and on PATH to run the sign-in tests");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep reading: a closed pipe would stop the provider at its next notice.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let stderr = child.stderr.take().expect("stderr");
    let errors = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log = errors.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let Some(port) = line.trim().strip_prefix("listening ") else {
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(200));
        let err = errors.lock().map(|e| e.clone()).unwrap_or_default();
        panic!("the OpenID Connect provider did not start: {line:?} {err}");
    };
    Provider {
        issuer: format!("http://127.0.0.1:{port}"),
        child,
        _stdin: stdin,
    }
}

fn oidc_settings(issuer: &str) -> OidcSettings {
    OidcSettings {
        issuer_url: issuer.to_owned(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.to_owned().into(),
        redirect_url: None,
        scopes: vec!["email".into(), "profile".into()],
        extra_scopes: vec!["pathway".into()],
        roles_claim: "roles".into(),
        area_claim: "area".into(),
        org_claim: "org".into(),
        metadata_ttl_seconds: 300,
        http_timeout_seconds: 5,
        flow_ttl_seconds: 300,
    }
}

/// A provider and a server that signs in with it, on the port the provider sends
/// browsers back to.
async fn spawn_with_provider(adjust: impl FnOnce(&mut OidcSettings)) -> (TestApp, Provider) {
    // The service's port is bound first and kept: the provider is told it, and no other
    // process can take it before the service serves on it.
    let (listener, port) = bound_listener();
    let provider = start_provider(&format!("http://127.0.0.1:{port}{CALLBACK_PATH}"));
    let mut oidc = oidc_settings(&provider.issuer);
    adjust(&mut oidc);
    let app = spawn_app_on(listener, |s| s.oidc = Some(oidc)).await;
    (app, provider)
}

/// A browser: no cookies kept for the service (each test says which it sends), the
/// provider's kept in a jar; no redirect followed by itself.
struct Browser {
    service: reqwest::Client,
    provider: reqwest::Client,
}

/// A sign-in started at the service.
struct Started {
    /// `pathway_oidc_flow=...`, as the browser would send it back.
    flow_cookie: String,
    /// The whole `Set-Cookie` header of the flow cookie.
    set_cookie: String,
    authorize: Url,
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("a Location on {}", response.status()))
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

impl Browser {
    fn new() -> Browser {
        let build = |jar: bool| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(jar)
                .timeout(Duration::from_secs(20))
                .build()
                .expect("http client")
        };
        Browser {
            service: build(false),
            provider: build(true),
        }
    }

    async fn start(&self, app: &TestApp) -> Started {
        let response = self
            .service
            .get(format!("{}{START_PATH}", app.address))
            .send()
            .await
            .expect("start");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "start");
        let set_cookie = set_cookies(&response)
            .into_iter()
            .find(|c| c.starts_with(&format!("{FLOW_COOKIE}=")))
            .expect("the flow cookie");
        let flow_cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
        Started {
            flow_cookie,
            set_cookie,
            authorize: Url::parse(&location(&response)).expect("an absolute authorization URL"),
        }
    }

    /// Follows the provider's redirects, signs in as `login` and consents, and returns
    /// the URL the provider sends the browser back to at the service.
    async fn log_in(&self, app: &TestApp, authorize: &Url, login: &str) -> String {
        let form_action = regex::Regex::new(r#"<form[^>]*action="([^"]+)""#).unwrap();
        let mut url = authorize.clone();
        for _ in 0..20 {
            let response = self
                .provider
                .get(url.clone())
                .send()
                .await
                .expect("provider");
            let status = response.status();
            if status.is_redirection() {
                let next = url.join(&location(&response)).expect("a redirect URL");
                if next.as_str().starts_with(&app.address) {
                    return next.to_string();
                }
                url = next;
                continue;
            }
            let page = response.text().await.unwrap_or_default();
            assert_eq!(status, StatusCode::OK, "the provider's page: {page}");
            let action = form_action
                .captures(&page)
                .map(|c| c[1].to_owned())
                .unwrap_or_else(|| panic!("a form on the provider's page: {page}"));
            let form: Vec<(&str, &str)> = if page.contains(r#"name="prompt" value="login""#) {
                vec![("prompt", "login"), ("login", login), ("password", "any")]
            } else if page.contains(r#"name="prompt" value="consent""#) {
                vec![("prompt", "consent")]
            } else {
                panic!("neither login nor consent: {page}");
            };
            let response = self
                .provider
                .post(url.join(&action).expect("the form's URL"))
                .form(&form)
                .send()
                .await
                .expect("the provider's form");
            assert!(
                response.status().is_redirection(),
                "the form is answered by a redirect, not {}",
                response.status()
            );
            url = url.join(&location(&response)).expect("a redirect URL");
            if url.as_str().starts_with(&app.address) {
                return url.to_string();
            }
        }
        panic!("the provider never sent the browser back");
    }

    async fn callback(&self, url: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.service.get(url);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.expect("callback")
    }
}

/// Asserts a refusal page: its status, that it is HTML with a GOV.UK heading, and its
/// reason.
async fn assert_refused(response: reqwest::Response, status: StatusCode, reason: &str) {
    assert_eq!(response.status(), status, "the status of `{reason}`");
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let page = response.text().await.expect("a page");
    assert!(
        content_type.starts_with("text/html"),
        "{content_type}: {page}"
    );
    assert!(page.contains(r#"<h1 class="govuk-heading-l">"#), "{page}");
    assert!(
        page.contains(&format!("<code data-reason>{reason}</code>")),
        "expected `{reason}`: {page}"
    );
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = Url::parse(url).expect("a URL");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(name, value);
    url.to_string()
}

/// A session was started: 303 to the console, the flow cookie spent, another cookie set.
fn assert_signed_in(response: &reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response), "/console/");
    let cookies = set_cookies(response);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("{FLOW_COOKIE}=;")) && c.contains("Max-Age=0")),
        "the flow cookie is removed: {cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| !c.starts_with(FLOW_COOKIE)),
        "a session cookie is set: {cookies:?}"
    );
}

#[tokio::test]
async fn signing_in_with_the_identity_provider_starts_a_console_session() {
    // Arrange
    let (app, provider) = spawn_with_provider(|_| {}).await;
    let browser = Browser::new();

    // Act
    let started = browser.start(&app).await;
    let back = browser.log_in(&app, &started.authorize, "officer").await;
    let response = browser.callback(&back, Some(&started.flow_cookie)).await;

    // Assert
    assert_signed_in(&response);
    let a = &started.authorize;
    assert!(
        a.as_str()
            .starts_with(&format!("{}/auth?", provider.issuer)),
        "{a}"
    );
    assert_eq!(query(a, "response_type").as_deref(), Some("code"));
    assert_eq!(query(a, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query(a, "code_challenge_method").as_deref(), Some("S256"));
    assert!(query(a, "code_challenge").is_some_and(|c| c.len() == 43));
    assert!(query(a, "nonce").is_some_and(|n| n.len() >= 16));
    assert!(query(a, "state").is_some_and(|s| s.len() >= 16));
    let scope = query(a, "scope").unwrap_or_default();
    for s in ["openid", "email", "profile", "pathway"] {
        assert!(scope.split(' ').any(|x| x == s), "{s} in {scope}");
    }
    assert_eq!(
        query(a, "redirect_uri"),
        Some(format!("{}{CALLBACK_PATH}", app.address))
    );
    let c = &started.set_cookie;
    assert!(c.contains("HttpOnly"), "{c}");
    assert!(c.contains("SameSite=Lax"), "{c}");
    assert!(c.contains(&format!("Path={CALLBACK_PATH}")), "{c}");
    assert!(
        !c.contains(&query(a, "state").unwrap_or_default()),
        "the state is sealed, not in clear: {c}"
    );
}

#[tokio::test]
async fn a_replayed_callback_is_refused_because_the_code_is_spent() {
    let (app, _provider) = spawn_with_provider(|_| {}).await;
    let browser = Browser::new();
    let started = browser.start(&app).await;
    let back = browser.log_in(&app, &started.authorize, "officer").await;
    assert_signed_in(&browser.callback(&back, Some(&started.flow_cookie)).await);

    // The same request again, flow cookie and all: the provider refuses the used code.
    let replayed = browser.callback(&back, Some(&started.flow_cookie)).await;

    assert_refused(replayed, StatusCode::UNAUTHORIZED, "code_refused").await;
}

#[tokio::test]
async fn a_callback_not_bound_to_this_browser_s_sign_in_is_refused_before_the_code_is_used() {
    let (app, _provider) = spawn_with_provider(|_| {}).await;
    let browser = Browser::new();
    let started = browser.start(&app).await;
    let back = browser.log_in(&app, &started.authorize, "officer").await;
    let other_flow = browser.start(&app).await.flow_cookie;
    let mut altered = started.flow_cookie.clone();
    let flip = if altered.ends_with('A') { "B" } else { "A" };
    altered.replace_range(altered.len() - 1.., flip);
    let cases = [
        (
            with_param(&back, "state", "not-the-state"),
            Some(started.flow_cookie.as_str()),
            StatusCode::BAD_REQUEST,
            "state_mismatch",
            "a tampered state",
        ),
        (
            back.clone(),
            Some(other_flow.as_str()),
            StatusCode::BAD_REQUEST,
            "state_mismatch",
            "the flow cookie of another sign-in",
        ),
        (
            back.clone(),
            None,
            StatusCode::BAD_REQUEST,
            "flow_missing",
            "no flow cookie",
        ),
        (
            back.clone(),
            Some(altered.as_str()),
            StatusCode::BAD_REQUEST,
            "flow_invalid",
            "an altered flow cookie",
        ),
        (
            with_param(&back, "iss", "http://127.0.0.1:1"),
            Some(started.flow_cookie.as_str()),
            StatusCode::BAD_REQUEST,
            "issuer_mismatch",
            "another issuer named in the response",
        ),
        (
            format!(
                "{}{CALLBACK_PATH}?error=access_denied&error_description=End-User+aborted",
                app.address
            ),
            Some(started.flow_cookie.as_str()),
            StatusCode::UNAUTHORIZED,
            "provider_error",
            "the provider's error",
        ),
    ];
    for (url, cookie, status, reason, case) in cases {
        let response = browser.callback(&url, cookie).await;
        assert_eq!(response.status(), status, "{case}");
        assert_refused(response, status, reason).await;
    }

    // None of those spent the code: the genuine callback still signs in.
    assert_signed_in(&browser.callback(&back, Some(&started.flow_cookie)).await);
}

#[tokio::test]
async fn a_code_for_another_client_or_an_id_token_with_another_nonce_is_refused() {
    let (app, _provider) = spawn_with_provider(|_| {}).await;
    let browser = Browser::new();
    let started = browser.start(&app).await;
    let with = |name: &str, value: &str| {
        Url::parse(&with_param(started.authorize.as_str(), name, value)).expect("a URL")
    };

    // A code the provider issued to another client, slipped into this browser's sign-in.
    let other_client = browser
        .log_in(&app, &with("client_id", "other-client"), "officer")
        .await;
    let response = browser
        .callback(&other_client, Some(&started.flow_cookie))
        .await;
    assert_refused(response, StatusCode::UNAUTHORIZED, "code_refused").await;

    // A code for this client and this PKCE challenge, but asked for with another nonce:
    // its ID token does not carry this browser's nonce.
    let other_nonce = browser
        .log_in(
            &app,
            &with("nonce", "a-nonce-this-browser-never-saw"),
            "officer",
        )
        .await;
    let response = browser
        .callback(&other_nonce, Some(&started.flow_cookie))
        .await;
    assert_refused(
        response,
        StatusCode::UNAUTHORIZED,
        "id_token_nonce_mismatch",
    )
    .await;
}

#[tokio::test]
async fn claims_that_give_no_role_or_a_usable_area_are_refused_403() {
    let (app, _provider) = spawn_with_provider(|_| {}).await;
    let cases = [
        ("noroles", "token_roles_missing", "no role of this service"),
        (
            "badarea",
            "token_claim_invalid",
            "an area that is not a GSS code",
        ),
        (
            "national",
            "token_claim_invalid",
            "a national area with a role other than auditor",
        ),
    ];
    for (login, reason, case) in cases {
        let browser = Browser::new();
        let started = browser.start(&app).await;
        let back = browser.log_in(&app, &started.authorize, login).await;
        let response = browser.callback(&back, Some(&started.flow_cookie)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}");
        assert_refused(response, StatusCode::FORBIDDEN, reason).await;
    }
}

#[tokio::test]
async fn roles_are_read_from_the_configured_claim() {
    let (app, _provider) = spawn_with_provider(|o| o.roles_claim = "groups".into()).await;

    let browser = Browser::new();
    let started = browser.start(&app).await;
    let back = browser.log_in(&app, &started.authorize, "grouped").await;
    assert_signed_in(&browser.callback(&back, Some(&started.flow_cookie)).await);

    // `roles` is no longer read: an account with roles only there has none.
    let browser = Browser::new();
    let started = browser.start(&app).await;
    let back = browser.log_in(&app, &started.authorize, "officer").await;
    let response = browser.callback(&back, Some(&started.flow_cookie)).await;
    assert_refused(response, StatusCode::FORBIDDEN, "token_roles_missing").await;
}

#[tokio::test]
async fn a_sign_in_that_takes_too_long_is_refused() {
    let (app, _provider) = spawn_with_provider(|o| o.flow_ttl_seconds = 1).await;
    let browser = Browser::new();
    let started = browser.start(&app).await;
    let back = browser.log_in(&app, &started.authorize, "officer").await;

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = browser.callback(&back, Some(&started.flow_cookie)).await;

    assert_refused(response, StatusCode::BAD_REQUEST, "flow_expired").await;
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_gives_a_page_quickly() {
    // Nothing listens on the issuer's port.
    let closed = ClosedPort::new();
    let app = spawn_app_with(|s| {
        s.oidc = Some(oidc_settings(&format!("http://127.0.0.1:{}", closed.port)));
    })
    .await;
    let began = Instant::now();
    let response = Browser::new()
        .service
        .get(format!("{}{START_PATH}", app.address))
        .send()
        .await
        .expect("start");
    assert_refused(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
    )
    .await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );

    // A provider that goes away between the start and the callback: the code cannot be
    // redeemed.
    let (app, provider) = spawn_with_provider(|_| {}).await;
    let browser = Browser::new();
    let started = browser.start(&app).await;
    let back = browser.log_in(&app, &started.authorize, "officer").await;
    drop(provider);
    let began = Instant::now();
    let response = browser.callback(&back, Some(&started.flow_cookie)).await;
    assert_refused(response, StatusCode::BAD_GATEWAY, "token_endpoint_failed").await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn without_oidc_settings_the_sign_in_pages_say_it_is_not_configured() {
    let app = spawn_app().await;
    assert!(
        app.settings.oidc.is_none(),
        "the shipped settings have none"
    );
    for path in [START_PATH, CALLBACK_PATH] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("request");
        assert_refused(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "sign_in_not_configured",
        )
        .await;
    }
}
