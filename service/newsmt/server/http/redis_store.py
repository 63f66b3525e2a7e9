"""The job store in Redis (`--job-store redis://host:port/db`), shared by every replica.

Keys live under one hash tag, `newsmt:{jobs}:`, so that the scripts below (which touch
several keys) also run on a Redis Cluster:

    newsmt:{jobs}:job:<id>            the job record (JSON), expiring with the job
    newsmt:{jobs}:result:<id>         the translated file, expiring with the job
    newsmt:{jobs}:sizes               hash: job id -> bytes of its result
    newsmt:{jobs}:expiry              sorted set: job id by the expiry of its result
    newsmt:{jobs}:usage:<month>:<who> characters translated this month (DeepL usage)

The byte bound is kept by two Lua scripts, each atomic: `put` forgets expired results, adds
up the sizes left and stores the new result only if it fits; `take` reads and deletes a
result in one step, so that of two replicas downloading at once only one gets it.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from newsmt.core.errors import ServiceUnavailable
from newsmt.server.http.jobs import Job, month

PREFIX = "newsmt:{jobs}:"
SIZES = PREFIX + "sizes"
EXPIRY = PREFIX + "expiry"
#: Usage counters outlive their month by a little, then go.
USAGE_TTL_S = 40 * 24 * 3600

_SWEEP_AND_SUM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[1], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local total = 0
for _, size in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(size) end
"""

# KEYS: sizes, expiry; ARGV: now_ms, size, max_bytes
_ROOM = _SWEEP_AND_SUM + "return (total + tonumber(ARGV[2]) <= tonumber(ARGV[3])) and 1 or 0"

# KEYS: sizes, expiry, result key; ARGV: now_ms, id, data, expires_ms, max_bytes
_PUT = (
    _SWEEP_AND_SUM
    + """
if total + string.len(ARGV[3]) > tonumber(ARGV[5]) then return 0 end
redis.call('SET', KEYS[3], ARGV[3], 'PXAT', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], string.len(ARGV[3]))
return 1
"""
)

# KEYS: sizes, expiry, result key; ARGV: id
_TAKE = """
local data = redis.call('GET', KEYS[3])
if not data then return false end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return data
"""


class RedisJobStore:
    def __init__(self, url: str, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._room = self._redis.register_script(_ROOM)
        self._put = self._redis.register_script(_PUT)
        self._take = self._redis.register_script(_TAKE)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise ServiceUnavailable(
                f"the job store (Redis) is unavailable: {type(exc).__name__}; retry"
            ) from None

    @staticmethod
    def _ms(seconds: float) -> int:
        return int(seconds * 1000)

    def create(self, job: Job) -> None:
        self._call(
            self._redis.set, PREFIX + "job:" + job.id, job.to_json(), pxat=self._ms(job.expires)
        )

    def get(self, job_id: str) -> Job | None:
        data = self._call(self._redis.get, PREFIX + "job:" + job_id)
        return None if data is None else Job.from_json(data)

    def update(self, job: Job) -> None:
        # xx: never bring back a record that has expired; keepttl: the expiry stays.
        self._call(self._redis.set, PREFIX + "job:" + job.id, job.to_json(), xx=True, keepttl=True)

    def room(self, size: int) -> bool:
        now = self._ms(time.time())
        return bool(self._call(self._room, keys=[SIZES, EXPIRY], args=[now, size, self.max_bytes]))

    def put_result(self, job: Job, data: bytes) -> bool:
        now = self._ms(time.time())
        return bool(
            self._call(
                self._put,
                keys=[SIZES, EXPIRY, PREFIX + "result:" + job.id],
                args=[now, job.id, data, self._ms(job.expires), self.max_bytes],
            )
        )

    def take_result(self, job_id: str) -> bytes | None:
        data = self._call(
            self._take, keys=[SIZES, EXPIRY, PREFIX + "result:" + job_id], args=[job_id]
        )
        return None if data is None else bytes(data)

    def _usage_key(self, key: str) -> str:
        return f"{PREFIX}usage:{month()}:{key}"

    def add_usage(self, key: str, chars: int) -> int:
        name = self._usage_key(key)
        pipe = self._redis.pipeline()
        pipe.incrby(name, chars)
        pipe.expire(name, USAGE_TTL_S)
        total, _ = self._call(pipe.execute)
        return int(total)

    def usage(self, key: str) -> int:
        value = self._call(self._redis.get, self._usage_key(key))
        return int(value or 0)

    def close(self) -> None:
        self._redis.close()
