"""Rasa's Redis lock store, with each change to a conversation's lock made in one atomic step (bot/endpoints.yml).

Runs in the Rasa venv: imports only rasa and its deps.

Why: Rasa's RedisLockStore keeps a ticket queue per conversation (its
TicketLock, as JSON) and changes it with separate GET and SET calls: seven
Redis round trips per turn, each blocking the Sanic worker's event loop (a
twentieth of the Rasa process's time in a profile, issue 14). And between a
GET and its SET another worker or replica can change the same lock: two
messages of one conversation arriving together can both be issued ticket 0
and run side by side, which is what the lock is for.

Here issuing a ticket, and finishing one (drop it; delete the lock when no
ticket is left), are each one Lua script that Redis runs atomically: three
round trips per uncontended turn (issue, check, finish). Expired tickets are
dropped in the same steps, as Rasa does. The stored value and key are
Rasa's own, so `get_lock` (Rasa's) reads them, and waiting for one's turn is
Rasa's loop; only its lock clean-up while waiting is a script too.
"""

from __future__ import annotations

import time

from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

# The live tickets of a stored lock (Rasa's format: a list of JSON strings), expired ones left out.
_LIVE_TICKETS = """
local function live_tickets(raw, now, except_number)
  local kept, last = {}, -1
  if not raw then return kept, last end
  for _, text in ipairs(cjson.decode(raw)['tickets'] or {}) do
    local ticket = cjson.decode(text)
    if ticket['expires'] >= now and ticket['number'] ~= except_number then
      kept[#kept + 1] = text
      last = ticket['number']
    end
  end
  return kept, last
end
"""

# KEYS[1] lock key; ARGV conversation id, now, lifetime. Returns the new ticket's number.
ISSUE_TICKET = (
    _LIVE_TICKETS
    + """
local now = tonumber(ARGV[2])
local kept, last = live_tickets(redis.call('GET', KEYS[1]), now, nil)
local number = last + 1
kept[#kept + 1] = cjson.encode({number = number, expires = now + tonumber(ARGV[3])})
redis.call('SET', KEYS[1], cjson.encode({conversation_id = ARGV[1], tickets = kept}))
return number
"""
)

# KEYS[1] lock key; ARGV conversation id, now, ticket number (-1: none). Drops that ticket and
# expired ones; deletes the lock when no ticket is left. Returns how many are left.
FINISH_TICKET = (
    _LIVE_TICKETS
    + """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local kept = live_tickets(raw, tonumber(ARGV[2]), tonumber(ARGV[3]))
if #kept == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], cjson.encode({conversation_id = ARGV[1], tickets = kept}))
end
return #kept
"""
)

NO_TICKET = -1


class AtomicRedisLockStore(RedisLockStore):
    """RedisLockStore whose ticket changes are atomic Redis scripts."""

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        # Rasa builds a custom lock store from its endpoint; RedisLockStore takes its keywords.
        super().__init__(host=endpoint_config.url, **endpoint_config.kwargs)
        self._issue = self.red.register_script(ISSUE_TICKET)
        self._finish = self.red.register_script(FINISH_TICKET)

    def _key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            number = self._issue(keys=[self._key(conversation_id)], args=[conversation_id, time.time(), lock_lifetime])
        except Exception as error:  # Rasa's own contract: any failure here is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{type(error).__name__}") from error
        return int(number)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> int:
        """Drop the ticket and expired ones, deleting the lock when none is left; how many are left."""
        return int(self._finish(keys=[self._key(conversation_id)], args=[conversation_id, time.time(), ticket_number]))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Finish the ticket, and delete the lock if no one else holds a ticket: one step."""
        if not self.finish_serving(conversation_id, ticket_number):
            self._log_deletion(conversation_id, True)

    def update_lock(self, conversation_id: str) -> None:
        """Drop expired tickets (while a turn waits for its own), without touching live ones."""
        self.finish_serving(conversation_id, NO_TICKET)


__all__ = ["AtomicRedisLockStore"]
