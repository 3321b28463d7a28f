//! Who is asking: a verified JWT (a bearer token, or a console sign-in's ID token)
//! becomes a typed [`Actor`], by the same rules for the API and the console. The HTTP
//! extractor that reads the bearer token is in `http::auth`.
//!
//! Exactly one algorithm is accepted (the configured one). `alg: none` and any other
//! algorithm are refused before the signature is looked at, which also closes the
//! algorithm-confusion hole (an HS256 token "signed" with an RS256 public key).
//!
//! The header is read as raw JSON as well, because the library's typed header drops members
//! it does not know: a `crit` member (RFC 7515, section 4.1.11) names extensions that must be
//! understood, and this service understands none; `b64: false` (RFC 7797) would change what
//! the signature covers.

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::{AuthSettings, TokenAlgorithm};
use crate::domain::{Actor, Area, Role, StaffEmail};

/// Why a request is not authenticated; each has its own stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Not `Bearer <three dot-separated parts>`, or undecodable.
    Malformed,
    /// `alg: none`.
    Unsigned,
    /// An algorithm other than the configured one.
    AlgorithmNotAllowed,
    /// The signature does not verify.
    BadSignature,
    /// No key with the token's `kid`.
    UnknownKey,
    /// `exp` has passed.
    Expired,
    /// `nbf` is still to come.
    NotYetValid,
    /// `aud` is not this service.
    WrongAudience,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// A required claim is absent.
    MissingClaim(String),
    /// A claim has an unusable value.
    InvalidClaim(String),
    /// No known role in `roles`.
    NoRoles,
    /// The `email` claim is not exactly one bare address.
    EmailInvalid,
    /// The header has a `crit` member: an extension this service does not understand.
    CriticalHeader,
    /// The header has `b64` other than `true`: an unencoded payload (RFC 7797).
    UnencodedPayload,
    /// `GET /metrics` with a bearer token other than the configured `metrics.token`.
    MetricsTokenInvalid,
}

impl AuthFailure {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "token_missing",
            AuthFailure::Malformed => "token_malformed",
            AuthFailure::Unsigned => "token_unsigned",
            AuthFailure::AlgorithmNotAllowed => "token_algorithm_not_allowed",
            AuthFailure::BadSignature => "token_signature_invalid",
            AuthFailure::UnknownKey => "token_key_unknown",
            AuthFailure::Expired => "token_expired",
            AuthFailure::NotYetValid => "token_not_yet_valid",
            AuthFailure::WrongAudience => "token_audience_invalid",
            AuthFailure::WrongIssuer => "token_issuer_invalid",
            AuthFailure::MissingClaim(_) => "token_claim_missing",
            AuthFailure::InvalidClaim(_) => "token_claim_invalid",
            AuthFailure::NoRoles => "token_roles_missing",
            AuthFailure::EmailInvalid => "token_email_invalid",
            AuthFailure::CriticalHeader => "token_critical_header_unsupported",
            AuthFailure::UnencodedPayload => "token_unencoded_payload_unsupported",
            AuthFailure::MetricsTokenInvalid => "metrics_token_invalid",
        }
    }

    /// What is wrong, for a person.
    pub fn detail(&self) -> String {
        match self {
            AuthFailure::Missing => "Send `Authorization: Bearer <token>`.".into(),
            AuthFailure::Malformed => "The bearer token is not a well-formed JWT.".into(),
            AuthFailure::Unsigned => "Unsigned tokens (`alg: none`) are refused.".into(),
            AuthFailure::AlgorithmNotAllowed => {
                "The token is signed with an algorithm this service does not accept.".into()
            }
            AuthFailure::BadSignature => "The token's signature does not verify.".into(),
            AuthFailure::UnknownKey => {
                "The token names a signing key this service does not know.".into()
            }
            AuthFailure::Expired => "The token has expired.".into(),
            AuthFailure::NotYetValid => "The token is not valid yet (`nbf`).".into(),
            AuthFailure::WrongAudience => "The token is not for this service (`aud`).".into(),
            AuthFailure::WrongIssuer => {
                "The token is from an issuer this service does not trust (`iss`).".into()
            }
            AuthFailure::MissingClaim(c) => format!("The token has no `{c}` claim."),
            AuthFailure::InvalidClaim(c) => format!("The token's `{c}` claim is not valid."),
            AuthFailure::NoRoles => {
                "The token's `roles` claim names no role of this service.".into()
            }
            AuthFailure::EmailInvalid => {
                "The token's `email` claim is not one bare address such as name@example.org.".into()
            }
            AuthFailure::CriticalHeader => {
                "The token's header has `crit`: this service understands no header extension."
                    .into()
            }
            AuthFailure::UnencodedPayload => {
                "The token's header has `b64`: unencoded payloads are refused.".into()
            }
            AuthFailure::MetricsTokenInvalid => {
                "The bearer token is not this service's metrics token.".into()
            }
        }
    }
}

/// The identity claims an [`Actor`] is built from (see [`actor_of`]), whether they come
/// from a bearer token or from a console sign-in's ID token. `iss`, `aud`, `exp` and `nbf`
/// are checked before, by whoever verified the token.
#[derive(Debug, Default, Deserialize)]
pub struct IdentityClaims {
    /// The subject id.
    pub sub: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The work email.
    pub email: Option<String>,
    /// The role names, known or not.
    pub roles: Option<Vec<String>>,
    /// The local authority, or `national`.
    pub area: Option<String>,
    /// The organisation.
    pub org: Option<String>,
}

enum Keys {
    Single(DecodingKey),
    Set(HashMap<String, DecodingKey>),
}

/// Verifies bearer tokens against the configured key and claims.
pub struct TokenVerifier {
    algorithm: Algorithm,
    keys: Keys,
    validation: Validation,
}

/// The key material could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("token key: {0}")]
pub struct KeyError(String);

fn algorithm_of(a: TokenAlgorithm) -> Algorithm {
    match a {
        TokenAlgorithm::HS256 => Algorithm::HS256,
        TokenAlgorithm::RS256 => Algorithm::RS256,
        TokenAlgorithm::ES256 => Algorithm::ES256,
    }
}

impl TokenVerifier {
    /// Loads the key named by the settings.
    pub fn from_settings(s: &AuthSettings) -> Result<TokenVerifier, KeyError> {
        let algorithm = algorithm_of(s.algorithm);
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| KeyError(format!("{}: {e}", p.display())))
        };
        let keys = match (s.algorithm, &s.jwks_file, &s.public_key_file) {
            (TokenAlgorithm::HS256, _, _) => {
                let secret = s
                    .hs256_secret
                    .as_ref()
                    .ok_or_else(|| KeyError("no HS256 secret".into()))?;
                Keys::Single(DecodingKey::from_secret(secret.expose_secret().as_bytes()))
            }
            (_, Some(jwks), _) => {
                let set: JwkSet = serde_json::from_slice(&read(jwks)?)
                    .map_err(|e| KeyError(format!("{}: {e}", jwks.display())))?;
                let mut keys = HashMap::new();
                for jwk in &set.keys {
                    let kid = jwk.common.key_id.clone().unwrap_or_default();
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError(e.to_string()))?;
                    keys.insert(kid, key);
                }
                Keys::Set(keys)
            }
            (alg, None, Some(pem)) => {
                let bytes = read(pem)?;
                let key = match alg {
                    TokenAlgorithm::ES256 => DecodingKey::from_ec_pem(&bytes),
                    _ => DecodingKey::from_rsa_pem(&bytes),
                }
                .map_err(|e| KeyError(format!("{}: {e}", pem.display())))?;
                Keys::Single(key)
            }
            (_, None, None) => return Err(KeyError("no public key or JWKS file".into())),
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&s.issuer]);
        validation.set_audience(&[&s.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = s.leeway_seconds;
        validation.validate_nbf = true;
        Ok(TokenVerifier {
            algorithm,
            keys,
            validation,
        })
    }

    /// Verifies `token` and builds the actor it names.
    pub fn verify(&self, token: &str) -> Result<Actor, AuthFailure> {
        let header = peek_header(token)?;
        let key = match &self.keys {
            Keys::Single(k) => k,
            Keys::Set(set) => {
                let kid = header.kid.as_deref().unwrap_or_default();
                match (set.get(kid), set.len()) {
                    (Some(k), _) => k,
                    (None, 1) if header.kid.is_none() => {
                        set.values().next().ok_or(AuthFailure::UnknownKey)?
                    }
                    _ => return Err(AuthFailure::UnknownKey),
                }
            }
        };
        if header.alg != format!("{:?}", self.algorithm) {
            return Err(AuthFailure::AlgorithmNotAllowed);
        }
        let data =
            jsonwebtoken::decode::<IdentityClaims>(token, key, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => AuthFailure::Expired,
                    ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
                    ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
                    ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer,
                    ErrorKind::InvalidSignature => AuthFailure::BadSignature,
                    ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
                        AuthFailure::AlgorithmNotAllowed
                    }
                    ErrorKind::MissingRequiredClaim(c) => AuthFailure::MissingClaim(c.clone()),
                    ErrorKind::InvalidClaimFormat(c) => AuthFailure::InvalidClaim(c.clone()),
                    _ => AuthFailure::Malformed,
                }
            })?;
        actor_of(data.claims)
    }
}

struct PeekedHeader {
    alg: String,
    kid: Option<String>,
}

/// Reads the header before verification, to refuse `none` and foreign algorithms by name.
fn peek_header(token: &str) -> Result<PeekedHeader, AuthFailure> {
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthFailure::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| AuthFailure::Malformed)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| AuthFailure::Malformed)?;
    let alg = value
        .get("alg")
        .and_then(|a| a.as_str())
        .ok_or(AuthFailure::Malformed)?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(AuthFailure::Unsigned);
    }
    // Any `crit`, even an empty list (which RFC 7515 forbids anyway): nothing here is
    // understood, so nothing may be required to be.
    if value.get("crit").is_some() {
        return Err(AuthFailure::CriticalHeader);
    }
    // `b64: true` is the default and harmless; anything else is an RFC 7797 payload, with or
    // without `crit`.
    if value
        .get("b64")
        .is_some_and(|b| b != &serde_json::Value::Bool(true))
    {
        return Err(AuthFailure::UnencodedPayload);
    }
    Ok(PeekedHeader {
        alg: alg.to_owned(),
        kid: value.get("kid").and_then(|k| k.as_str()).map(str::to_owned),
    })
}

fn required(value: Option<String>, claim: &str) -> Result<String, AuthFailure> {
    match value.map(|v| v.trim().to_owned()) {
        None => Err(AuthFailure::MissingClaim(claim.to_owned())),
        Some(v) if v.is_empty() || v.len() > 320 => {
            Err(AuthFailure::InvalidClaim(claim.to_owned()))
        }
        Some(v) => without_control_characters(v, claim),
    }
}

/// `value`, unless it holds a control character (U+0000 to U+001F, U+007F to U+009F).
/// A claim's text is written to the audit log and the database, and shown on pages: no
/// identity provider issues a NUL or an escape in one, and PostgreSQL cannot store a NUL.
fn without_control_characters(value: String, claim: &str) -> Result<String, AuthFailure> {
    if value.chars().any(char::is_control) {
        return Err(AuthFailure::InvalidClaim(claim.to_owned()));
    }
    Ok(value)
}

/// The claim rules, the only ones: verified claims become an [`Actor`], or the failure
/// that says which claim is missing or unusable.
pub fn actor_of(c: IdentityClaims) -> Result<Actor, AuthFailure> {
    let sub = required(c.sub, "sub")?;
    let name = required(c.name, "name")?;
    let email = c
        .email
        .ok_or_else(|| AuthFailure::MissingClaim("email".into()))?;
    // Not trimmed: the claim must be the address and nothing else.
    let email = StaffEmail::parse(&email)
        .map_err(|_| AuthFailure::EmailInvalid)?
        .into_string();
    let area = Area::parse(&required(c.area, "area")?)
        .map_err(|_| AuthFailure::InvalidClaim("area".into()))?;
    let named = c.roles.ok_or(AuthFailure::NoRoles)?;
    if named.iter().any(|r| r.chars().any(char::is_control)) {
        return Err(AuthFailure::InvalidClaim("roles".into()));
    }
    let roles: BTreeSet<Role> = named.iter().filter_map(|r| Role::parse(r)).collect();
    if roles.is_empty() {
        return Err(AuthFailure::NoRoles);
    }
    if area.is_national() && roles.iter().any(|r| *r != Role::Auditor) {
        // Only oversight is national; every other role works within one local authority.
        return Err(AuthFailure::InvalidClaim("area".into()));
    }
    let org = c
        .org
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .map(|o| without_control_characters(o, "org"))
        .transpose()?;
    Ok(Actor {
        sub,
        name,
        email,
        roles,
        area,
        org,
    })
}

/// The claims of a token minted for local use (`pathway token`, tests).
#[derive(Debug, Clone, Serialize)]
pub struct LocalClaims {
    /// Subject id.
    pub sub: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Area.
    pub area: String,
    /// Organisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
}

impl LocalClaims {
    /// Claims for `settings`' issuer and audience, valid from now for `ttl_seconds`.
    pub fn new(
        settings: &AuthSettings,
        sub: &str,
        roles: &[&str],
        area: &str,
        ttl_seconds: i64,
    ) -> LocalClaims {
        let now = chrono::Utc::now().timestamp();
        LocalClaims {
            sub: sub.to_owned(),
            name: format!("User {sub}"),
            email: format!("{sub}@example.org"),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            area: area.to_owned(),
            org: None,
            iss: settings.issuer.clone(),
            aud: settings.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + ttl_seconds,
        }
    }
}

/// Signs `claims` with the local HS256 secret. Callers check that the settings allow it.
pub fn mint_local_token(settings: &AuthSettings, claims: &LocalClaims) -> Result<String, KeyError> {
    let secret = settings
        .hs256_secret
        .as_ref()
        .ok_or_else(|| KeyError("no HS256 secret configured".into()))?;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .map_err(|e| KeyError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with_header(header: serde_json::Value) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode("{}")
        )
    }

    #[test]
    fn critical_and_unencoded_headers_are_refused_before_verification() {
        let cases = [
            (
                serde_json::json!({"alg": "HS256", "crit": ["exp"], "exp": 1}),
                Some(AuthFailure::CriticalHeader),
            ),
            (
                serde_json::json!({"alg": "HS256", "crit": []}),
                Some(AuthFailure::CriticalHeader),
            ),
            (
                serde_json::json!({"alg": "HS256", "crit": null}),
                Some(AuthFailure::CriticalHeader),
            ),
            (
                serde_json::json!({"alg": "HS256", "b64": false, "crit": ["b64"]}),
                Some(AuthFailure::CriticalHeader),
            ),
            (
                serde_json::json!({"alg": "HS256", "b64": false}),
                Some(AuthFailure::UnencodedPayload),
            ),
            (
                serde_json::json!({"alg": "HS256", "b64": "false"}),
                Some(AuthFailure::UnencodedPayload),
            ),
            (serde_json::json!({"alg": "HS256", "b64": true}), None),
            (serde_json::json!({"alg": "HS256", "typ": "JWT"}), None),
        ];
        for (header, refused) in cases {
            let got = peek_header(&token_with_header(header.clone())).err();
            assert_eq!(got, refused, "{header}");
        }
    }

    #[test]
    fn every_code_is_documented_in_the_readme_and_the_openapi_document() {
        let readme = include_str!("../README.md");
        let failures = [
            AuthFailure::Missing,
            AuthFailure::Malformed,
            AuthFailure::Unsigned,
            AuthFailure::AlgorithmNotAllowed,
            AuthFailure::BadSignature,
            AuthFailure::UnknownKey,
            AuthFailure::Expired,
            AuthFailure::NotYetValid,
            AuthFailure::WrongAudience,
            AuthFailure::WrongIssuer,
            AuthFailure::MissingClaim("sub".into()),
            AuthFailure::InvalidClaim("area".into()),
            AuthFailure::NoRoles,
            AuthFailure::EmailInvalid,
            AuthFailure::CriticalHeader,
            AuthFailure::UnencodedPayload,
        ];
        for failure in failures {
            let code = format!("`{}`", failure.code());
            assert!(readme.contains(&code), "{code} in the README");
            assert!(
                crate::http::TOKEN_CODES.contains(&code),
                "{code} in the OpenAPI document"
            );
        }
    }

    #[test]
    fn a_control_character_in_any_claim_is_refused() {
        let claims = || IdentityClaims {
            sub: Some("officer-1".into()),
            name: Some("Oli Officer".into()),
            email: Some("oli@police.example".into()),
            roles: Some(vec!["prevent_officer".into()]),
            area: Some("E08000035".into()),
            org: Some("West Yorkshire Police".into()),
        };
        assert!(actor_of(claims()).is_ok());
        for bad in ["x\0y", "x\u{1b}[31my", "x\ny", "x\u{7f}", "x\u{85}y"] {
            type Spoil = fn(&mut IdentityClaims, String);
            let cases: [(&str, Spoil); 5] = [
                ("sub", |c, v| c.sub = Some(v)),
                ("name", |c, v| c.name = Some(v)),
                ("area", |c, v| c.area = Some(v)),
                ("org", |c, v| c.org = Some(v)),
                ("roles", |c, v| {
                    c.roles = Some(vec!["prevent_officer".into(), v])
                }),
            ];
            for (claim, set) in cases {
                let mut c = claims();
                set(&mut c, bad.to_owned());
                assert_eq!(
                    actor_of(c).err(),
                    Some(AuthFailure::InvalidClaim(claim.into())),
                    "{claim} = {bad:?}"
                );
            }
            let mut c = claims();
            c.email = Some(format!("oli{bad}@police.example"));
            assert_eq!(actor_of(c).err(), Some(AuthFailure::EmailInvalid));
        }
    }

    #[test]
    fn the_new_failures_have_their_own_codes() {
        assert_eq!(AuthFailure::EmailInvalid.code(), "token_email_invalid");
        assert_eq!(
            AuthFailure::CriticalHeader.code(),
            "token_critical_header_unsupported"
        );
        assert_eq!(
            AuthFailure::UnencodedPayload.code(),
            "token_unencoded_payload_unsupported"
        );
    }
}
