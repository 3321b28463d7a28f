-- The police-only compartment: what readers outside police are shown of a case's
-- timing, and since when the case itself is police-only.

-- The last change those readers may know of: a police-only action (deconfliction)
-- leaves it where it was. A transfer to Pursue reads to them as a police-led closure,
-- so it moves it, and their version, as that closure would.
ALTER TABLE cases ADD COLUMN shared_updated_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE cases SET shared_updated_at = COALESCE((
    SELECT MAX(occurred_at) FROM case_events
    WHERE case_events.case_id = cases.id
      AND (NOT case_events.police_only OR case_events.action = 'transfer_to_pursue')
), submitted_at);
UPDATE cases SET shared_version = shared_version + 1 WHERE state = 'transferred_to_pursue';

-- When the case entered a police-only state: from then on, what police do with it is
-- police-only too.
ALTER TABLE cases ADD COLUMN police_only_since TIMESTAMP;
UPDATE cases SET police_only_since = (
    SELECT MIN(occurred_at) FROM case_events
    WHERE case_events.case_id = cases.id AND case_events.action = 'transfer_to_pursue'
) WHERE state = 'transferred_to_pursue';
