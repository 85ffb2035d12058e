-- The parent of an H3 cell at a coarser resolution, from the index's bit layout (resolution
-- in bits 52-55, one 3-bit digit per resolution below it, unused digits all ones): statistics
-- group by area at resolution 5 to 7 without an H3 extension in the server.
create or replace function h3_parent(cell bigint, resolution integer) returns bigint
immutable strict parallel safe language sql as $$
    select (cell & ~(15::bigint << 52) & ~((1::bigint << (3 * (15 - resolution))) - 1))
           | (resolution::bigint << 52) | ((1::bigint << (3 * (15 - resolution))) - 1)
$$;
