-- requires: incident_facts_of
-- Every incident's facts, for operators and tests; the fold asks only for the ones it needs.
create or replace view incident_facts as
select * from incident_facts_of(array(select id from incidents));
