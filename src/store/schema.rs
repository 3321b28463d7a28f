//! Diesel table definitions, identical for both backends (UUIDs as text, UTC timestamps).

diesel::table! {
    /// The head of each audit chain.
    audit_chains (chain_key) {
        chain_key -> Text,
        head_seq -> BigInt,
        head_hash -> Text,
        checkpointed_seq -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Append-only audit entries.
    audit_log (id) {
        id -> Text,
        chain_key -> Text,
        seq -> BigInt,
        occurred_at -> Timestamp,
        request_id -> Nullable<Text>,
        actor_sub -> Text,
        actor_roles -> Text,
        area -> Text,
        action -> Text,
        case_id -> Nullable<Text>,
        outcome -> Text,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    /// Append-only checkpoints sealing the chain heads.
    audit_checkpoints (seq) {
        seq -> BigInt,
        created_at -> Timestamp,
        heads -> Text,
        prev_hash -> Text,
        hash -> Text,
        signature -> Text,
    }
}

diesel::joinable!(audit_log -> audit_chains (chain_key));
diesel::allow_tables_to_appear_in_same_query!(audit_chains, audit_log, audit_checkpoints);

diesel::table! {
    /// One row per referral: its state, version and the validated referral.
    cases (id) {
        id -> Text,
        reference -> Text,
        area -> Text,
        state -> Text,
        version -> BigInt,
        referrer_sub -> Text,
        submitted_at -> Timestamp,
        updated_at -> Timestamp,
        due_kind -> Nullable<Text>,
        due_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        referred_to_channel_at -> Nullable<Timestamp>,
        subject_key -> Nullable<Text>,
        referral -> Text,
        deconfliction -> Nullable<Text>,
        immediate_risk -> Bool,
        sector -> Text,
        type_of_concern -> Nullable<Text>,
        support_plan -> Nullable<Text>,
        consent -> Nullable<Text>,
        exited_at -> Nullable<Timestamp>,
        officer_email -> Nullable<Text>,
        shared_version -> BigInt,
        subject_key_id -> Nullable<Text>,
        age_band -> Nullable<Text>,
        gender -> Nullable<Text>,
        needs_recorded -> Bool,
        review_due_at -> Nullable<Timestamp>,
        legal_hold -> Bool,
        erased_at -> Nullable<Timestamp>,
        shared_updated_at -> Timestamp,
        police_only_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One data key per subject, wrapped by a master key outside the database.
    subject_keys (id) {
        id -> Text,
        wrapped_key -> Nullable<Text>,
        master_key_id -> Nullable<Text>,
        created_at -> Timestamp,
        destroyed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Retention decisions about a case.
    retention_decisions (id) {
        id -> Text,
        case_id -> Text,
        decision -> Text,
        reason_code -> Nullable<Text>,
        justification -> Nullable<Text>,
        next_review_at -> Nullable<Timestamp>,
        decided_by -> Text,
        decided_at -> Timestamp,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// The notification outbox.
    notifications (id) {
        id -> Text,
        kind -> Text,
        case_id -> Nullable<Text>,
        recipient -> Text,
        context -> Text,
        message_id -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        area -> Text,
    }
}

diesel::table! {
    /// Team mailboxes by area and role.
    directory (id) {
        id -> Text,
        area -> Text,
        role -> Text,
        mailbox -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Repeat referrals about the same person.
    case_links (case_id, linked_case_id) {
        case_id -> Text,
        linked_case_id -> Text,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// A case's history.
    case_events (id) {
        id -> Text,
        case_id -> Text,
        seq -> BigInt,
        action -> Text,
        from_state -> Nullable<Text>,
        to_state -> Text,
        actor_sub -> Text,
        actor_roles -> Text,
        occurred_at -> Timestamp,
        request_id -> Nullable<Text>,
        reason_code -> Nullable<Text>,
        rationale -> Nullable<Text>,
        details -> Text,
        police_only -> Bool,
    }
}

diesel::table! {
    /// Referrals to other services.
    onward_referrals (id) {
        id -> Text,
        case_id -> Text,
        service_type -> Text,
        organisation -> Text,
        reason -> Text,
        status -> Text,
        note -> Nullable<Text>,
        created_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Stored answers to idempotent referral submissions.
    idempotency_keys (actor_sub, key) {
        actor_sub -> Text,
        key -> Text,
        request_hash -> Text,
        case_id -> Text,
        response -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// The last reference number issued each year.
    reference_counters (year) {
        year -> BigInt,
        last -> BigInt,
    }
}

diesel::table! {
    /// Channel panels of an area.
    panels (id) {
        id -> Text,
        area -> Text,
        name -> Text,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    /// Panel membership; removed members keep their row.
    panel_members (id) {
        id -> Text,
        panel_id -> Text,
        name -> Text,
        agency -> Text,
        email -> Text,
        panel_role -> Text,
        added_at -> Timestamp,
        removed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Panel meetings.
    meetings (id) {
        id -> Text,
        panel_id -> Text,
        scheduled_for -> Timestamp,
        location -> Nullable<Text>,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    /// Cases on a meeting's agenda.
    agenda_items (meeting_id, case_id) {
        meeting_id -> Text,
        case_id -> Text,
        listed_at -> Timestamp,
        listed_by -> Text,
    }
}

diesel::table! {
    /// Agencies' contributions to a case.
    case_notes (id) {
        id -> Text,
        case_id -> Text,
        author_sub -> Text,
        agency -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(panel_members -> panels (panel_id));
diesel::joinable!(meetings -> panels (panel_id));
diesel::joinable!(agenda_items -> meetings (meeting_id));
diesel::joinable!(agenda_items -> cases (case_id));
diesel::joinable!(case_notes -> cases (case_id));
diesel::allow_tables_to_appear_in_same_query!(
    panels,
    panel_members,
    meetings,
    agenda_items,
    case_notes,
    cases
);
diesel::joinable!(case_events -> cases (case_id));
diesel::joinable!(retention_decisions -> cases (case_id));
diesel::joinable!(onward_referrals -> cases (case_id));
diesel::allow_tables_to_appear_in_same_query!(
    cases,
    case_links,
    case_events,
    onward_referrals,
    idempotency_keys,
    reference_counters,
    subject_keys,
    retention_decisions
);

diesel::table! {
    /// Web console sessions, keyed by the SHA-256 of the cookie's session id.
    console_sessions (id_hash) {
        id_hash -> Text,
        claims -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}
