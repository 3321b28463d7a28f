DROP TABLE reference_counters;
DROP TABLE idempotency_keys;
DROP TABLE onward_referrals;
DROP TABLE case_events;
DROP TABLE case_links;
DROP TABLE cases;
