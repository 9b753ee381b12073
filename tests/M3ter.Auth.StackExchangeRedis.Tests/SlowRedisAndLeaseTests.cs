using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>
/// A slow lease holder is not a dead one, a slow Redis is not a down one, and the outcome of a call that timed out is
/// unknown, not "no": each against a real redis-server.
/// </summary>
public sealed class SlowRedisAndLeaseTests
{
    private static readonly SharedTokenScope Scope = new(RedisTokenCacheTests.Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret);

    /// <summary>A token endpoint that counts its requests and takes <paramref name="delay"/> to answer.</summary>
    private sealed class SlowTokenClient(TimeSpan delay) : ITokenClient
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public async Task<M3terToken> RequestTokenAsync(CancellationToken cancellationToken = default)
        {
            int call = Interlocked.Increment(ref _calls);
            await Task.Delay(delay, cancellationToken);
            DateTimeOffset now = DateTimeOffset.UtcNow;
            return new M3terToken("slow-token-" + call, "Bearer", now + TimeSpan.FromHours(1), now);
        }
    }

    private static M3terAuthOptions Options() => new() { AccessKeyId = RedisTokenCacheTests.KeyId, ApiSecret = RedisTokenCacheTests.Secret, BaseAddress = RedisTokenCacheTests.Base };

    private static M3terRedisTokenCache Cache(RedisServer redis, Action<M3terRedisTokenCacheOptions>? configure = null)
    {
        var options = new M3terRedisTokenCacheOptions { Configuration = redis.Configuration };
        configure?.Invoke(options);
        return new M3terRedisTokenCache(options);
    }

    private static async Task<(bool HasToken, bool HasLease)> KeysAsync(RedisServer redis)
    {
        await using ConnectionMultiplexer mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        RedisKey[] keys = mux.GetServer(mux.GetEndPoints()[0]).Keys(pattern: "*").ToArray();
        return (keys.Any(k => ((string)k!).EndsWith(":token", StringComparison.Ordinal)), keys.Any(k => ((string)k!).EndsWith(":lease", StringComparison.Ordinal)));
    }

    [RedisFact]
    public async Task LeaseAnsweredAfterTheTimeout_TheHolderStillWritesTheTokenAndReleasesTheLease()
    {
        // Redis stalls (CLIENT PAUSE) long enough that the read and the lease call get no answer in time, and runs the
        // lease script once it resumes: this process may hold the lease it was told nothing about. It must still share
        // the token it fetched and release the lease, or the fleet waits for a lease nobody will release.
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache cache = Cache(redis, o => { o.OperationTimeout = TimeSpan.FromMilliseconds(100); o.ConnectTimeout = TimeSpan.FromMilliseconds(300); });
        var tokens = new SlowTokenClient(TimeSpan.Zero);
        using var provider = new TokenProvider(tokens, Options(), TimeProvider.System, logger: null, sharedCache: cache);
        Assert.Null(await cache.ReadAsync(Scope)); // connected, and answered once

        await redis.CommandAsync("CLIENT", "PAUSE", "700", "ALL");
        M3terToken token = await provider.GetTokenAsync();

        await using M3terRedisTokenCache another = Cache(redis);
        M3terToken? shared = null;
        for (var waited = Stopwatch.StartNew(); shared is null && waited.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(50))
        {
            shared = await another.ReadAsync(Scope);
        }

        Assert.Equal(token.AccessToken, shared?.AccessToken);
        Assert.Equal((true, false), await KeysAsync(redis));
        Assert.Equal(1, tokens.Calls);
    }

    [RedisFact]
    public async Task SlowLeaseHolder_IsNeverAbandoned_ItsLeaseIsRenewedWhileItsRequestRuns()
    {
        // The holder's token request takes three lease durations; the waiter must wait for its token, not take the
        // lease over when the first duration runs out.
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache holderCache = Cache(redis, o => o.LeaseDuration = TimeSpan.FromSeconds(1));
        await using M3terRedisTokenCache waiterCache = Cache(redis, o => o.LeaseDuration = TimeSpan.FromSeconds(1));
        var slow = new SlowTokenClient(TimeSpan.FromSeconds(3));
        var waiterEndpoint = new SlowTokenClient(TimeSpan.Zero);
        using var holder = new TokenProvider(slow, Options(), TimeProvider.System, logger: null, sharedCache: holderCache);
        using var waiter = new TokenProvider(waiterEndpoint, Options(), TimeProvider.System, logger: null, sharedCache: waiterCache);

        Task<M3terToken> holding = holder.GetTokenAsync().AsTask();
        for (var waited = Stopwatch.StartNew(); !(await KeysAsync(redis)).HasLease; await Task.Delay(20))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), "the holder never took the lease");
        }

        M3terToken delivered = await waiter.GetTokenAsync();

        Assert.Equal((await holding).AccessToken, delivered.AccessToken);
        Assert.Equal(1, slow.Calls);
        Assert.Equal(0, waiterEndpoint.Calls);
    }

    [RedisFact]
    public async Task DeadLeaseHolder_IsNoticedWithinTheLeaseDuration_NotAfterTheLeaseWaitTimeout()
    {
        // A holder whose container is disposed mid-request stops renewing: its lease runs out within LeaseDuration
        // (5 s by default) and a waiter takes it over, instead of waiting the whole LeaseWaitTimeout.
        await using RedisServer redis = await RedisServer.StartAsync();
        var dead = Cache(redis);
        var deadScope = new SharedTokenScope(RedisTokenCacheTests.Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret);
        Assert.True(await dead.TryAcquireLeaseAsync(deadScope));
        await dead.DisposeAsync(); // no release: the process is gone
        await using M3terRedisTokenCache waiterCache = Cache(redis);
        var endpoint = new SlowTokenClient(TimeSpan.Zero);
        using var waiter = new TokenProvider(endpoint, Options(), TimeProvider.System, logger: null, sharedCache: waiterCache);

        var stopwatch = Stopwatch.StartNew();
        await waiter.GetTokenAsync();

        Assert.Equal(1, endpoint.Calls);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(9), $"the waiter took {stopwatch.Elapsed}; the lease lasts 5 s without renewal");
        Assert.True(stopwatch.Elapsed > TimeSpan.FromSeconds(2), $"the waiter took the lease after {stopwatch.Elapsed}, while the dead holder's last renewal still held it");
    }

    [RedisFact]
    public async Task HugeEntry_IsNeverRead_ItIsUnreadableAndTheNextWriteReplacesIt()
    {
        // Someone with write access puts 64 MB at the token's key: every read would time out and the entry would never
        // be replaced. A read does not take it, and it is replaced like any unreadable entry.
        await using SeededRedis seeded = await SeededRedis.StartAsync();
        await seeded.Db.HashSetAsync(seeded.TokenKey, [new HashEntry("exp", DateTimeOffset.UtcNow.AddDays(30).ToUnixTimeMilliseconds()), new HashEntry("v", new byte[64 * 1024 * 1024])]);

        M3terToken? read = await seeded.Cache.ReadAsync(seeded.Scope);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        await seeded.Cache.WriteIfNewerAsync(seeded.Scope, new M3terToken("replacement", "Bearer", now + TimeSpan.FromHours(1), now));

        Assert.Null(read);
        Assert.Null(seeded.Cache.Unavailable); // a miss, not an outage
        Assert.Equal("replacement", (await seeded.Cache.ReadAsync(seeded.Scope))?.AccessToken);
    }

    [RedisFact]
    public async Task OlderEntryWrittenBack_IsNotAdoptedByAProcessThatHasSeenANewerOne()
    {
        // Someone saves the entry, and writes it back after a newer token replaced it (after a revocation, say).
        await using SeededRedis seeded = await SeededRedis.StartAsync();
        HashEntry[] saved = await seeded.Db.HashGetAllAsync(seeded.TokenKey);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        await seeded.Cache.WriteIfNewerAsync(seeded.Scope, new M3terToken("newer", "Bearer", now + TimeSpan.FromHours(6), now));
        Assert.Equal("newer", (await seeded.Cache.ReadAsync(seeded.Scope))?.AccessToken);

        await seeded.Db.KeyDeleteAsync(seeded.TokenKey);
        await seeded.Db.HashSetAsync(seeded.TokenKey, saved);

        Assert.Null(await seeded.Cache.ReadAsync(seeded.Scope));
        Assert.Null(seeded.Cache.Unavailable);
    }
}
