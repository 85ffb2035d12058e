-- Observer device tokens expire after a period without use (PLAINSIGHT_DEVICE_TOKEN_DAYS).
-- The expiry is renewed when the token is used or rotated, and kept to whole UTC days, so the
-- column says no more than the day a device was last used.
alter table devices add column expires_at timestamptz;
-- Tokens issued before expiry existed get the default lifetime from the upgrade on.
update devices set expires_at = date_trunc('day', now(), 'UTC') + interval '91 days';
alter table devices alter column expires_at set not null;
