-- Reference numbers come from one sequence per year, created on first use. `nextval`
-- holds no lock until commit, so concurrent intakes no longer queue on the year's
-- `reference_counters` row (taken first and held through every insert and the commit).
-- A number taken by an intake that then fails is not given back: references may have
-- gaps, never duplicates. The year's sequence starts after the last number the counter
-- table issued, so an upgraded database continues its series.
--
-- SECURITY DEFINER: the application role has no DDL rights; the function, owned by the
-- owner of the tables, creates the year's sequence for it.
CREATE FUNCTION next_reference_number(for_year BIGINT) RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    name TEXT := 'public.reference_numbers_' || for_year;
    start BIGINT;
BEGIN
    IF to_regclass(name) IS NULL THEN
        SELECT COALESCE(MAX(last), 0) + 1 INTO start
            FROM public.reference_counters WHERE year = for_year;
        BEGIN
            EXECUTE format('CREATE SEQUENCE %s START WITH %s', name, start);
        EXCEPTION WHEN unique_violation OR duplicate_table THEN
            NULL; -- a concurrent intake created it first
        END;
    END IF;
    RETURN nextval(name::regclass);
END
$$;
