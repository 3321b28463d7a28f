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
    }
}

diesel::joinable!(audit_log -> audit_chains (chain_key));
diesel::allow_tables_to_appear_in_same_query!(audit_chains, audit_log, audit_checkpoints);
