//! Console sessions: a random id in a cookie, the session itself in the database (only
//! the id's SHA-256 is stored), with an idle timeout and an absolute lifetime.
//!
//! The cookie is `__Host-pathway-session; Secure; HttpOnly; SameSite=Strict; Path=/`
//! when the configured public URL is https. Browsers only keep a `Secure` cookie (and
//! so any `__Host-` cookie) over https, so for local http (`http://127.0.0.1:8080`) it
//! is `pathway-session`, with the same flags but `Secure`.

use std::collections::BTreeSet;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ConsoleError, ConsoleState};
use crate::domain::{Actor, Area, Role};
use crate::store::Store;
use crate::store::sessions::{self, SessionRow};

/// The cookie's name over https.
pub const SECURE_COOKIE: &str = "__Host-pathway-session";
/// The cookie's name over local http, where `Secure` (and so `__Host-`) cannot work.
pub const PLAIN_COOKIE: &str = "pathway-session";

/// A signed-in person's live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who: the actor the sign-in built.
    pub actor: Actor,
    /// The synchronizer token every form of this session carries.
    pub csrf: String,
    id_hash: String,
}

/// The actor's claims as stored with the session.
#[derive(Debug, Serialize, Deserialize)]
struct StoredClaims {
    sub: String,
    name: String,
    email: String,
    roles: Vec<String>,
    area: String,
    org: Option<String>,
}

impl StoredClaims {
    fn of(actor: &Actor) -> StoredClaims {
        StoredClaims {
            sub: actor.sub.clone(),
            name: actor.name.clone(),
            email: actor.email.clone(),
            roles: actor.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            area: actor.area.as_str().to_owned(),
            org: actor.org.clone(),
        }
    }

    /// The actor again: these claims were checked by the token mapping at sign-in.
    fn actor(self) -> Option<Actor> {
        let roles: BTreeSet<Role> = self.roles.iter().filter_map(|r| Role::parse(r)).collect();
        if roles.is_empty() {
            return None;
        }
        Some(Actor {
            sub: self.sub,
            name: self.name,
            email: self.email,
            roles,
            area: Area::parse(&self.area).ok()?,
            org: self.org,
        })
    }
}

fn state(req: &HttpRequest) -> Result<&ConsoleState, ConsoleError> {
    req.app_data::<web::Data<ConsoleState>>()
        .map(|s| s.get_ref())
        .ok_or_else(|| {
            tracing::error!("the console is not configured");
            ConsoleError::Internal
        })
}

fn store(req: &HttpRequest) -> Result<web::Data<Store>, ConsoleError> {
    req.app_data::<web::Data<Store>>()
        .cloned()
        .ok_or(ConsoleError::Internal)
}

/// The cookie's name under these settings.
pub fn cookie_name(state: &ConsoleState) -> &'static str {
    if state.secure_cookie {
        SECURE_COOKIE
    } else {
        PLAIN_COOKIE
    }
}

fn random_token() -> Result<String, ConsoleError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a session");
        ConsoleError::Internal
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The session id the request's cookie carries, if any.
fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 100)
}

fn set_cookie(state: &ConsoleState, value: &str, max_age: i64) -> String {
    let secure = if state.secure_cookie { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        cookie_name(state)
    )
}

/// Starts a session for `actor` and answers 303 to `/console/` with its cookie. The
/// development sign-in and the OpenID Connect sign-in both end here.
pub async fn sign_in(req: &HttpRequest, actor: Actor) -> Result<HttpResponse, ConsoleError> {
    let state = state(req)?;
    let store = store(req)?;
    let id = random_token().map_err(|_| ConsoleError::failed("no randomness"))?;
    let csrf = random_token().map_err(|_| ConsoleError::failed("no randomness"))?;
    let claims = serde_json::to_string(&StoredClaims::of(&actor)).map_err(ConsoleError::failed)?;
    let now = crate::audit::now();
    let row = SessionRow {
        id_hash: hash(&id),
        claims,
        csrf_token: csrf,
        created_at: now,
        last_seen_at: now,
        expires_at: now + state.absolute_lifetime,
    };
    let idle_since = now - state.idle_timeout;
    store
        .run(move |c| -> Result<(), ConsoleError> {
            sessions::delete_ended(c, now, idle_since).map_err(ConsoleError::failed)?;
            sessions::insert(c, &row).map_err(ConsoleError::failed)?;
            Ok(())
        })
        .await?;
    tracing::info!(roles = %actor.roles_list(), "console session started");
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/"))
        .insert_header((
            header::SET_COOKIE,
            set_cookie(state, &id, state.absolute_lifetime.num_seconds()),
        ))
        .finish();
    super::render::secure(&mut response);
    Ok(response)
}

/// The request's live session, its last use recorded now; a session past its idle
/// timeout or its lifetime is deleted, and the answer is to sign in.
pub async fn current(req: &HttpRequest) -> Result<Session, ConsoleError> {
    let state = state(req)?;
    let id = cookie_value(req, cookie_name(state)).ok_or(ConsoleError::SignIn)?;
    let id_hash = hash(&id);
    let (idle, store) = (state.idle_timeout, store(req)?);
    let lookup = id_hash.clone();
    let row = store
        .run(move |c| -> Result<Option<SessionRow>, ConsoleError> {
            let Some(row) = sessions::find(c, &lookup).map_err(ConsoleError::failed)? else {
                return Ok(None);
            };
            let now = crate::audit::now();
            if row.expires_at <= now || row.last_seen_at + idle <= now {
                sessions::delete(c, &lookup).map_err(ConsoleError::failed)?;
                return Ok(None);
            }
            sessions::touch(c, &lookup, now).map_err(ConsoleError::failed)?;
            Ok(Some(row))
        })
        .await?
        .ok_or(ConsoleError::SignIn)?;
    let actor = serde_json::from_str::<StoredClaims>(&row.claims)
        .ok()
        .and_then(StoredClaims::actor)
        .ok_or(ConsoleError::SignIn)?;
    Ok(Session {
        actor,
        csrf: row.csrf_token,
        id_hash,
    })
}

/// The live session of someone with one of `roles`: no session is a redirect to sign
/// in, other roles are 403.
pub async fn require(req: &HttpRequest, roles: &[Role]) -> Result<Session, ConsoleError> {
    let session = current(req).await?;
    if roles.iter().any(|r| session.actor.has(*r)) {
        Ok(session)
    } else {
        Err(ConsoleError::Forbidden)
    }
}

/// Ends `session`: its row is deleted and the cookie cleared.
pub async fn end(req: &HttpRequest, session: Session) -> Result<HttpResponse, ConsoleError> {
    let state = state(req)?;
    let id_hash = session.id_hash;
    store(req)?
        .run(move |c| sessions::delete(c, &id_hash).map_err(ConsoleError::failed))
        .await?;
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/sign-in?signed_out=1"))
        .insert_header((header::SET_COOKIE, set_cookie(state, "", 0)))
        .finish();
    super::render::secure(&mut response);
    Ok(response)
}
