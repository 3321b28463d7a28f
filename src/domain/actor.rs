//! Who is acting: the typed form of a verified token's claims.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

/// A role from the `roles` claim. Unknown role names grant nothing and are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Frontline staff who file referrals.
    Referrer,
    /// Counter Terrorism Policing Prevent officer.
    PreventOfficer,
    /// The local authority's Channel chair or coordinator.
    ChannelChair,
    /// A multi-agency Channel panel member.
    PanelMember,
    /// Read-only oversight: history, audit log, statistics.
    Auditor,
    /// System administration: panels, members, directory; never case content.
    Admin,
    /// The data protection or records officer: retention reviews and subject access.
    RecordsOfficer,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 7] = [
        Role::Referrer,
        Role::PreventOfficer,
        Role::ChannelChair,
        Role::PanelMember,
        Role::Auditor,
        Role::Admin,
        Role::RecordsOfficer,
    ];

    /// The claim spelling of this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Referrer => "referrer",
            Role::PreventOfficer => "prevent_officer",
            Role::ChannelChair => "channel_chair",
            Role::PanelMember => "panel_member",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::RecordsOfficer => "records_officer",
        }
    }

    /// Parses the claim spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A local authority (a GSS code such as `E08000025`), or `national` for national oversight.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Area(String);

/// Why a string is not an [`Area`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an area is a GSS code such as E08000025, or `national`")]
pub struct InvalidArea;

impl Area {
    /// The area that stands for all areas (auditors only).
    pub const NATIONAL: &'static str = "national";

    /// Parses a GSS code (a letter E, W, S or N and eight digits) or `national`.
    pub fn parse(s: &str) -> Result<Area, InvalidArea> {
        let s = s.trim();
        if s == Self::NATIONAL {
            return Ok(Area(s.to_owned()));
        }
        let bytes = s.as_bytes();
        let valid = bytes.len() == 9
            && matches!(bytes[0], b'E' | b'W' | b'S' | b'N')
            && bytes[1..].iter().all(u8::is_ascii_digit);
        if valid {
            Ok(Area(s.to_owned()))
        } else {
            Err(InvalidArea)
        }
    }

    /// True for the national pseudo-area.
    pub fn is_national(&self) -> bool {
        self.0 == Self::NATIONAL
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A member of staff's work email, from a token's `email` claim: exactly one bare address
/// (`local@domain.tld`), lower-cased. Notifications are sent to it, so nothing that a mail
/// header would read as a different recipient may get through.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StaffEmail(String);

/// Why a claim is not a [`StaffEmail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("one bare email address such as name@example.org")]
pub struct InvalidStaffEmail;

/// The longest address SMTP can carry (RFC 5321, section 4.5.3.1.3).
const STAFF_EMAIL_MAX: usize = 254;

impl StaffEmail {
    /// Parses one bare address with an RFC 5322 address parser, refusing display names,
    /// angle brackets, comments, quoted local parts, domain literals, lists of addresses,
    /// whitespace, control characters and anything outside ASCII.
    pub fn parse(raw: &str) -> Result<StaffEmail, InvalidStaffEmail> {
        // Mail-header syntax that can name a recipient other than the bare address
        // (`"a@b" <victim@other.example>`, `a@b, c@d`, `a@b (c@d)`) is refused before
        // parsing: the parser is lenient about some of it, and a claim never needs it.
        let header_syntax = |c: char| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '<' | '>' | '(' | ')' | ',' | ';' | ':' | '"' | '\\' | '[' | ']'
                )
        };
        if raw.is_empty()
            || raw.len() > STAFF_EMAIL_MAX
            || !raw.is_ascii()
            || raw.chars().any(header_syntax)
            || raw.matches('@').count() != 1
        {
            return Err(InvalidStaffEmail);
        }
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        let parsed = email_address::EmailAddress::parse_with_options(raw, options)
            .map_err(|_| InvalidStaffEmail)?;
        // The parser must have taken the whole claim as the address, nothing around it.
        if parsed.email() != raw {
            return Err(InvalidStaffEmail);
        }
        Ok(StaffEmail(raw.to_ascii_lowercase()))
    }

    /// The address as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An authenticated user: built only from a verified token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Actor {
    /// The identity provider's stable subject id.
    pub sub: String,
    /// Display name (staff, never a referral subject).
    pub name: String,
    /// Work email, used to match panel membership.
    pub email: String,
    /// Roles this user holds; never empty.
    #[schema(value_type = Vec<Role>)]
    pub roles: BTreeSet<Role>,
    /// The user's local authority, or `national`.
    #[schema(value_type = String, example = "E08000035")]
    pub area: Area,
    /// The user's organisation.
    pub org: Option<String>,
}

impl Actor {
    /// True when the user holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The roles as a comma-separated list, for the audit log.
    pub fn roles_list(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_claim_spelling() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("superuser"), None);
        assert_eq!(Role::parse("Referrer"), None, "claims are case-sensitive");
    }

    #[test]
    fn a_staff_email_is_one_bare_address() {
        assert_eq!(
            StaffEmail::parse("Officer.Seven@Police.Example").map(StaffEmail::into_string),
            Ok("officer.seven@police.example".to_owned())
        );
        assert!(StaffEmail::parse("jo+prevent@leeds.gov.uk").is_ok());
        for bad in [
            "\"a@b\" <victim@other.example>",
            "Jo <jo@leeds.gov.uk>",
            "<jo@leeds.gov.uk>",
            "jo@leeds.gov.uk (victim@other.example)",
            "(comment)jo@leeds.gov.uk",
            "jo@leeds.gov.uk, victim@other.example",
            "jo@leeds.gov.uk; victim@other.example",
            "jo@leeds.gov.uk victim@other.example",
            " jo@leeds.gov.uk",
            "jo@leeds.gov.uk\r\nBcc: victim@other.example",
            "jo@leeds.gov.uk\n",
            "jo\t@leeds.gov.uk",
            "\"jo smith\"@leeds.gov.uk",
            "\"a@b\"@leeds.gov.uk",
            "jo@[192.168.0.1]",
            "jo@localhost",
            "jo",
            "jo@",
            "@leeds.gov.uk",
            "jo@@leeds.gov.uk",
            "jo@leeds@gov.uk",
            "jo..smith@leeds.gov.uk",
            "jö@leeds.gov.uk",
            "jo\u{200B}@leeds.gov.uk",
            "",
        ] {
            assert_eq!(StaffEmail::parse(bad), Err(InvalidStaffEmail), "{bad:?}");
        }
        let long = format!("jo@{}.example", "a".repeat(250));
        assert_eq!(StaffEmail::parse(&long), Err(InvalidStaffEmail));
    }

    #[test]
    fn areas_are_gss_codes_or_national() {
        for good in [
            "E08000025",
            "W06000015",
            "S12000036",
            "N09000003",
            "national",
        ] {
            assert!(Area::parse(good).is_ok(), "{good} should parse");
        }
        for bad in [
            "",
            "E0800002",
            "E080000255",
            "X08000025",
            "e08000025",
            "E0800002A",
            "National",
            "E08 000025",
        ] {
            assert_eq!(
                Area::parse(bad),
                Err(InvalidArea),
                "{bad:?} should not parse"
            );
        }
    }
}
