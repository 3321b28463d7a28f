//! Console sign-in with the organisation's identity provider: OpenID Connect, the
//! authorization code flow with PKCE (S256), a nonce and a state.
//!
//! `GET /console/sign-in/oidc` sends the browser to the provider with a fresh state, nonce
//! and PKCE challenge, keeping the state, nonce and verifier in a short-lived cookie
//! encrypted and authenticated under a key only this service holds (AES-256-GCM).
//! `GET /console/sign-in/callback` checks the state, redeems the code with the verifier,
//! verifies the ID token (signature by the provider's published keys, issuer, audience,
//! expiry, nonce), builds the [`Actor`] from its claims under the same rules as a bearer
//! token's ([`actor_of`]) and starts a console session ([`session::sign_in`]).
//!
//! Every refusal is an HTML page with a stable reason, logged (never a token, a code or a
//! claim's value) and shown on the page as a reference. Like a refused bearer token, a
//! refused sign-in is logged, not written to the audit log: nobody was identified.
//!
//! Without an `oidc` section in the settings both routes answer a page that says sign-in
//! is not configured (503); the service itself still starts, for API-only deployments.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce as GcmNonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, TokenResponse,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::render::FinalPage;
use crate::config::{OidcSettings, Settings};
use crate::console::session;
use crate::domain::Actor;
use crate::identity::{AuthFailure, IdentityClaims, actor_of};

/// The path that starts a sign-in.
pub const START_PATH: &str = "/console/sign-in/oidc";
/// The path the provider sends the browser back to (the default redirect URL's path).
pub const CALLBACK_PATH: &str = "/console/sign-in/callback";
/// The cookie that carries a sign-in in progress.
pub const FLOW_COOKIE: &str = "pathway_oidc_flow";

/// The sign-in could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
#[error("oidc: {0}")]
pub struct SetupError(String);

/// Why a sign-in was refused; each has a stable reason, logged and shown on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInFailure {
    /// No `oidc` settings: this deployment offers no sign-in.
    NotConfigured,
    /// The provider's metadata or keys could not be read.
    ProviderUnavailable,
    /// The provider sent the browser back with an `error` (the user cancelled, ...).
    ProviderError,
    /// No flow cookie: the sign-in was not started in this browser, or the cookie was lost.
    FlowMissing,
    /// The flow cookie does not decrypt: altered, or made under another key.
    FlowInvalid,
    /// The flow cookie is older than `flow_ttl_seconds`.
    FlowExpired,
    /// No `state`, or one that is not this browser's.
    StateMismatch,
    /// The `iss` parameter (RFC 9207) names another issuer.
    IssuerMismatch,
    /// No `code`.
    CodeMissing,
    /// The token endpoint refused the code (used already, for another client, expired,
    /// or the PKCE verifier does not match).
    CodeRefused,
    /// The token endpoint could not be reached, or its answer could not be read.
    TokenEndpointFailed,
    /// The token response has no ID token.
    IdTokenMissing,
    /// The ID token's nonce is not this browser's.
    NonceMismatch,
    /// The ID token's signature does not verify with the provider's keys.
    IdTokenSignatureInvalid,
    /// The ID token has expired.
    IdTokenExpired,
    /// The ID token's audience or issuer is not this client and provider, or it is
    /// otherwise unusable.
    IdTokenInvalid,
    /// The access token does not match the ID token's `at_hash`.
    AccessTokenMismatch,
    /// The claims give no actor (no role, an unusable area, a national area with a role
    /// other than auditor, no email, ...): the reason is the bearer token's code.
    Claims(AuthFailure),
    /// The session could not be started.
    SessionFailed,
}

impl SignInFailure {
    /// The stable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SignInFailure::NotConfigured => "sign_in_not_configured",
            SignInFailure::ProviderUnavailable => "provider_unavailable",
            SignInFailure::ProviderError => "provider_error",
            SignInFailure::FlowMissing => "flow_missing",
            SignInFailure::FlowInvalid => "flow_invalid",
            SignInFailure::FlowExpired => "flow_expired",
            SignInFailure::StateMismatch => "state_mismatch",
            SignInFailure::IssuerMismatch => "issuer_mismatch",
            SignInFailure::CodeMissing => "code_missing",
            SignInFailure::CodeRefused => "code_refused",
            SignInFailure::TokenEndpointFailed => "token_endpoint_failed",
            SignInFailure::IdTokenMissing => "id_token_missing",
            SignInFailure::NonceMismatch => "id_token_nonce_mismatch",
            SignInFailure::IdTokenSignatureInvalid => "id_token_signature_invalid",
            SignInFailure::IdTokenExpired => "id_token_expired",
            SignInFailure::IdTokenInvalid => "id_token_invalid",
            SignInFailure::AccessTokenMismatch => "access_token_mismatch",
            SignInFailure::Claims(f) => f.code(),
            SignInFailure::SessionFailed => "session_failed",
        }
    }

    /// The status of the page.
    pub fn status(&self) -> StatusCode {
        match self {
            SignInFailure::NotConfigured | SignInFailure::ProviderUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            SignInFailure::FlowMissing
            | SignInFailure::FlowInvalid
            | SignInFailure::FlowExpired
            | SignInFailure::StateMismatch
            | SignInFailure::IssuerMismatch
            | SignInFailure::CodeMissing => StatusCode::BAD_REQUEST,
            SignInFailure::ProviderError
            | SignInFailure::CodeRefused
            | SignInFailure::NonceMismatch
            | SignInFailure::IdTokenSignatureInvalid
            | SignInFailure::IdTokenExpired
            | SignInFailure::IdTokenInvalid
            | SignInFailure::AccessTokenMismatch => StatusCode::UNAUTHORIZED,
            SignInFailure::Claims(_) => StatusCode::FORBIDDEN,
            SignInFailure::TokenEndpointFailed | SignInFailure::IdTokenMissing => {
                StatusCode::BAD_GATEWAY
            }
            SignInFailure::SessionFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn page(&self) -> (&'static str, &'static str) {
        match self {
            SignInFailure::NotConfigured => (
                "Sign-in is not configured",
                "This service has not been connected to your organisation's sign-in. Contact the service's administrators.",
            ),
            SignInFailure::ProviderUnavailable
            | SignInFailure::TokenEndpointFailed
            | SignInFailure::IdTokenMissing => (
                "Sorry, sign-in is not available right now",
                "Your organisation's sign-in service could not be reached. Try again in a few minutes.",
            ),
            SignInFailure::ProviderError => (
                "You have not been signed in",
                "Your organisation's sign-in service did not sign you in. Start again to try once more.",
            ),
            SignInFailure::FlowMissing
            | SignInFailure::FlowInvalid
            | SignInFailure::FlowExpired
            | SignInFailure::StateMismatch
            | SignInFailure::IssuerMismatch
            | SignInFailure::CodeMissing
            | SignInFailure::CodeRefused => (
                "Your sign-in could not be completed",
                "The sign-in took too long, was started in another browser or window, or has already been used. Start again.",
            ),
            SignInFailure::NonceMismatch
            | SignInFailure::IdTokenSignatureInvalid
            | SignInFailure::IdTokenExpired
            | SignInFailure::IdTokenInvalid
            | SignInFailure::AccessTokenMismatch => (
                "Your sign-in could not be checked",
                "The answer from your organisation's sign-in service could not be verified. Start again.",
            ),
            SignInFailure::Claims(_) => (
                "You do not have access to this service",
                "Your account does not have a role and area for this service. Ask your organisation's administrator to give you access.",
            ),
            SignInFailure::SessionFailed => (
                "Sorry, there is a problem with the service",
                "You have not been signed in. Try again later.",
            ),
        }
    }
}

/// The HTML page of a refused sign-in, marked so that the problem+json rewriting of error
/// responses leaves it as it is.
fn failure_page(failure: &SignInFailure) -> HttpResponse {
    let (title, body) = failure.page();
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\" class=\"govuk-template\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title} - Prevent pathway - GOV.UK</title>\n</head>\n<body class=\"govuk-template__body\">\n\
         <main class=\"govuk-main-wrapper\" id=\"main-content\">\n\
         <h1 class=\"govuk-heading-l\">{title}</h1>\n<p class=\"govuk-body\">{body}</p>\n\
         <p class=\"govuk-body\"><a class=\"govuk-link\" href=\"{START_PATH}\">Sign in</a></p>\n\
         <p class=\"govuk-body-s\">Reference: <code data-reason>{reason}</code></p>\n\
         </main>\n</body>\n</html>\n",
        reason = failure.reason(),
    );
    let mut response = HttpResponse::build(failure.status())
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // The callback's address carries the code and state: never pass it on.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html);
    response.extensions_mut().insert(FinalPage);
    response
}

/// What the flow cookie carries between the start and the callback.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    /// Unix seconds after which the flow is refused.
    expires: i64,
}

struct CachedMetadata {
    fetched: Instant,
    metadata: CoreProviderMetadata,
}

/// The console's OpenID Connect relying party: settings, the HTTP client, the cached
/// provider metadata and keys, and the flow cookie's key.
pub struct OidcSignIn {
    settings: OidcSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    cookie_path: String,
    secure_cookie: bool,
    http: openidconnect::reqwest::Client,
    cookie_key: [u8; 32],
    state_key: [u8; 32],
    metadata: tokio::sync::Mutex<Option<CachedMetadata>>,
}

/// A key derived from the client secret for one purpose, so that every instance of the
/// service with the same settings reads the others' flow cookies, and a rotated secret
/// ends the flows in progress.
fn derive_key(secret: &str, purpose: &str) -> Result<[u8; 32], SetupError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .map_err(|e| SetupError(e.to_string()))?;
    mac.update(purpose.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

impl OidcSignIn {
    /// Builds the relying party from `settings.oidc`; `None` when it is not set.
    pub fn from_settings(settings: &Settings) -> Result<Option<OidcSignIn>, SetupError> {
        let Some(oidc) = settings.oidc.clone() else {
            return Ok(None);
        };
        let issuer =
            IssuerUrl::new(oidc.issuer_url.clone()).map_err(|e| SetupError(e.to_string()))?;
        let redirect = RedirectUrl::new(oidc.redirect_url(&settings.server))
            .map_err(|e| SetupError(e.to_string()))?;
        let cookie_path = redirect.url().path().to_owned();
        let secure_cookie = redirect.url().scheme() == "https";
        let timeout = Duration::from_secs(oidc.http_timeout_seconds);
        let http = openidconnect::reqwest::Client::builder()
            // Never follow a redirect: the token endpoint must answer itself, and a
            // redirect would carry the code and the client's credentials elsewhere.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .build()
            .map_err(|e| SetupError(e.to_string()))?;
        let secret = oidc.client_secret.expose_secret();
        Ok(Some(OidcSignIn {
            cookie_key: derive_key(secret, "pathway console sign-in flow cookie")?,
            state_key: derive_key(secret, "pathway console sign-in state comparison")?,
            settings: oidc,
            issuer,
            redirect,
            cookie_path,
            secure_cookie,
            http,
            metadata: tokio::sync::Mutex::new(None),
        }))
    }

    /// The provider's metadata and keys: cached for `metadata_ttl_seconds`, read again
    /// after that (or after [`OidcSignIn::forget_metadata`]).
    async fn metadata(&self) -> Result<CoreProviderMetadata, SignInFailure> {
        let ttl = Duration::from_secs(self.settings.metadata_ttl_seconds);
        let mut cached = self.metadata.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.fetched.elapsed() < ttl) {
            return Ok(c.metadata.clone());
        }
        // Discovery also reads the JWKS, and checks that the metadata names this issuer.
        match CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http).await {
            Ok(metadata) => {
                *cached = Some(CachedMetadata {
                    fetched: Instant::now(),
                    metadata: metadata.clone(),
                });
                Ok(metadata)
            }
            Err(e) => {
                tracing::warn!(error = %e, "identity provider metadata could not be read");
                Err(SignInFailure::ProviderUnavailable)
            }
        }
    }

    /// Drops the cached metadata, so that keys the provider has rotated are read again.
    async fn forget_metadata(&self) {
        *self.metadata.lock().await = None;
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    fn seal(&self, flow: &Flow) -> Result<String, SignInFailure> {
        let plain = serde_json::to_vec(flow).map_err(|_| SignInFailure::SessionFailed)?;
        let mut nonce = [0u8; 12];
        getrandom::getrandom(&mut nonce).map_err(|_| SignInFailure::SessionFailed)?;
        let cipher = Aes256Gcm::new((&self.cookie_key).into());
        let sealed = cipher
            .encrypt(
                &GcmNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: FLOW_COOKIE.as_bytes(),
                },
            )
            .map_err(|_| SignInFailure::SessionFailed)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    fn open(&self, value: &str) -> Result<Flow, SignInFailure> {
        let bytes = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| SignInFailure::FlowInvalid)?;
        if bytes.len() < 12 + 16 {
            return Err(SignInFailure::FlowInvalid);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SignInFailure::FlowInvalid)?;
        let cipher = Aes256Gcm::new((&self.cookie_key).into());
        let plain = cipher
            .decrypt(
                &GcmNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: FLOW_COOKIE.as_bytes(),
                },
            )
            .map_err(|_| SignInFailure::FlowInvalid)?;
        let flow: Flow = serde_json::from_slice(&plain).map_err(|_| SignInFailure::FlowInvalid)?;
        if chrono::Utc::now().timestamp() > flow.expires {
            return Err(SignInFailure::FlowExpired);
        }
        Ok(flow)
    }

    /// True when `received` is `expected`, in time that does not depend on where they
    /// differ: both are MACed and the tags compared in constant time.
    fn same_state(&self, expected: &str, received: &str) -> bool {
        let tag = |s: &str| {
            <Hmac<Sha256> as Mac>::new_from_slice(&self.state_key).map(|mut mac| {
                mac.update(s.as_bytes());
                mac
            })
        };
        match (tag(expected), tag(received)) {
            (Ok(expected), Ok(received)) => received
                .verify_slice(&expected.finalize().into_bytes())
                .is_ok(),
            _ => false,
        }
    }

    fn flow_cookie(&self, value: String) -> Cookie<'static> {
        // SameSite=Lax, not Strict: the provider sends the browser back with a cross-site
        // top-level GET, on which a Strict cookie would not be sent.
        Cookie::build(FLOW_COOKIE, value)
            .path(self.cookie_path.clone())
            .http_only(true)
            .secure(self.secure_cookie)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::seconds(
                i64::try_from(self.settings.flow_ttl_seconds).unwrap_or(600),
            ))
            .finish()
    }

    fn removal_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.flow_cookie(String::new());
        cookie.make_removal();
        cookie
    }

    async fn start(&self) -> Result<HttpResponse, SignInFailure> {
        let metadata = self.metadata().await?;
        let client = self.client(metadata);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self
            .settings
            .scopes
            .iter()
            .chain(&self.settings.extra_scopes)
            .filter(|s| s.as_str() != "openid")
        {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let ttl = i64::try_from(self.settings.flow_ttl_seconds).unwrap_or(600);
        let sealed = self.seal(&Flow {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            expires: chrono::Utc::now().timestamp() + ttl,
        })?;
        Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url.to_string()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(self.flow_cookie(sealed))
            .finish())
    }

    /// The sign-in flow this callback answers, checked against what the provider sent
    /// back: no error, the flow's cookie, its state and (RFC 9207) the issuer.
    fn returned_flow(
        &self,
        req: &HttpRequest,
        params: &HashMap<String, String>,
    ) -> Result<Flow, SignInFailure> {
        if let Some(error) = params.get("error") {
            // The provider's error code only (a registered word such as access_denied);
            // its description is free text and is not logged.
            let error: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            tracing::info!(sign_in.provider_error = %error, "identity provider returned an error");
            return Err(SignInFailure::ProviderError);
        }
        let cookie = req.cookie(FLOW_COOKIE).ok_or(SignInFailure::FlowMissing)?;
        let flow = self.open(cookie.value())?;
        let state = params.get("state").ok_or(SignInFailure::StateMismatch)?;
        if !self.same_state(&flow.state, state) {
            return Err(SignInFailure::StateMismatch);
        }
        // RFC 9207: a provider that names itself must name the configured issuer.
        if let Some(iss) = params.get("iss")
            && iss.trim_end_matches('/') != self.issuer.as_str().trim_end_matches('/')
        {
            return Err(SignInFailure::IssuerMismatch);
        }
        Ok(flow)
    }

    /// What a refused ID token is answered with; which check failed is logged, not the
    /// library's message (it may quote claims).
    async fn id_token_refused(&self, e: &ClaimsVerificationError) -> SignInFailure {
        let failure = match e {
            ClaimsVerificationError::InvalidNonce(_) => SignInFailure::NonceMismatch,
            ClaimsVerificationError::Expired(_) => SignInFailure::IdTokenExpired,
            ClaimsVerificationError::SignatureVerification(_) => {
                // Perhaps the provider has rotated its keys: read them again next time.
                self.forget_metadata().await;
                SignInFailure::IdTokenSignatureInvalid
            }
            _ => SignInFailure::IdTokenInvalid,
        };
        // Which check failed, not the library's message (it may quote claims).
        let check = match e {
            ClaimsVerificationError::Expired(_) => "expired",
            ClaimsVerificationError::InvalidAudience(_) => "audience",
            ClaimsVerificationError::InvalidAuthContext(_) => "acr",
            ClaimsVerificationError::InvalidAuthTime(_) => "auth_time",
            ClaimsVerificationError::InvalidIssuer(_) => "issuer",
            ClaimsVerificationError::InvalidNonce(_) => "nonce",
            ClaimsVerificationError::InvalidSubject(_) => "subject",
            ClaimsVerificationError::SignatureVerification(_) => "signature",
            ClaimsVerificationError::Unsupported(_) => "unsupported",
            _ => "other",
        };
        tracing::info!(sign_in.id_token_check = check, "the ID token was refused");
        failure
    }

    async fn callback(&self, req: &HttpRequest) -> Result<Actor, SignInFailure> {
        let params: HashMap<String, String> = form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect();
        let flow = self.returned_flow(req, &params)?;
        let code = params.get("code").ok_or(SignInFailure::CodeMissing)?;
        let metadata = self.metadata().await?;
        let client = self.client(metadata);
        let response = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .map_err(|e| {
                tracing::warn!(error = %e, "identity provider has no token endpoint");
                SignInFailure::TokenEndpointFailed
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    let code = match r.error() {
                        CoreErrorResponseType::Extension(_) => "extension",
                        known => known.as_ref(),
                    };
                    tracing::info!(
                        sign_in.token_error = code,
                        "the token endpoint refused the code"
                    );
                    SignInFailure::CodeRefused
                }
                other => {
                    tracing::warn!(error = %other, "the token endpoint failed");
                    SignInFailure::TokenEndpointFailed
                }
            })?;
        let id_token = response.id_token().ok_or(SignInFailure::IdTokenMissing)?;
        let verifier = client.id_token_verifier();
        let nonce = Nonce::new(flow.nonce);
        let claims = match id_token.claims(&verifier, &nonce) {
            Ok(claims) => claims,
            Err(e) => return Err(self.id_token_refused(&e).await),
        };
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|_| SignInFailure::IdTokenInvalid)?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|_| SignInFailure::IdTokenInvalid)?;
            let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
                .map_err(|_| SignInFailure::IdTokenInvalid)?;
            if actual != *expected {
                return Err(SignInFailure::AccessTokenMismatch);
            }
        }
        // The signature has been verified over exactly these bytes: read the claims this
        // service needs, under their configured names.
        let payload = id_token
            .to_string()
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|p| {
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&p).ok()
            })
            .ok_or(SignInFailure::IdTokenInvalid)?;
        actor_of(identity_claims(&payload, &self.settings)).map_err(SignInFailure::Claims)
    }
}

/// The identity claims of an ID token's payload, under the configured claim names. A
/// `roles` claim given as one string is one role.
fn identity_claims(
    payload: &serde_json::Map<String, serde_json::Value>,
    settings: &OidcSettings,
) -> IdentityClaims {
    let text = |name: &str| {
        payload
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let roles = match payload.get(&settings.roles_claim) {
        Some(serde_json::Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
        ),
        Some(serde_json::Value::String(one)) => Some(vec![one.clone()]),
        _ => None,
    };
    IdentityClaims {
        sub: text("sub"),
        name: text("name"),
        email: text("email"),
        roles,
        area: text(&settings.area_claim),
        org: text(&settings.org_claim),
    }
}

fn refused(failure: &SignInFailure, removal: Option<Cookie<'static>>) -> HttpResponse {
    if failure.status().is_server_error() {
        tracing::warn!(
            sign_in.outcome = "refused",
            sign_in.reason = failure.reason(),
            "console sign-in refused"
        );
    } else {
        tracing::info!(
            sign_in.outcome = "refused",
            sign_in.reason = failure.reason(),
            "console sign-in refused"
        );
    }
    let mut page = failure_page(failure);
    if let Some(cookie) = removal {
        let _ = page.add_removal_cookie(&cookie);
    }
    page
}

/// `GET /console/sign-in/oidc`: sends the browser to the identity provider.
async fn start(req: HttpRequest) -> HttpResponse {
    let Some(oidc) = req.app_data::<web::Data<OidcSignIn>>() else {
        return refused(&SignInFailure::NotConfigured, None);
    };
    match oidc.start().await {
        Ok(response) => response,
        Err(failure) => refused(&failure, None),
    }
}

/// `GET /console/sign-in/callback`: the provider's answer; a console session, or a page
/// that says why not. The flow cookie is spent either way.
async fn callback(req: HttpRequest) -> HttpResponse {
    let Some(oidc) = req.app_data::<web::Data<OidcSignIn>>() else {
        return refused(&SignInFailure::NotConfigured, None);
    };
    let removal = oidc.removal_cookie();
    let actor = match oidc.callback(&req).await {
        Ok(actor) => actor,
        Err(failure) => return refused(&failure, Some(removal)),
    };
    let roles: Vec<&str> = actor.roles.iter().map(|r| r.as_str()).collect();
    match session::sign_in(&req, actor).await {
        Ok(mut response) => {
            tracing::info!(sign_in.outcome = "signed_in", sign_in.roles = ?roles, "console sign-in");
            let _ = response.add_removal_cookie(&removal);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "console session could not be started");
            refused(&SignInFailure::SessionFailed, Some(removal))
        }
    }
}

/// Registers the sign-in routes (at their full paths, `/console/sign-in/...`, so call it
/// at the top level, not inside a `/console` scope). `oidc` is `None` when the settings
/// have no `oidc` section: the routes then answer that sign-in is not configured.
pub fn configure(cfg: &mut web::ServiceConfig, oidc: Option<web::Data<OidcSignIn>>) {
    let mut start_route = web::resource(START_PATH).route(web::get().to(start));
    let mut callback_route = web::resource(CALLBACK_PATH).route(web::get().to(callback));
    if let Some(oidc) = oidc {
        start_route = start_route.app_data(oidc.clone());
        callback_route = callback_route.app_data(oidc);
    }
    cfg.service(start_route).service(callback_route);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    fn settings() -> Settings {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut s = Settings::load_from(&dir, Environment::Local).expect("local settings");
        s.oidc = Some(OidcSettings {
            issuer_url: "https://login.example.org/tenant/v2.0".into(),
            client_id: "pathway".into(),
            client_secret: "a client secret".to_owned().into(),
            redirect_url: None,
            scopes: vec!["email".into(), "profile".into()],
            extra_scopes: vec![],
            roles_claim: "roles".into(),
            area_claim: "area".into(),
            org_claim: "org".into(),
            metadata_ttl_seconds: 60,
            http_timeout_seconds: 5,
            flow_ttl_seconds: 60,
        });
        s
    }

    fn sign_in() -> OidcSignIn {
        OidcSignIn::from_settings(&settings())
            .expect("built")
            .expect("configured")
    }

    fn flow(expires: i64) -> Flow {
        Flow {
            state: "state".into(),
            nonce: "nonce".into(),
            verifier: "verifier".into(),
            expires,
        }
    }

    #[test]
    fn a_flow_cookie_opens_only_unaltered_unexpired_and_under_its_own_key() {
        let oidc = sign_in();
        let later = chrono::Utc::now().timestamp() + 60;
        let sealed = oidc.seal(&flow(later)).unwrap();
        assert_eq!(
            oidc.open(&sealed).map(|f| f.state).ok(),
            Some("state".into())
        );

        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(oidc.open(&altered).err(), Some(SignInFailure::FlowInvalid));
        assert_eq!(oidc.open("").err(), Some(SignInFailure::FlowInvalid));

        let past = chrono::Utc::now().timestamp() - 1;
        let expired = oidc.seal(&flow(past)).unwrap();
        assert_eq!(oidc.open(&expired).err(), Some(SignInFailure::FlowExpired));

        let mut other = settings();
        if let Some(o) = other.oidc.as_mut() {
            o.client_secret = "another secret".to_owned().into();
        }
        let other = OidcSignIn::from_settings(&other).unwrap().unwrap();
        assert_eq!(other.open(&sealed).err(), Some(SignInFailure::FlowInvalid));
    }

    #[test]
    fn states_are_compared_whole() {
        let oidc = sign_in();
        assert!(oidc.same_state("abc", "abc"));
        assert!(!oidc.same_state("abc", "abd"));
        assert!(!oidc.same_state("abc", "ab"));
        assert!(!oidc.same_state("abc", ""));
    }

    #[test]
    fn the_flow_cookie_is_lax_http_only_and_scoped_to_the_callback() {
        let cookie = sign_in().flow_cookie("v".into());
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.path(), Some(CALLBACK_PATH));
        assert_eq!(cookie.secure(), Some(false), "the local public URL is http");
    }

    #[test]
    fn claims_are_read_under_their_configured_names_and_mapped_by_the_token_rules() {
        let mut s = settings().oidc.unwrap();
        let payload = |v: serde_json::Value| v.as_object().cloned().unwrap();
        let officer = payload(serde_json::json!({
            "sub": "u1", "name": "Pat", "email": "pat@police.example",
            "roles": ["prevent_officer"], "area": "E08000035", "org": "WYP"
        }));
        let actor = actor_of(identity_claims(&officer, &s)).expect("an actor");
        assert_eq!(actor.area.as_str(), "E08000035");
        assert_eq!(actor.org.as_deref(), Some("WYP"));

        s.roles_claim = "groups".into();
        s.area_claim = "extension_area".into();
        let grouped = payload(serde_json::json!({
            "sub": "u2", "name": "Gerry", "email": "gerry@council.example",
            "groups": "channel_chair", "extension_area": "E08000035", "roles": ["admin"]
        }));
        let actor = actor_of(identity_claims(&grouped, &s)).expect("an actor");
        assert_eq!(
            actor.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            ["channel_chair"],
            "the configured claim, not `roles`"
        );

        let cases = [
            (serde_json::json!({"roles": []}), "token_roles_missing"),
            (
                serde_json::json!({"roles": ["superuser"]}),
                "token_roles_missing",
            ),
            (serde_json::json!({"area": "Leeds"}), "token_claim_invalid"),
            (
                serde_json::json!({"area": "national", "roles": ["auditor", "admin"]}),
                "token_claim_invalid",
            ),
            (
                serde_json::json!({"email": "two@a.example, b@a.example"}),
                "token_email_invalid",
            ),
        ];
        let s = settings().oidc.unwrap();
        for (change, reason) in cases {
            let mut claims = officer.clone();
            for (k, v) in change.as_object().unwrap() {
                claims.insert(k.clone(), v.clone());
            }
            let failure = actor_of(identity_claims(&claims, &s)).map_err(SignInFailure::Claims);
            assert_eq!(
                failure.as_ref().err().map(|f| f.reason()),
                Some(reason),
                "{change}"
            );
            assert_eq!(
                failure.err().map(|f| f.status()),
                Some(StatusCode::FORBIDDEN)
            );
        }
    }

    #[test]
    fn every_reason_is_documented_in_the_readme_with_its_status() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### Signing in with your identity provider")
            .nth(1)
            .expect("the README's sign-in section");
        let failures = [
            SignInFailure::NotConfigured,
            SignInFailure::ProviderUnavailable,
            SignInFailure::ProviderError,
            SignInFailure::FlowMissing,
            SignInFailure::FlowInvalid,
            SignInFailure::FlowExpired,
            SignInFailure::StateMismatch,
            SignInFailure::IssuerMismatch,
            SignInFailure::CodeMissing,
            SignInFailure::CodeRefused,
            SignInFailure::TokenEndpointFailed,
            SignInFailure::IdTokenMissing,
            SignInFailure::NonceMismatch,
            SignInFailure::IdTokenSignatureInvalid,
            SignInFailure::IdTokenExpired,
            SignInFailure::IdTokenInvalid,
            SignInFailure::AccessTokenMismatch,
            SignInFailure::Claims(AuthFailure::NoRoles),
        ];
        for failure in failures {
            let reason = format!("`{}`", failure.reason());
            assert!(section.contains(&reason), "{reason} in the README");
        }
    }

    #[test]
    fn failure_pages_are_html_with_their_reason() {
        let page = failure_page(&SignInFailure::StateMismatch);
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        assert!(page.extensions().contains::<FinalPage>());
        assert_eq!(
            page.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            page.headers().get(header::REFERRER_POLICY).unwrap(),
            "no-referrer"
        );
    }
}
