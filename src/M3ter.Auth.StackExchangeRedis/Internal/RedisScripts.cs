namespace M3ter.Auth.StackExchangeRedis.Internal;

/// <summary>The Lua scripts of <see cref="M3terRedisTokenCache"/>: every compare-and-change it makes in Redis.</summary>
internal static class RedisScripts
{
    // Lua keeps each compare-and-change atomic (and Redis Cluster safe: every key of a call shares one hash slot).
    // Every script checks the key's type first: a key of another type (left by a script, an older version, a person)
    // would make HGET or GET fail with WRONGTYPE, which would open the breaker on every call, for good. What is not
    // ours is a miss to readers and is replaced by writers.
    // A value larger than ARGV[1] bytes is never sent: no token is that large, and reading one (64 MB, say) would time
    // out on every read, so the entry would never be found unreadable and never be replaced. It reads as unreadable.
    public const string ReadScript = """
        if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return false end
        if redis.call('HSTRLEN', KEYS[1], 'v') > tonumber(ARGV[1]) then return {false, false} end
        return redis.call('HMGET', KEYS[1], 'exp', 'v')
        """;

    // ARGV: expiry (unix ms), sealed value, fingerprint, time to live (ms, relative: Redis's clock, not ours), force,
    // issued at (unix ms; compared with a refusal's time, below). An entry whose expiry is not a number is not ours;
    // "force" overwrites an entry this process could not read. A token written ends a refusal (KEYS[2]).
    public const string WriteIfNewerScript = """
        local t = redis.call('TYPE', KEYS[1]).ok
        if t == 'hash' then
          local cur = tonumber(redis.call('HGET', KEYS[1], 'exp'))
          if cur and cur >= tonumber(ARGV[1]) and ARGV[5] ~= '1' then return 0 end
        elseif t ~= 'none' then
          redis.call('DEL', KEYS[1])
        end
        redis.call('HSET', KEYS[1], 'exp', ARGV[1], 'v', ARGV[2], 'fp', ARGV[3], 'iat', ARGV[6])
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        redis.call('DEL', KEYS[2])
        return 1
        """;

    // A refusal of the credentials (a hash: 'at', when it was made, unix ms, bound into the sealed 'v'), shared until
    // it runs out or a token is written. KEYS[1] the refusal, KEYS[2] the token, in one hash slot. A refusal made no
    // later than the token held was issued is over (the credentials worked since): never written, never read. So a
    // refusal that arrives late (its process was slow) or is written back (a replay) cannot outlive a newer token.
    // Bounded as the token's read is (ARGV[1]).
    public const string ReadRejectionScript = """
        if redis.call('TYPE', KEYS[1]).ok ~= 'hash' or redis.call('HSTRLEN', KEYS[1], 'v') > tonumber(ARGV[1]) then return false end
        local at = tonumber(redis.call('HGET', KEYS[1], 'at'))
        if not at then return false end
        if redis.call('TYPE', KEYS[2]).ok == 'hash' then
          local iat = tonumber(redis.call('HGET', KEYS[2], 'iat'))
          if iat and iat >= at then return false end
        end
        return redis.call('HMGET', KEYS[1], 'at', 'v')
        """;

    // ARGV: made at (unix ms), sealed value, time to live (ms).
    public const string WriteRejectionScript = """
        if redis.call('TYPE', KEYS[2]).ok == 'hash' then
          local iat = tonumber(redis.call('HGET', KEYS[2], 'iat'))
          if iat and iat >= tonumber(ARGV[1]) then return 0 end
        end
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'at', ARGV[1], 'v', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """;
    public const string RemoveIfHoldsScript = """
        if redis.call('TYPE', KEYS[1]).ok == 'hash' and redis.call('HGET', KEYS[1], 'fp') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    // Taken if free; extended if this owner already holds it; a key that is not a lease (another type, or a string
    // with no expiry, which no lease is) is replaced rather than blocking every process until someone deletes it.
    public const string AcquireLeaseScript = """
        local t = redis.call('TYPE', KEYS[1]).ok
        if t == 'string' and redis.call('PTTL', KEYS[1]) >= 0 then
          if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        elseif t ~= 'none' then
          redis.call('DEL', KEYS[1])
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """;
    // Renewal only extends a lease this owner holds; it never takes one (a renewal that arrives after the release
    // must not bring the lease back).
    public const string ExtendLeaseScript = """
        if redis.call('TYPE', KEYS[1]).ok == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """;
    public const string ReleaseLeaseScript = """
        if redis.call('TYPE', KEYS[1]).ok == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;
}
