-- Back to the counter table: each year's counter continues after its sequence.
DO $$
DECLARE s RECORD;
BEGIN
    FOR s IN SELECT sequencename, last_value FROM pg_sequences
             WHERE schemaname = 'public' AND sequencename LIKE 'reference\_numbers\_%' LOOP
        IF s.last_value IS NOT NULL THEN
            INSERT INTO reference_counters (year, last)
                VALUES (substr(s.sequencename, 19)::BIGINT, s.last_value)
                ON CONFLICT (year) DO UPDATE SET last = GREATEST(reference_counters.last, EXCLUDED.last);
        END IF;
        EXECUTE format('DROP SEQUENCE public.%I', s.sequencename);
    END LOOP;
END
$$;
DROP FUNCTION next_reference_number(BIGINT);
