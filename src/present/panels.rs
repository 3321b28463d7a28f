//! What a panel, its members, a meeting and its agenda look like to whoever asks.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::panels::{AgendaEntry, MeetingRow, MemberRow, PanelRow};

/// A panel member.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Agency.
    pub agency: String,
    /// Email.
    pub email: String,
    /// Role on the panel.
    pub panel_role: String,
    /// Joined.
    pub added_at: DateTime<Utc>,
}

/// A meeting.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Meeting {
    /// Id.
    pub id: String,
    /// The panel.
    pub panel_id: String,
    /// When.
    pub scheduled_for: DateTime<Utc>,
    /// Where.
    pub location: Option<String>,
}

/// A panel.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Panel {
    /// Id.
    pub id: String,
    /// The local authority.
    pub area: String,
    /// Name.
    pub name: String,
    /// Current members (in a list of panels: empty).
    pub members: Vec<Member>,
    /// Meetings (in a list of panels: empty).
    pub meetings: Vec<Meeting>,
}

/// A case on an agenda: its reference and state, no personal data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgendaItem {
    /// The case.
    pub case_id: String,
    /// Its reference.
    pub reference: String,
    /// Its state now.
    pub state: String,
    /// Listed.
    pub listed_at: DateTime<Utc>,
}

/// A meeting and its agenda.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeetingWithAgenda {
    /// The meeting.
    #[serde(flatten)]
    pub meeting: Meeting,
    /// The panel's name.
    pub panel_name: String,
    /// The cases listed.
    pub agenda: Vec<AgendaItem>,
}

pub fn member(m: MemberRow) -> Member {
    Member {
        id: m.id,
        name: m.name,
        agency: m.agency,
        email: m.email,
        panel_role: m.panel_role,
        added_at: m.added_at.and_utc(),
    }
}

/// A meeting as answered.
pub fn meeting(m: MeetingRow) -> Meeting {
    Meeting {
        id: m.id,
        panel_id: m.panel_id,
        scheduled_for: m.scheduled_for.and_utc(),
        location: m.location,
    }
}

pub fn panel(p: PanelRow, members: Vec<MemberRow>, meetings: Vec<MeetingRow>) -> Panel {
    Panel {
        id: p.id,
        area: p.area,
        name: p.name,
        members: members.into_iter().map(member).collect(),
        meetings: meetings.into_iter().map(meeting).collect(),
    }
}

pub fn agenda_item(a: AgendaEntry) -> AgendaItem {
    AgendaItem {
        case_id: a.case_id,
        reference: a.reference,
        state: a.state,
        listed_at: a.listed_at.and_utc(),
    }
}

/// A meeting with its panel's name and its agenda.
pub fn meeting_with_agenda(
    m: MeetingRow,
    p: PanelRow,
    agenda: Vec<AgendaEntry>,
) -> MeetingWithAgenda {
    MeetingWithAgenda {
        meeting: meeting(m),
        panel_name: p.name,
        agenda: agenda.into_iter().map(agenda_item).collect(),
    }
}
