//! The mail worker: claims due notifications one at a time, renders them, sends them,
//! and records the outcome, retrying with exponential back-off and jitter.
//!
//! Delivery is at least once, with a stable `Message-ID` (derived from the outbox row's
//! id) on every attempt. A message is marked sent as soon as the relay accepts it, before
//! the session is closed; a claim lasts one message's delivery, so a worker that stops
//! mid-send leaves its message to another within that time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::Address;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::Templates;
use super::smtp::{Relay, Session};
use crate::audit::now;
use crate::config::MailSettings;
use crate::store::notifications::{self as store, NotificationRow};
use crate::store::{Store, StoreError};

/// Where mail goes: an SMTP relay, or `.eml` files for local use.
#[derive(Clone)]
pub enum Mailer {
    /// A relay (STARTTLS, TLS and authentication from the URL).
    Smtp(Relay),
    /// Files in a directory.
    File(AsyncFileTransport<Tokio1Executor>),
}

/// The mailer could not be built.
#[derive(Debug, thiserror::Error)]
#[error("mail: {0}")]
pub struct MailerError(String);

/// A message the relay has accepted, on a session still to be closed.
struct Accepted(Option<Session>);

impl Accepted {
    async fn close(self) {
        if let Some(session) = self.0 {
            session.close().await;
        }
    }
}

impl Mailer {
    /// SMTP when `mail.smtp_url` is set (e.g. `smtp://user:pass@relay:587?tls=required`),
    /// else files under `mail.file_dir`.
    pub fn from_settings(mail: &MailSettings) -> Result<Mailer, MailerError> {
        match mail
            .smtp_url
            .as_ref()
            .map(|u| u.expose_secret().to_owned())
            .filter(|u| !u.is_empty())
        {
            Some(url) => Relay::from_url(&url, Duration::from_secs(mail.timeout_seconds))
                .map(Mailer::Smtp)
                .map_err(|e| MailerError(e.to_string())),
            None => {
                std::fs::create_dir_all(&mail.file_dir)
                    .map_err(|e| MailerError(format!("{}: {e}", mail.file_dir.display())))?;
                Ok(Mailer::File(AsyncFileTransport::new(&mail.file_dir)))
            }
        }
    }

    /// Sends `message`; `Ok` once the relay (or the file) has it.
    async fn send(&self, message: Message) -> Result<Accepted, String> {
        match self {
            Mailer::Smtp(relay) => relay
                .send(message.envelope(), &message.formatted())
                .await
                .map(|session| Accepted(Some(session)))
                .map_err(|e| smtp_error(&e)),
            Mailer::File(t) => t
                .send(message)
                .await
                .map(|_| Accepted(None))
                .map_err(|e| e.to_string()),
        }
    }
}

/// An SMTP failure without the addresses it may quote.
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) => format!("smtp {code}"),
        None if e.is_timeout() => "smtp timeout".into(),
        None => "smtp connection failed".into(),
    }
}

/// The delay before attempt `attempts + 1`: base × 2^(attempts − 1), capped, ± 25% jitter
/// so that many failures do not retry in step.
pub fn backoff(attempts: i64, base_seconds: u64, max_seconds: u64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 30) - 1).unwrap_or(0);
    let raw = base_seconds
        .saturating_mul(1u64 << exponent.min(30))
        .min(max_seconds);
    let jitter = 0.75 + fastrand::f64() * 0.5;
    Duration::from_secs_f64(raw as f64 * jitter)
}

/// How long recording a delivery may take after the relay accepted it, within the claim.
const MARK_ALLOWANCE: Duration = Duration::from_secs(5);

/// The longest one message's delivery may take, connecting to the relay's last answer:
/// two SMTP timeouts (each command has one).
pub fn send_deadline(mail: &MailSettings) -> Duration {
    Duration::from_secs(mail.timeout_seconds.saturating_mul(2).max(1))
}

/// How long a worker's claim on one message lasts: its delivery and the recording of it.
/// A claim never outlives the send it covers (the send is cut off at its deadline), so
/// two workers never send a message at once; a worker that stops leaves its message to
/// another this long after the claim.
pub fn claim_duration(mail: &MailSettings) -> Duration {
    send_deadline(mail) + MARK_ALLOWANCE
}

/// Sends notifications until the process stops.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    mailer: Mailer,
    templates: Arc<Templates>,
    settings: MailSettings,
    public_url: String,
}

impl Worker {
    /// A worker over `store`.
    pub fn new(
        store: Store,
        mailer: Mailer,
        templates: Arc<Templates>,
        settings: MailSettings,
        public_url: String,
    ) -> Worker {
        Worker {
            store,
            mailer,
            templates,
            settings,
            public_url,
        }
    }

    /// Polls for due notifications and sends them, forever.
    /// Sends until `stop` turns true, then returns between messages: a send is never cut
    /// off between the relay accepting it and its row being marked sent.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        while !*stop.borrow() {
            let idle = match self.tick().await {
                Ok(sent) => sent == 0,
                Err(e) => {
                    tracing::error!(error = %e, "notification worker: claim failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        tracing::info!("notification worker stopped");
    }

    /// Claims and sends up to `mail.batch_size` due notifications, one claim each so that
    /// every claim covers only its own message; the number claimed.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let claim = claim_duration(&self.settings);
        let mut claimed = 0;
        while claimed < usize::try_from(self.settings.batch_size).unwrap_or(1) {
            let started = Instant::now();
            let at = now();
            let lease = at + chrono::Duration::from_std(claim).unwrap_or_default();
            let mut batch = self
                .store
                .run(move |c| store::claim(c, at, lease, 1).map_err(StoreError::from))
                .await?;
            let Some(row) = batch.pop() else {
                break;
            };
            claimed += 1;
            self.deliver(row, started + claim).await?;
        }
        Ok(claimed)
    }

    fn message(&self, row: &NotificationRow) -> Result<Message, String> {
        let context: serde_json::Value =
            serde_json::from_str(&row.context).map_err(|e| e.to_string())?;
        let rendered = self
            .templates
            .render(&row.kind, &context, &self.public_url)
            .map_err(|e| e.to_string())?;
        let from: Mailbox = self
            .settings
            .from
            .parse()
            .map_err(|_| "mail.from is not an address".to_owned())?;
        // Parsed as a bare address, not a mailbox: a display name, angle brackets or a
        // list would let a stored recipient name someone else.
        let to = row
            .recipient
            .parse::<Address>()
            .map(|address| Mailbox::new(None, address))
            .map_err(|_| "recipient is not a bare address".to_owned())?;
        Message::builder()
            .from(from)
            .to(to)
            .subject(rendered.subject)
            .message_id(Some(row.message_id.clone()))
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| e.to_string())
    }

    /// Sends one claimed row and records the outcome before the claim ends at `claim_ends`.
    async fn deliver(&self, row: NotificationRow, claim_ends: Instant) -> Result<(), StoreError> {
        let deadline = send_deadline(&self.settings);
        let result = match self.message(&row) {
            Ok(message) => tokio::time::timeout(deadline, self.mailer.send(message))
                .await
                .unwrap_or_else(|_| Err("smtp timeout".into())),
            Err(e) => Err(e),
        };
        match result {
            Ok(accepted) => {
                // Recorded before QUIT: a crash from here on loses nothing and sends
                // nothing twice.
                self.mark_sent(&row, claim_ends).await;
                accepted.close().await;
            }
            Err(error) => {
                let id = row.id.clone();
                let retry = (row.attempts < i64::from(self.settings.max_attempts)).then(|| {
                    let delay = backoff(
                        row.attempts,
                        self.settings.backoff_base_seconds,
                        self.settings.backoff_max_seconds,
                    );
                    now() + chrono::Duration::from_std(delay).unwrap_or_default()
                });
                let e = error.clone();
                self.store
                    .run(move |c| store::mark_failed(c, &id, &e, retry).map_err(StoreError::from))
                    .await?;
                if retry.is_some() {
                    tracing::warn!(notification.id = %row.id, attempts = row.attempts, error = %error, "notification not sent; will retry");
                } else {
                    tracing::error!(notification.id = %row.id, attempts = row.attempts, error = %error, "notification failed");
                }
            }
        }
        Ok(())
    }

    /// Records an accepted message as sent, trying again while the claim lasts: until it
    /// is recorded, the message would be sent again once the claim ends.
    async fn mark_sent(&self, row: &NotificationRow, claim_ends: Instant) {
        let mut pause = Duration::from_millis(100);
        loop {
            let id = row.id.clone();
            let marked = self
                .store
                .run(move |c| store::mark_sent(c, &id, now()).map_err(StoreError::from))
                .await;
            match marked {
                Ok(_) => {
                    tracing::info!(notification.id = %row.id, notification.kind = %row.kind, "notification sent");
                    return;
                }
                Err(e) if Instant::now() + pause + Duration::from_secs(1) < claim_ends => {
                    tracing::warn!(notification.id = %row.id, error = %e, "notification sent but not yet recorded; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    tracing::error!(notification.id = %row.id, error = %e, "notification sent but not recorded: it will be sent again, with the same Message-ID");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for attempts in 1..=6 {
            let expected = 5.0 * f64::from(1u32 << (attempts - 1));
            let d = backoff(i64::from(attempts), 5, 3_600).as_secs_f64();
            assert!(
                d >= expected * 0.75 && d <= expected * 1.25,
                "attempt {attempts}: {d}"
            );
        }
        assert!(backoff(40, 5, 60).as_secs_f64() <= 75.0, "capped");
    }
}
