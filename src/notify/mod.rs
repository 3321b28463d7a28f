//! Email notifications through a transactional outbox.
//!
//! Use cases queue [`Notice`]s in the same transaction as the action they report, so a
//! notification exists exactly when its action committed. The worker ([`worker`]) renders
//! each with the templates on disk and sends it through lettre, retrying with back-off:
//! at least once, with the same `Message-ID` on every attempt (see [`smtp`] for the one
//! window in which a crash sends it twice).
//! Email is not a secure channel: a notice carries the case reference, what is needed and
//! a link, never the subject's personal details. Templates only ever see [`Notice::context`].

pub mod smtp;
pub mod worker;

use std::path::Path;

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::store::DbConnection;
use crate::store::notifications::{self as store, NotificationRow};

/// What a notification tells; each kind has three templates on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new referral, to the area's Prevent team.
    ReferralReceived,
    /// The referrer's acknowledgement.
    ReferralAcknowledged,
    /// A case referred to Channel, to the area's Channel chairs.
    ReferredToChannel,
    /// A case listed for a meeting, to the panel's members.
    ListedForPanel,
    /// A meeting scheduled, to the panel's members.
    MeetingScheduled,
    /// A panel decision, consent or exit, to the members and the referring officer.
    CaseUpdate,
    /// A due date passed, to whoever owns the next action.
    DueReminder,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::ReferralReceived,
        Kind::ReferralAcknowledged,
        Kind::ReferredToChannel,
        Kind::ListedForPanel,
        Kind::MeetingScheduled,
        Kind::CaseUpdate,
        Kind::DueReminder,
    ];

    /// The stored spelling and the templates' file stem.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ReferralReceived => "referral_received",
            Kind::ReferralAcknowledged => "referral_acknowledged",
            Kind::ReferredToChannel => "referred_to_channel",
            Kind::ListedForPanel => "listed_for_panel",
            Kind::MeetingScheduled => "meeting_scheduled",
            Kind::CaseUpdate => "case_update",
            Kind::DueReminder => "due_reminder",
        }
    }
}

/// One email to queue.
#[derive(Debug, Clone)]
pub struct Notice {
    /// What it tells.
    pub kind: Kind,
    /// To whom.
    pub recipient: String,
    /// The area whose admins may see and re-send it.
    pub area: String,
    /// The case.
    pub case_id: Option<String>,
    /// The template's values: `reference`, `path` (of the link), `action`, dates. Never
    /// personal data.
    pub context: Value,
    /// Set for reminders: a second notice with the same key is not queued.
    pub dedupe_key: Option<String>,
}

impl Notice {
    /// A notice about a case, linking to it.
    pub fn about_case(
        kind: Kind,
        recipient: &str,
        area: &str,
        case_id: &str,
        reference: &str,
        extra: impl serde::Serialize,
    ) -> Notice {
        let mut context = json!({"reference": reference, "path": format!("/v1/cases/{case_id}")});
        // The extra fields are codes and dates under names, which always serialise.
        let extra = serde_json::to_value(extra).unwrap_or_else(|e| {
            tracing::error!(error = %e, "notice fields could not be serialised");
            Value::Null
        });
        if let (Some(c), Some(e)) = (context.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        Notice {
            kind,
            recipient: recipient.to_lowercase(),
            area: area.to_owned(),
            case_id: Some(case_id.to_owned()),
            context,
            dedupe_key: None,
        }
    }
}

/// Queues `notices` inside the caller's transaction; recipients listed twice get one.
pub fn queue(
    conn: &mut DbConnection,
    notices: Vec<Notice>,
    now: NaiveDateTime,
) -> diesel::QueryResult<usize> {
    let mut rows: Vec<NotificationRow> = Vec::with_capacity(notices.len());
    for n in notices {
        if rows.iter().any(|r| {
            r.kind == n.kind.as_str() && r.recipient == n.recipient && r.case_id == n.case_id
        }) {
            continue;
        }
        let id = uuid::Uuid::now_v7();
        rows.push(NotificationRow {
            id: id.to_string(),
            kind: n.kind.as_str().to_owned(),
            case_id: n.case_id,
            recipient: n.recipient,
            context: crate::audit::canonical_json(&n.context),
            message_id: format!("<{id}@pathway>"),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            claimed_until: None,
            last_error: None,
            dedupe_key: n.dedupe_key,
            created_at: now,
            sent_at: None,
            area: n.area,
        });
    }
    store::enqueue(conn, &rows)
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// The templates, loaded from disk at start: `{kind}.subject.txt`, `{kind}.txt`, `{kind}.html`.
pub struct Templates {
    env: minijinja::Environment<'static>,
}

/// A template is missing or does not parse.
#[derive(Debug, thiserror::Error)]
#[error("templates: {0}")]
pub struct TemplateError(String);

impl Templates {
    /// Loads every kind's templates from `dir`; start-up fails if one is missing.
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for kind in Kind::ALL {
            for suffix in ["subject.txt", "txt", "html"] {
                let name = format!("{}.{suffix}", kind.as_str());
                let source = std::fs::read_to_string(dir.join(&name))
                    .map_err(|e| TemplateError(format!("{}: {e}", dir.join(&name).display())))?;
                env.add_template_owned(name.clone(), source)
                    .map_err(|e| TemplateError(format!("{name}: {e}")))?;
            }
        }
        Ok(Templates { env })
    }

    /// Renders `kind` with `context` plus `link` (the public URL and the context's path).
    pub fn render(
        &self,
        kind: &str,
        context: &Value,
        public_url: &str,
    ) -> Result<Rendered, TemplateError> {
        let mut ctx = context.clone();
        let path = ctx["path"].as_str().unwrap_or("/").to_owned();
        if let Some(map) = ctx.as_object_mut() {
            map.insert(
                "link".into(),
                Value::String(format!("{}{path}", public_url.trim_end_matches('/'))),
            );
        }
        let render = |suffix: &str| {
            let name = format!("{kind}.{suffix}");
            self.env
                .get_template(&name)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| TemplateError(format!("{name}: {e}")))
        };
        Ok(Rendered {
            subject: render("subject.txt")?.trim().to_owned(),
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

/// The team that owns the next action when `due` passes.
pub fn owner_of(due: crate::domain::due::DueKind) -> &'static str {
    use crate::domain::due::DueKind as D;
    match due {
        D::Screening | D::OnwardAcknowledgement => "prevent_team",
        D::PanelListing
        | D::PanelDecision
        | D::SupportReview
        | D::Reassessment
        | D::PostExitSixMonth
        | D::PostExitTwelveMonth => "channel_chair",
    }
}

/// Queues a reminder for every case past a due date, to the team that owns the next
/// action, once per due date: the dedupe key names the case, the due kind and the date.
/// A case whose retention review date has passed is reminded to its area's records
/// officer mailbox, once per review date.
pub fn queue_reminders(
    conn: &mut DbConnection,
    now: NaiveDateTime,
) -> Result<usize, crate::store::StoreError> {
    crate::store::write_transaction(conn, |c| {
        let mut queued = 0;
        for case in crate::store::cases::overdue(c, now, 1_000)? {
            let (Some(kind), Some(due_at)) = (
                case.due_kind
                    .as_deref()
                    .and_then(crate::domain::due::DueKind::parse),
                case.due_at,
            ) else {
                continue;
            };
            let when = due_at.format("%Y-%m-%d %H:%M UTC").to_string();
            let notices: Vec<Notice> = store::mailboxes(c, &case.area, owner_of(kind))?
                .iter()
                .map(|m| {
                    let mut n = Notice::about_case(
                        Kind::DueReminder,
                        m,
                        &case.area,
                        &case.id,
                        &case.reference,
                        json!({"due": kind.as_str().replace('_', " "), "due_at": when}),
                    );
                    n.dedupe_key = Some(format!(
                        "{}:{}:{}:{}",
                        case.id,
                        kind.as_str(),
                        due_at.and_utc().timestamp(),
                        n.recipient
                    ));
                    n
                })
                .collect();
            queued += queue(c, notices, now)?;
        }
        for case in crate::store::retention::all_due_for_review(c, now, 1_000)? {
            let Some(review_at) = case.review_due_at else {
                continue;
            };
            let when = review_at.format("%Y-%m-%d").to_string();
            let notices: Vec<Notice> = store::mailboxes(c, &case.area, "records_officer")?
                .iter()
                .map(|m| {
                    let mut n = Notice::about_case(
                        Kind::DueReminder,
                        m,
                        &case.area,
                        &case.id,
                        &case.reference,
                        json!({"due": "retention review", "due_at": when}),
                    );
                    n.dedupe_key = Some(format!(
                        "{}:retention_review:{}:{}",
                        case.id,
                        review_at.and_utc().timestamp(),
                        n.recipient
                    ));
                    n
                })
                .collect();
            queued += queue(c, notices, now)?;
        }
        Ok(queued)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The context each kind is queued with (see the use cases), for a case whose
    /// referral is full of personal data that none of it carries.
    fn context(kind: Kind) -> Value {
        let extra = match kind {
            Kind::ReferralReceived | Kind::ReferralAcknowledged => {
                json!({"immediate_risk": true, "screening_days": 5})
            }
            Kind::ReferredToChannel => json!({"listing_days": 30}),
            Kind::ListedForPanel => json!({"meeting_date": "2026-12-03 10:00 UTC"}),
            Kind::MeetingScheduled => {
                json!({"panel_name": "Leeds Panel", "meeting_date": "2026-12-03 10:00 UTC"})
            }
            Kind::CaseUpdate => json!({"event": "consent was recorded", "state": "support"}),
            Kind::DueReminder => json!({"due": "screening", "due_at": "2026-11-27 10:00 UTC"}),
        };
        Notice::about_case(
            kind,
            "x@example.org",
            "E08000035",
            "01a2-case",
            "PRV-2026-000042",
            extra,
        )
        .context
    }

    #[test]
    fn every_template_renders_the_reference_and_a_link_and_nothing_else_of_the_case() {
        let templates =
            Templates::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
                .expect("templates");
        for kind in Kind::ALL {
            let r = templates
                .render(kind.as_str(), &context(kind), "https://pathway.example")
                .expect("renders");
            for part in [&r.subject, &r.text, &r.html] {
                assert!(!part.trim().is_empty(), "{kind:?}");
            }
            if kind != Kind::MeetingScheduled {
                assert!(
                    r.subject.contains("PRV-2026-000042"),
                    "{kind:?}: {}",
                    r.subject
                );
                assert!(
                    r.text
                        .contains("https://pathway.example/v1/cases/01a2-case"),
                    "{kind:?}: {}",
                    r.text
                );
            }
        }
    }

    #[test]
    fn a_template_asking_for_a_value_it_was_not_given_fails_rather_than_printing_nothing() {
        let templates =
            Templates::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
                .expect("templates");
        let thin = json!({"reference": "PRV-2026-000042", "path": "/v1/cases/x"});
        assert!(
            templates
                .render("listed_for_panel", &thin, "https://pathway.example")
                .is_err()
        );
    }
}
