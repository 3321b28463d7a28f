//! SMTP sessions held open until the caller has recorded the relay's answer.
//!
//! A relay that answers `250` to the end of `DATA` has taken responsibility for the
//! message; only `QUIT` is left. lettre's transport sends `QUIT` and waits for its
//! reply before it returns, so a worker stopped in that round trip has a delivered
//! message it never marked, and sends it again. Here the session is split: [`Relay`]
//! connects and sends, the worker marks the row sent, and only then does
//! [`Session::close`] say `QUIT`. What is left of the window is the relay's own
//! reply to `DATA` in flight, which no SMTP client can close (see the README's "Email
//! notifications").

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{Error, SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT};

/// An SMTP relay, as `mail.smtp_url` names it.
#[derive(Clone)]
pub struct Relay {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// `mail.smtp_url` is not one this service can use.
#[derive(Debug, thiserror::Error)]
#[error("mail.smtp_url: {0}")]
pub struct RelayUrlError(String);

impl Relay {
    /// Reads `smtp://[user:password@]host[:port][?tls=required|opportunistic]` (STARTTLS)
    /// or `smtps://…` (TLS from the start), the forms lettre's own transport reads, with
    /// the same default ports; `timeout` bounds each command.
    pub fn from_url(url: &str, timeout: Duration) -> Result<Relay, RelayUrlError> {
        let parsed = url::Url::parse(url).map_err(|e| RelayUrlError(e.to_string()))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| RelayUrlError("no host".into()))?
            .to_owned();
        let tls_mode = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let parameters =
            || TlsParameters::new(host.clone()).map_err(|e| RelayUrlError(e.to_string()));
        let (default_port, tls) = match (parsed.scheme(), tls_mode.as_deref()) {
            ("smtp", None) => (SMTP_PORT, Tls::None),
            ("smtp", Some("required")) => (SUBMISSION_PORT, Tls::Required(parameters()?)),
            ("smtp", Some("opportunistic")) => (SUBMISSION_PORT, Tls::Opportunistic(parameters()?)),
            ("smtps", _) => (SUBMISSIONS_PORT, Tls::Wrapper(parameters()?)),
            (scheme, tls) => {
                return Err(RelayUrlError(format!(
                    "unknown scheme `{scheme}` or tls parameter `{}`",
                    tls.unwrap_or_default()
                )));
            }
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|e| RelayUrlError(e.to_string()))
        };
        let credentials = match parsed.password() {
            Some(password) => Some(Credentials::new(
                decode(parsed.username())?,
                decode(password)?,
            )),
            None => None,
        };
        // As lettre does: a path names the client in EHLO.
        let hello = match parsed.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        Ok(Relay {
            port: parsed.port().unwrap_or(default_port),
            host,
            tls,
            credentials,
            hello,
            timeout,
        })
    }

    /// Connects, says EHLO, upgrades to TLS and authenticates as the URL asks, then
    /// sends the message: the relay's `250` to the end of `DATA` is `Ok`, with the
    /// session still open.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<Session, Error> {
        let wrapper = match &self.tls {
            Tls::Wrapper(parameters) => Some(parameters.clone()),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            wrapper,
            None,
        )
        .await?;
        match &self.tls {
            Tls::Required(parameters) => conn.starttls(parameters.clone(), &self.hello).await?,
            Tls::Opportunistic(parameters) if conn.can_starttls() => {
                conn.starttls(parameters.clone(), &self.hello).await?;
            }
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        let mut session = Session(conn);
        match session.0.send(envelope, message).await {
            Ok(_) => Ok(session),
            Err(e) => {
                session.close().await;
                Err(e)
            }
        }
    }
}

/// A session whose message the relay has accepted, to be closed once that is recorded.
pub struct Session(AsyncSmtpConnection);

impl Session {
    /// Says `QUIT` (its answer changes nothing: the message was accepted) and closes
    /// the connection.
    pub async fn close(mut self) {
        self.0.abort().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_gives_the_port_tls_and_credentials_lettre_would() {
        let t = Duration::from_secs(1);
        let plain = Relay::from_url("smtp://127.0.0.1:2525", t).unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 2525));
        assert!(matches!(plain.tls, Tls::None) && plain.credentials.is_none());
        let starttls = Relay::from_url("smtp://u%40x:p%20w@relay.example?tls=required", t).unwrap();
        assert_eq!(starttls.port, 587);
        assert!(matches!(starttls.tls, Tls::Required(_)));
        assert!(starttls.credentials.is_some());
        let wrapped = Relay::from_url("smtps://relay.example", t).unwrap();
        assert_eq!(wrapped.port, 465);
        assert!(matches!(wrapped.tls, Tls::Wrapper(_)));
        assert!(Relay::from_url("http://relay.example", t).is_err());
        assert!(Relay::from_url("smtp://relay.example?tls=sometimes", t).is_err());
        assert!(
            !format!("{starttls:?}").contains("p w"),
            "Debug shows no password"
        );
    }
}
