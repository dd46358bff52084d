"""The rate limiter's Lua: one function, run by the API's own limiter script (api.ratelimit,
which says what the rules mean) and by the job store's submission script (workers.jobs), so
that a job submission is counted, and refused or queued, in one round trip.

``rate_limit(bucket, log, now, q, w, interval, burst, consume, cost)`` checks both rules for
one identity (the keys of workers.keys.ratelimit_keys) and, when both allow and ``consume``
is ``'1'``, records ``cost`` requests.  ``now`` is epoch seconds, or ``''`` for Redis ``TIME``.
It returns ``{allowed 1/0, remaining, window reset, burst remaining, burst reset, wait}``
(``wait``: seconds until a request would pass); ``ARGS`` below is the order of its arguments
after the two keys.
"""

from __future__ import annotations

ARGS = ("now", "per_minute", "window_s", "interval_s", "burst", "consume", "cost")

RATE_LIMIT_LUA = """
local function rate_limit(bucket_key, log_key, now_arg, q_arg, w_arg, interval_arg, burst_arg,
                          consume_arg, cost_arg)
  local now = tonumber(now_arg)
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  end
  local q = tonumber(q_arg)
  local w = tonumber(w_arg)
  local interval = tonumber(interval_arg)
  local burst = tonumber(burst_arg)
  local consume = consume_arg == '1'
  local cost = tonumber(cost_arg) or 1  -- requests this one counts as (a batch: more than one)

  local tat = tonumber(redis.call('GET', bucket_key)) or now
  if tat < now then tat = now end
  local burst_wait = tat + cost * interval - burst * interval - now

  local window_wait = 0
  if redis.call('LLEN', log_key) > q - cost then
    local oldest = tonumber(redis.call('LINDEX', log_key, q - cost))
    if oldest and oldest > now - w then window_wait = oldest + w - now end
  end

  local allowed = burst_wait <= 1e-9 and window_wait <= 0
  if allowed and consume then
    tat = tat + cost * interval
    redis.call('SET', bucket_key, string.format('%.6f', tat), 'PX',
               math.ceil((tat - now) * 1000) + 1)
    for _ = 1, cost do redis.call('LPUSH', log_key, string.format('%.6f', now)) end
    redis.call('LTRIM', log_key, 0, q - 1)
    redis.call('PEXPIRE', log_key, math.ceil(w * 1000))
  end

  local in_window = 0
  local newest = nil
  for i, entry in ipairs(redis.call('LRANGE', log_key, 0, q - 1)) do
    local at = tonumber(entry)
    if at > now - w then
      in_window = in_window + 1
      if not newest then newest = at end
    end
  end
  local window_reset = 0
  if newest then window_reset = newest + w - now end
  local burst_left = math.floor((burst * interval - (tat - now)) / interval + 1e-9)
  return {allowed and 1 or 0, q - in_window, string.format('%.6f', window_reset), burst_left,
          string.format('%.6f', tat - now), string.format('%.6f', math.max(burst_wait, window_wait))}
end
"""
