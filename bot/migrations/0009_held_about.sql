-- Text held for someone behind a WhatsApp template names the notice it came from, so that /forget
-- of the person a notice was about (a leader's call for help, a request to sign up) deletes the
-- copy waiting in a coordinator's held messages too.
ALTER TABLE held_messages ADD COLUMN about TEXT;
CREATE INDEX held_messages_about ON held_messages (about);
