UPDATE cases SET shared_version = shared_version - 1 WHERE state = 'transferred_to_pursue';
ALTER TABLE cases DROP COLUMN police_only_since;
ALTER TABLE cases DROP COLUMN shared_updated_at;
