//! Due dates: what is waited for in each state, and by when.

use chrono::{Datelike, Duration, Months, NaiveDateTime, Weekday};
use serde::{Deserialize, Serialize};

use super::pathway::State;

/// What is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DueKind {
    /// The police initial assessment.
    Screening,
    /// The first panel listing after referral to Channel.
    PanelListing,
    /// Acknowledgement of the onward referrals.
    OnwardAcknowledgement,
    /// The panel's decision at the meeting the case is listed for.
    PanelDecision,
    /// The next support review.
    SupportReview,
    /// Re-assessment after consent was refused or withdrawn.
    Reassessment,
    /// The review six months after exit.
    PostExitSixMonth,
    /// The review twelve months after exit.
    PostExitTwelveMonth,
}

impl DueKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DueKind::Screening => "screening",
            DueKind::PanelListing => "panel_listing",
            DueKind::OnwardAcknowledgement => "onward_acknowledgement",
            DueKind::PanelDecision => "panel_decision",
            DueKind::SupportReview => "support_review",
            DueKind::Reassessment => "reassessment",
            DueKind::PostExitSixMonth => "post_exit_six_month",
            DueKind::PostExitTwelveMonth => "post_exit_twelve_month",
        }
    }

    /// Every kind.
    pub const ALL: [DueKind; 8] = [
        DueKind::Screening,
        DueKind::PanelListing,
        DueKind::OnwardAcknowledgement,
        DueKind::PanelDecision,
        DueKind::SupportReview,
        DueKind::Reassessment,
        DueKind::PostExitSixMonth,
        DueKind::PostExitTwelveMonth,
    ];

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<DueKind> {
        DueKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How long each wait may last (configurable; defaults from the Prevent guidance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuePolicy {
    /// Police initial assessment, in working days from submission.
    pub screening_working_days: u32,
    /// First panel listing, in days from referral to Channel.
    pub panel_listing_days: u32,
    /// Onward referral acknowledgement, in working days.
    pub onward_acknowledgement_working_days: u32,
    /// Support reviews, in days, unless a review sets the next date.
    pub support_review_days: u32,
    /// Re-assessment after refused or withdrawn consent, in days, unless the panel sets it.
    pub reassessment_days: u32,
    /// The first post-exit review, in months after exit.
    pub post_exit_first_review_months: u32,
    /// The second post-exit review, in months after exit.
    pub post_exit_second_review_months: u32,
}

impl Default for DuePolicy {
    fn default() -> DuePolicy {
        DuePolicy {
            screening_working_days: 5,
            panel_listing_days: 30,
            onward_acknowledgement_working_days: 10,
            support_review_days: 30,
            reassessment_days: 90,
            post_exit_first_review_months: 6,
            post_exit_second_review_months: 12,
        }
    }
}

/// `from` plus `days` working days (Monday to Friday; bank holidays are not modelled).
pub fn add_working_days(from: NaiveDateTime, days: u32) -> NaiveDateTime {
    let mut t = from;
    let mut left = days;
    while left > 0 {
        t += Duration::days(1);
        if !matches!(t.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    t
}

impl DuePolicy {
    /// The due date a case gets on entering `state` at `now`; `keep` is the one it has.
    /// Screening keeps the date set at submission: starting the assessment does not
    /// restart its clock.
    pub fn on_entering(
        &self,
        state: State,
        now: NaiveDateTime,
        keep: Option<(DueKind, NaiveDateTime)>,
    ) -> Option<(DueKind, NaiveDateTime)> {
        match state {
            State::Submitted => Some((
                DueKind::Screening,
                add_working_days(now, self.screening_working_days),
            )),
            State::Screening => keep.filter(|(k, _)| *k == DueKind::Screening),
            State::AwaitingPanel => Some((
                DueKind::PanelListing,
                now + Duration::days(i64::from(self.panel_listing_days)),
            )),
            State::OnwardReferral => keep
                .filter(|(k, _)| *k == DueKind::OnwardAcknowledgement)
                .or(Some((
                    DueKind::OnwardAcknowledgement,
                    add_working_days(now, self.onward_acknowledgement_working_days),
                ))),
            State::Support => Some((
                DueKind::SupportReview,
                now + Duration::days(i64::from(self.support_review_days)),
            )),
            State::ConsentRefused => Some((
                DueKind::Reassessment,
                now + Duration::days(i64::from(self.reassessment_days)),
            )),
            State::Exited => Some((
                DueKind::PostExitSixMonth,
                self.post_exit(now, self.post_exit_first_review_months),
            )),
            _ => None,
        }
    }
}

impl DuePolicy {
    /// `months` after `exited_at`.
    pub fn post_exit(&self, exited_at: NaiveDateTime, months: u32) -> NaiveDateTime {
        exited_at
            .checked_add_months(Months::new(months))
            .unwrap_or(exited_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn every_kind_round_trips() {
        for k in DueKind::ALL {
            assert_eq!(DueKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn working_days_skip_weekends() {
        // 2026-11-20 is a Friday.
        assert_eq!(
            add_working_days(at("2026-11-20 10:00"), 1),
            at("2026-11-23 10:00")
        );
        assert_eq!(
            add_working_days(at("2026-11-20 10:00"), 5),
            at("2026-11-27 10:00")
        );
        assert_eq!(
            add_working_days(at("2026-11-21 10:00"), 1),
            at("2026-11-23 10:00"),
            "from a Saturday"
        );
        assert_eq!(
            add_working_days(at("2026-11-23 10:00"), 0),
            at("2026-11-23 10:00")
        );
    }

    #[test]
    fn each_waiting_state_gets_its_due_date() {
        let p = DuePolicy::default();
        let now = at("2026-11-23 09:00");
        let submitted = p.on_entering(State::Submitted, now, None);
        assert_eq!(
            submitted,
            Some((DueKind::Screening, at("2026-11-30 09:00")))
        );
        assert_eq!(
            p.on_entering(State::Screening, at("2026-11-25 09:00"), submitted),
            submitted,
            "clock not restarted"
        );
        assert_eq!(
            p.on_entering(State::AwaitingPanel, now, submitted),
            Some((DueKind::PanelListing, at("2026-12-23 09:00")))
        );
        let onward = p.on_entering(State::OnwardReferral, now, submitted);
        assert_eq!(
            onward,
            Some((DueKind::OnwardAcknowledgement, at("2026-12-07 09:00")))
        );
        assert_eq!(
            p.on_entering(State::OnwardReferral, at("2026-11-30 09:00"), onward),
            onward,
            "kept while waiting"
        );
        assert_eq!(
            p.on_entering(State::Support, now, None),
            Some((DueKind::SupportReview, at("2026-12-23 09:00")))
        );
        assert_eq!(
            p.on_entering(State::ConsentRefused, now, None),
            Some((DueKind::Reassessment, at("2027-02-21 09:00")))
        );
        assert_eq!(
            p.on_entering(State::Exited, now, None),
            Some((DueKind::PostExitSixMonth, at("2027-05-23 09:00")))
        );
        for s in [
            State::Closed,
            State::TransferredToPursue,
            State::PoliceManaged,
            State::ConsentPending,
        ] {
            assert_eq!(p.on_entering(s, now, submitted), None, "{s}");
        }
    }
}
