//! The mail worker: claims due notifications, renders them, sends them, and records
//! the outcome, retrying with exponential back-off and jitter.

use std::sync::Arc;
use std::time::Duration;

use lettre::Address;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::Templates;
use crate::audit::now;
use crate::config::MailSettings;
use crate::store::notifications::{self as store, NotificationRow};
use crate::store::{Store, StoreError};

/// Where mail goes: an SMTP relay, or `.eml` files for local use.
#[derive(Clone)]
pub enum Mailer {
    /// A relay (STARTTLS, TLS and authentication from the URL).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Files in a directory.
    File(AsyncFileTransport<Tokio1Executor>),
}

/// The mailer could not be built.
#[derive(Debug, thiserror::Error)]
#[error("mail: {0}")]
pub struct MailerError(String);

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
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .map_err(|e| MailerError(e.to_string()))?
                    .timeout(Some(Duration::from_secs(mail.timeout_seconds)))
                    .build();
                Ok(Mailer::Smtp(transport))
            }
            None => {
                std::fs::create_dir_all(&mail.file_dir)
                    .map_err(|e| MailerError(format!("{}: {e}", mail.file_dir.display())))?;
                Ok(Mailer::File(AsyncFileTransport::new(&mail.file_dir)))
            }
        }
    }

    async fn send(&self, message: Message) -> Result<(), String> {
        match self {
            Mailer::Smtp(t) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| smtp_error(&e)),
            Mailer::File(t) => t.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
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
    /// Sends until `stop` turns true, then returns between batches: a send is never cut
    /// off between the relay accepting it and its row being marked sent.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        while !*stop.borrow() {
            let idle = match self.tick().await {
                Ok(claimed) => claimed == 0,
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

    /// Claims one batch and sends it; the number claimed.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let at = now();
        let lease = at
            + chrono::Duration::seconds(
                i64::try_from(self.settings.timeout_seconds * 3 + 30).unwrap_or(60),
            );
        let limit = self.settings.batch_size;
        let batch = self
            .store
            .run(move |c| store::claim(c, at, lease, limit).map_err(StoreError::from))
            .await?;
        let claimed = batch.len();
        for row in batch {
            self.deliver(row).await?;
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

    async fn deliver(&self, row: NotificationRow) -> Result<(), StoreError> {
        let result = match self.message(&row) {
            Ok(message) => self.mailer.send(message).await,
            Err(e) => Err(e),
        };
        let id = row.id.clone();
        match result {
            Ok(()) => {
                self.store
                    .run(move |c| store::mark_sent(c, &id, now()).map_err(StoreError::from))
                    .await?;
                tracing::info!(notification.id = %row.id, notification.kind = %row.kind, "notification sent");
            }
            Err(error) => {
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
